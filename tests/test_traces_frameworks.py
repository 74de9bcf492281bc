"""The agent frameworks' own records: OpenAI Agents SDK span exports, Responses API items,
SWE-agent trajectories, OpenHands event streams, Claude Code sessions and smolagents
memory steps. Samples are in tests/data/traces/ (their README says where each comes
from); errors and interrupts are marked on the steps, labels never reach the trace."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ace.errors import TraceFormatError
from ace.traces import (
    ToolCall,
    ToolResult,
    Trace,
    detect_format,
    load_labelled_traces,
    load_trace,
    load_traces,
)
from ace.traces._files import read_documents
from ace.traces.formats import get_format
from ace.traces.formats._frameworks import ERROR, INTERRUPT, has_mark
from ace.traces.load import load_labelled_bytes

SAMPLES_DIR = Path(__file__).parent / "data" / "traces"
FRAMEWORK_SAMPLES = {
    "openai_agents.jsonl": "openai_agents",
    "openai_responses.json": "openai_responses",
    "swe_agent.traj": "swe_agent",
    "openhands.json": "openhands",
    "claude_code.jsonl": "claude_code",
    "smolagents.json": "smolagents",
}


def sample(name: str) -> Path:
    return SAMPLES_DIR / name


def lines(name: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in sample(name).read_text().splitlines() if line.strip()]


def kernel_view(trace: Trace) -> str:
    """Everything a reflector's kernel receives about a trace."""
    return json.dumps(trace.model_dump(mode="json"))


def roles(trace: Trace) -> list[str | None]:
    return [step.role for step in trace.steps]


@pytest.mark.parametrize("name", sorted(FRAMEWORK_SAMPLES))
def test_each_sample_is_one_trace_of_its_format_with_steps_and_a_question(name: str) -> None:
    (trace,) = load_traces(sample(name))
    assert trace.format == FRAMEWORK_SAMPLES[name]
    assert trace.steps and trace.question
    assert [step.index for step in trace.steps] == list(range(len(trace.steps)))
    assert Trace.model_validate_json(trace.to_json()) == trace


@pytest.mark.parametrize("name", sorted(FRAMEWORK_SAMPLES))
def test_declared_labels_are_taken_out_and_never_in_what_the_kernel_sees(name: str) -> None:
    (item,) = load_labelled_traces(sample(name))
    fmt = get_format(item.trace.format)
    assert set(item.labels.other) <= set(fmt.label_keys)
    for path in fmt.label_keys:
        node: object = item.trace.raw
        for key in path.split("."):
            node = node.get(key) if isinstance(node, dict) else None
        assert node is None, f"{path} is still in raw"
    for step in item.trace.steps:
        assert not set(step.model_dump()) & {key.split(".")[-1] for key in fmt.label_keys}


def test_agents_sdk_spans_are_one_trace_in_the_order_they_started() -> None:
    trace = load_trace_of("openai_agents.jsonl")
    assert trace.id == "trace_0123456789abcdef0123456789abcdef"
    assert trace.question == "Please refund order A-1001, it arrived broken."
    stamps = [step.timestamp for step in trace.steps]
    assert all(stamps) and stamps == sorted(stamps)  # type: ignore[type-var]
    assert trace.steps[1].content == "agent Triage (tools: lookup_order; handoffs: Refunds)"
    assert trace.steps[3].content == "guardrail no_card_numbers: not triggered"
    call, answer = trace.steps[4], trace.steps[5]
    assert (call.role, call.agent) == ("assistant", "Triage")
    assert call.tool_calls == [
        ToolCall(name="lookup_order", arguments={"order_id": "A-1001"}, id="call_lookup")
    ]
    assert (answer.role, answer.agent, answer.tool_calls) == ("tool", "lookup_order", [])
    assert answer.tool_results[0].call_id == "call_lookup"
    assert "delivered" in answer.tool_results[0].output
    handoff = next(step for step in trace.steps if step.role == "handoff")
    assert (handoff.agent, handoff.content) == ("Triage", "handoff Triage -> Refunds")
    (failed,) = [step for step in trace.steps if has_mark(step, ERROR)]
    assert (failed.role, failed.agent) == ("tool (error)", "issue_refund")
    assert failed.tool_results[0].call_id == "call_refund"
    assert "Error running tool (non-fatal)" in failed.content
    last = trace.steps[-1]
    assert (last.agent, last.content.startswith("I could not issue the refund")) == (
        "Refunds",
        True,
    )


def load_trace_of(name: str) -> Trace:
    (trace,) = load_traces(sample(name))
    return trace


def test_agents_sdk_exports_as_a_json_list_an_ingest_payload_or_several_traces(
    tmp_path: Path,
) -> None:
    items = lines("openai_agents.jsonl")
    from_lines = load_trace_of("openai_agents.jsonl")
    assert load_trace(items).steps == from_lines.steps
    assert load_trace({"data": items}).steps == from_lines.steps
    other = [
        {"object": "trace", "id": "trace_b", "workflow_name": "Other"},
        {
            "object": "trace.span",
            "id": "span_b1",
            "trace_id": "trace_b",
            "parent_id": None,
            "started_at": None,
            "ended_at": None,
            "span_data": {
                "type": "function",
                "name": "ping",
                "input": '{"host": "db"}',
                "output": "pong",
            },
            "error": None,
        },
    ]
    path = tmp_path / "spans.jsonl"
    path.write_text("".join(json.dumps(item) + "\n" for item in items + other))
    first, second = load_traces(path)
    assert (first.id, second.id) == (from_lines.id, "trace_b")
    assert first.steps == from_lines.steps
    # a function span without a generation showing the call is a call of its own
    (ping,) = second.steps
    assert ping.tool_calls == [ToolCall(name="ping", arguments={"host": "db"})]
    assert ping.tool_results == [ToolResult(output="pong", name="ping")]


def test_responses_items_are_steps_with_calls_and_their_outputs() -> None:
    trace = load_trace_of("openai_responses.json")
    assert roles(trace) == [
        "user",
        "reasoning",
        "assistant",
        "tool",
        "assistant",
        "tool",
        "assistant",
        "tool",
        "assistant",
    ]
    assert trace.steps[1].content == "Check the invoice total before paying."
    assert trace.steps[2].tool_calls == [
        ToolCall(name="get_invoice", arguments={"invoice_id": "INV-77"}, id="call_inv_1")
    ]
    assert trace.steps[3].agent == "get_invoice"
    assert trace.steps[3].tool_results[0].call_id == "call_inv_1"
    computer = trace.steps[6].tool_calls[0]
    assert (computer.name, computer.id) == ("computer", "call_screen_1")
    assert computer.arguments == {"button": "left", "type": "click", "x": 412, "y": 230}
    assert trace.steps[7].agent == "computer"
    assert "computer_screenshot" in trace.steps[7].tool_results[0].output
    assert trace.steps[-1].content.startswith("Invoice INV-077 is 318.40 EUR")


def test_responses_request_and_response_objects_and_failed_calls() -> None:
    items = json.loads(sample("openai_responses.json").read_text())
    request = load_trace({"model": "gpt-4.1", "input": items[:3], "output": items[3:]})
    assert request.steps == load_trace_of("openai_responses.json").steps
    response = {
        "id": "resp_9",
        "object": "response",
        "output": [
            {"type": "web_search_call", "id": "ws_1", "status": "failed", "action": {"query": "x"}},
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "refusal", "refusal": "no"}],
            },
        ],
    }
    trace = load_trace(response)
    assert (trace.format, trace.id) == ("openai_responses", "resp_9")
    assert has_mark(trace.steps[0], ERROR)
    assert trace.steps[0].tool_calls == [
        ToolCall(name="web_search", arguments={"query": "x"}, id="ws_1")
    ]
    # untyped {role, content} messages alone stay the generic OpenAI shape
    assert detect_format([{"role": "user", "content": "hi"}]) == "openai_messages"


def test_swe_agent_steps_follow_the_models_function_calls_and_labels_stay_apart() -> None:
    (item,) = load_labelled_traces(sample("swe_agent.traj"))
    source = json.loads(sample("swe_agent.traj").read_text())
    trace = item.trace
    assert set(item.labels.other) == {
        "info.review",
        "info.best_attempt_idx",
        "info.rloop_model_stats",
        "attempts",
    }
    assert item.labels.other["info.review"] == source["info"]["review"]
    raw = trace.raw
    assert isinstance(raw, dict) and isinstance(raw["info"], dict)
    assert raw["info"]["exit_status"] == "submitted"  # what happened, not a verdict
    assert raw["info"]["model_stats"] == source["info"]["model_stats"]
    view = kernel_view(trace)
    for secret in ("attempts", "review", "accept", "No patch was submitted", "exit_cost"):
        assert secret not in view
    assert trace.final_answer == source["info"]["submission"]
    assert trace.question is not None and "slugify() keeps trailing dashes" in trace.question
    edit = trace.steps[2]
    assert edit.tool_calls[0].name == "str_replace_editor"
    assert edit.tool_calls[0].arguments == {
        "command": "str_replace",
        "path": "/testbed/textkit/slug.py",
        "old_str": 'return text.lstrip("-")',
        "new_str": 'return text.strip("-")',
    }
    assert edit.tool_results[0].call_id == edit.tool_calls[0].id
    assert edit.content == "Only leading dashes are stripped; strip both ends."
    assert [s.tool_calls[0].name for s in trace.steps] == [
        "bash",
        "str_replace_editor",
        "str_replace_editor",
        "bash",
        "submit",
    ]


def test_swe_agent_text_actions_are_named_by_their_first_word() -> None:
    old = {
        "environment": "swe_main",
        "trajectory": [
            {
                "action": 'find_file "slug.py"\n',
                "observation": "Found 1 matches",
                "response": 'Find it.\n```\nfind_file "slug.py"\n```',
                "state": '{"open_file": "n/a"}',
                "thought": "Find it.\n",
            }
        ],
        "history": [{"role": "user", "content": "Fix slugify", "agent": "primary"}],
        "info": {"exit_status": "submitted", "submission": ""},
    }
    trace = load_trace(old)
    (step,) = trace.steps
    assert step.tool_calls == [ToolCall(name="find_file", arguments='find_file "slug.py"')]
    assert (step.content, step.tool_results[0].output) == ("Find it.", "Found 1 matches")
    assert trace.question == "Fix slugify"
    with pytest.raises(TraceFormatError, match=r"trajectory\[0\]: expected a step"):
        load_trace({**old, "trajectory": ["x"]})


def test_openhands_events_pair_actions_and_observations_and_mark_failures() -> None:
    trace = load_trace_of("openhands.json")
    assert trace.question == "tests/test_dates.py fails since the last merge, fix it."
    assert trace.steps[0].role == "system"
    run, output = trace.steps[2], trace.steps[3]
    assert (run.role, run.content) == ("agent", "Reproduce it.")
    assert run.tool_calls[0].name == "run" and run.tool_calls[0].id == "2"
    assert isinstance(run.tool_calls[0].arguments, dict)
    assert run.tool_calls[0].arguments["command"] == "python -m pytest tests/test_dates.py -q"
    assert (output.role, output.agent) == ("environment (error)", "environment")
    assert output.tool_results[0].name == "run" and output.tool_results[0].call_id == "2"
    assert "exit code 1" in output.content
    marked = [step.index for step in trace.steps if has_mark(step, ERROR)]
    assert marked == [3, 5]  # the failing tests, the file that is not there
    assert trace.steps[10].role == "user" and "naive" in trace.steps[10].content
    finish = trace.steps[13]
    assert finish.tool_calls[0].name == "finish" and "fromisoformat" in finish.content
    assert trace.steps[-1].tool_results[0].output == "agent state: finished"
    assert all(step.timestamp for step in trace.steps)
    events = json.loads(sample("openhands.json").read_text())
    assert load_trace({"trajectory": events}).steps == trace.steps


def test_a_claude_code_session_file_is_one_trace_with_interrupts_and_errors_marked() -> None:
    trace = load_trace_of("claude_code.jsonl")
    assert trace.id == "5f0c2b1e-7a41-4c1e-9d2a-3b8e6f1a2c90"
    assert trace.source is not None and trace.source.line is None
    assert len(trace.steps) == len(lines("claude_code.jsonl"))
    assert trace.question is not None and trace.question.startswith("The CSV export drops")
    assert trace.steps[0].role == "summary" and trace.steps[1].role == "user (meta)"
    assert trace.steps[3].content.startswith("(thinking) ")
    bash = trace.steps[4].tool_calls[0]
    assert (bash.name, bash.id) == ("Bash", "toolu_01")
    errors = [step for step in trace.steps if has_mark(step, ERROR)]
    assert [(s.role, s.agent) for s in errors] == [
        ("tool (error)", "Bash"),
        ("tool (error)", "Write"),
    ]
    assert errors[0].tool_results[0].call_id == "toolu_01"
    (interrupt,) = [step for step in trace.steps if has_mark(step, INTERRUPT)]
    assert (interrupt.role, interrupt.agent) == ("user (interrupt)", "user")
    assert interrupt.content == "[Request interrupted by user for tool use]"
    assert trace.steps[interrupt.index + 1].content.startswith("Don't rewrite the file")
    sidechain = [step.index for step in trace.steps if step.agent == "sidechain"]
    assert sidechain == [14, 15, 17]
    task = trace.steps[18]
    assert (task.role, task.agent) == ("tool", "Task")
    assert task.tool_results[0].output.startswith("Only shop/reports.py")
    assert trace.steps[21].role == "system"
    assert all(step.timestamp for step in trace.steps[1:])


def test_claude_code_lines_from_standard_input_or_a_json_list_and_a_mixed_jsonl(
    tmp_path: Path,
) -> None:
    (item,) = load_labelled_bytes(sample("claude_code.jsonl").read_bytes())
    assert item.trace.format == "claude_code" and len(item.trace.steps) == 23
    assert load_trace(lines("claude_code.jsonl")).steps == load_trace_of("claude_code.jsonl").steps
    # a user line without its message is no session line: the file is one trace per line
    broken = lines("claude_code.jsonl")
    del broken[2]["message"]
    path = tmp_path / "broken.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in broken))
    assert len(read_documents(path)) == len(broken)
    with pytest.raises(TraceFormatError, match="no trace steps found"):
        load_traces(path)


def test_smolagents_memory_steps_with_the_error_as_the_calls_result() -> None:
    trace = load_trace_of("smolagents.json")
    assert roles(trace) == ["user", "planning", "assistant (error)", "assistant", "assistant"]
    assert trace.question == "Which warehouse is cheapest for 40 pallets a month?"
    assert trace.final_answer == "Depot B, 1,120 EUR a month"
    failed = trace.steps[2]
    assert failed.tool_calls[0].name == "python_interpreter"
    (result,) = failed.tool_results
    assert result.output.startswith("error: AgentExecutionError: Code execution failed")
    assert result.call_id == failed.tool_calls[0].id
    assert "depot_b" in trace.steps[3].tool_results[0].output
    assert trace.steps[1].timestamp == "1767261600.0"
    assert "## 2. Plan" in trace.steps[1].content


def test_smolagents_succinct_steps_a_final_answer_step_and_a_record() -> None:
    steps = json.loads(sample("smolagents.json").read_text())
    succinct = [{k: v for k, v in s.items() if k != "model_input_messages"} for s in steps]
    streamed = [*copy.deepcopy(succinct), {"output": "Depot B"}]
    trace = load_trace(streamed)
    assert trace.format == "smolagents"
    assert (trace.steps[-1].role, trace.final_answer) == ("final_answer", "Depot B")
    record = load_trace({"id": "run-7", "steps": succinct})
    assert (record.format, record.id, len(record.steps)) == ("smolagents", "run-7", 5)
    # a task alone is not a smolagents run
    assert detect_format([{"task": "t", "task_images": None}]) != "smolagents"


def test_marks_are_qualifiers_of_the_role_and_the_agent_stays_bare() -> None:
    trace = load_trace_of("claude_code.jsonl")
    marked = [s for s in trace.steps if has_mark(s, ERROR) or has_mark(s, INTERRUPT)]
    assert marked and all(s.agent and "(" not in s.agent for s in marked)
    plain = trace.steps[2]
    assert not has_mark(plain, ERROR) and not has_mark(plain, INTERRUPT)


KEYS = [
    "object", "id", "trace_id", "parent_id", "started_at", "span_data", "type", "name",
    "input", "output", "error", "data", "role", "content", "call_id", "arguments", "status",
    "action", "summary", "trajectory", "history", "info", "observation", "thought",
    "tool_calls", "function", "source", "args", "extras", "cause", "message", "metadata",
    "exit_code", "uuid", "sessionId", "isSidechain", "isMeta", "tool_use_id", "is_error",
    "text", "step_number", "timing", "start_time", "model_output", "observations", "task",
    "task_images", "plan", "steps", "review", "attempts", "submission", "timestamp",
]  # fmt: skip
_words = st.sampled_from(
    [
        "trace", "trace.span", "generation", "function", "agent", "handoff", "custom",
        "message", "function_call", "function_call_output", "computer_call", "reasoning",
        "user", "assistant", "environment", "tool_use", "tool_result", "thinking", "summary",
        "run", "error", "[Request interrupted by user]", '{"a": 1}', "failed",
    ]
)  # fmt: skip
_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=8) | _words
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=4), inner, max_size=6)
    ),
    max_leaves=40,
)


def loads_or_fails_cleanly(value: object) -> None:
    """Read as a file holding ``value`` would be (so a list is one document, not one trace
    per element): traces that keep the schema's invariants, or a TraceFormatError naming
    where (never another exception)."""
    try:
        loaded = load_labelled_bytes(json.dumps(value).encode(), name="fuzz.json")
    except TraceFormatError as exc:
        assert "fuzz.json" in str(exc)
        return
    for item in loaded:
        assert [s.index for s in item.trace.steps] == list(range(len(item.trace.steps)))
        declared = set(get_format(item.trace.format).label_keys) | {"labels"}
        assert set(item.labels.other) <= declared
        assert Trace.model_validate_json(item.trace.to_json()) == item.trace


@settings(max_examples=300, deadline=None)
@given(_values)
def test_any_value_near_the_frameworks_shapes_loads_or_fails_cleanly(value: object) -> None:
    loads_or_fails_cleanly(value)


def _documents() -> list[object]:
    found: list[object] = []
    for name in sorted(FRAMEWORK_SAMPLES):
        found += [document for document, _ in read_documents(sample(name))]
    return found


DOCUMENTS = _documents()


def _paths(value: object, prefix: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """Every place inside ``value`` (object keys and list positions), ``()`` included."""
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for position, item in enumerate(value):
            found += _paths(item, (*prefix, position))
    return found


def _replaced(value: object, path: tuple[object, ...], new: object) -> object:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {k: (_replaced(v, rest, new) if k == head else v) for k, v in value.items()}
    assert isinstance(value, list)
    return [_replaced(v, rest, new) if i == head else v for i, v in enumerate(value)]


@st.composite
def _mutated_samples(draw: st.DrawFn) -> object:
    document = draw(st.sampled_from(DOCUMENTS))
    paths = _paths(document)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(paths))
        document = _replaced(document, path, draw(_values))
        paths = _paths(document)
    return document


@settings(max_examples=300, deadline=None)
@given(_mutated_samples())
def test_a_sample_with_any_part_replaced_loads_or_fails_cleanly(value: object) -> None:
    loads_or_fails_cleanly(value)
