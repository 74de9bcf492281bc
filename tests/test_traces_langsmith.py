"""The ``langsmith`` format: run trees built by langsmith's own RunTree (see
tests/data/traces/README.md), runs exported flat, and the message shapes runs hold."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from ace.errors import TraceFormatError
from ace.traces import ToolCall, detect_format, load_labelled_traces, load_trace, load_traces

SAMPLE = Path(__file__).parent / "data" / "traces" / "langsmith.json"


def runs() -> list[dict[str, Any]]:
    loaded: list[dict[str, Any]] = json.loads(SAMPLE.read_text())
    return loaded


def flat(tree: dict[str, Any]) -> list[dict[str, Any]]:
    """A run tree as the runs of a flat export (parents named by id)."""
    out: list[dict[str, Any]] = []
    stack = [tree]
    while stack:
        run = stack.pop()
        out.append({k: v for k, v in run.items() if k != "child_runs"})
        stack += run.get("child_runs") or []
    return out


def test_run_trees_are_one_trace_each_with_feedback_as_a_label() -> None:
    first, second = load_labelled_traces(SAMPLE)
    assert first.labels.other == {"feedback_stats": {"correctness": {"n": 1, "avg": 1.0}}}
    assert second.labels.is_empty()
    trace = first.trace
    assert (trace.id, trace.format) == ("00000000-0000-0000-0000-000000000001", "langsmith")
    assert "feedback_stats" not in json.dumps(trace.model_dump(mode="json"))
    assert trace.question == "Please refund order A-1042."
    assert trace.final_answer == "Done: refund R-77 for order A-1042."
    assert [(s.role, s.agent) for s in trace.steps] == [
        ("chain", "SupportAgent"),
        ("llm", "SupportAgent"),
        ("tool", "SupportAgent"),
        ("llm", "SupportAgent"),
        ("tool", "SupportAgent"),
        ("llm", "SupportAgent"),
    ]
    lookup = trace.steps[1]
    assert lookup.content.splitlines() == [
        "(input) system: You are the support agent of Acme Shop. Refunds need an order id.",
        "(input) user: Please refund order A-1042.",
    ]
    assert lookup.tool_calls == [
        ToolCall(name="lookup_order", arguments={"order_id": "A-1042"}, id="call_A-1042_1")
    ]
    assert trace.steps[2].tool_calls[0].arguments == {"order_id": "A-1042"}
    assert trace.steps[2].tool_results[0].output.startswith('{"order_id": "A-1042"')
    assert trace.steps[3].content.startswith('(input) tool: {"order_id": "A-1042"')
    raw = trace.raw
    assert isinstance(raw, dict) and len(raw["runs"]) == 6  # type: ignore[arg-type]
    assert all("child_runs" not in run for run in raw["runs"])  # type: ignore[union-attr]
    assert all(s.timestamp and s.timestamp.startswith("2025-04-02T09:30:") for s in trace.steps)


def test_a_failed_tool_run_shows_its_error_and_no_result() -> None:
    failed = load_traces(SAMPLE)[1]
    refund = failed.steps[4]
    assert refund.tool_calls[0].name == "issue_refund" and refund.tool_results == []
    assert refund.role == "tool (error)"
    assert refund.content == "error: ValueError('order A-1043 is past the 30-day refund window')"


def test_runs_exported_flat_read_as_their_trees(tmp_path: Path) -> None:
    trees = runs()
    lines = [run for tree in trees for run in flat(tree)]
    path = tmp_path / "runs.jsonl"
    path.write_text("".join(json.dumps(run) + "\n" for run in lines))
    from_lines = load_traces(path)
    from_trees = load_traces(SAMPLE)
    assert [t.id for t in from_lines] == [t.id for t in from_trees]
    assert [t.steps for t in from_lines] == [t.steps for t in from_trees]
    # without trace_id nor dotted_order: grouped by their root, ordered by start time
    for run in lines:
        run.pop("trace_id")
        run.pop("dotted_order")
    listed = tmp_path / "runs.json"
    listed.write_text(json.dumps(lines))
    again = load_traces(listed)
    assert [[s.model_dump() for s in t.steps] for t in again] == [
        [s.model_dump() for s in t.steps] for t in from_trees
    ]


def test_openai_style_runs_and_langgraph_nodes() -> None:
    root = {
        "id": "r",
        "name": "LangGraph",
        "run_type": "chain",
        "start_time": "2025-01-01T00:00:00Z",
        "inputs": {"messages": [{"role": "user", "content": "Weather in Rome?"}]},
        "outputs": {"messages": [{"role": "assistant", "content": "Sunny."}]},
        "child_runs": [
            {
                "id": "l",
                "name": "ChatOpenAI",
                "run_type": "llm",
                "start_time": "2025-01-01T00:00:01Z",
                "extra": {"metadata": {"langgraph_node": "planner"}},
                "inputs": {"messages": [{"role": "user", "content": "Weather in Rome?"}]},
                "outputs": {
                    "choices": [
                        {
                            "message": {
                                "role": "assistant",
                                "content": None,
                                "tool_calls": [
                                    {
                                        "id": "c1",
                                        "function": {
                                            "name": "weather",
                                            "arguments": '{"city": "Rome"}',
                                        },
                                    }
                                ],
                            }
                        }
                    ]
                },
            },
            {
                "id": "t",
                "name": "weather",
                "run_type": "tool",
                "start_time": "2025-01-01T00:00:02Z",
                "extra": {"metadata": {"langgraph_node": "tools"}},
                "inputs": {"city": "Rome"},
                "outputs": {"output": "sunny, 24 C"},
            },
        ],
    }
    assert detect_format(root) == "langsmith"
    trace = load_trace(root)
    assert trace.question == "Weather in Rome?" and trace.final_answer == "Sunny."
    assert [s.agent for s in trace.steps] == ["LangGraph", "planner", "tools"]
    assert trace.steps[1].tool_calls == [
        ToolCall(name="weather", arguments={"city": "Rome"}, id="c1")
    ]
    assert trace.steps[2].tool_calls[0].arguments == {"city": "Rome"}
    assert trace.steps[2].tool_results[0].output == "sunny, 24 C"


def test_a_list_of_trees_and_malformed_runs() -> None:
    trees = runs()
    with pytest.raises(TraceFormatError, match="expected one trace, got langsmith results of 2"):
        load_trace(trees)
    broken = copy.deepcopy(trees[0])
    broken["child_runs"] = {"not": "a list"}
    with pytest.raises(TraceFormatError, match=r"\[0\]\.child_runs: expected a list"):
        load_trace(broken)
    broken["child_runs"] = [{"id": "x", "name": "n"}]
    with pytest.raises(TraceFormatError, match=r"child_runs\[0\]: expected a LangSmith run"):
        load_trace(broken)
    with pytest.raises(TraceFormatError, match="expected a LangSmith run"):
        load_trace({"question": "q"}, format="langsmith")
