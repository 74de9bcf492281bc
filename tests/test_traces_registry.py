"""The format registry: detection of every sample, forced formats, tau-bench and tau2-bench
results (one trace per run, labels kept apart), JSONL conversations, the normalised form."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ace.errors import TraceFormatError, UsageError
from ace.traces import (
    FORMATS,
    ToolCall,
    ToolResult,
    Trace,
    detect_format,
    load_labelled_trace,
    load_labelled_traces,
    load_trace,
    load_traces,
)
from ace.traces._files import read_documents
from ace.traces.formats import REGISTRY, get_format, parse_record
from ace.traces.load import load_labelled_bytes

SAMPLES_DIR = Path(__file__).parent / "data" / "traces"

SAMPLES = {
    "ace.json": "ace",
    "openai_messages.json": "openai_messages",
    "chat.jsonl": "openai_messages",
    "runs.jsonl": "openai_messages",
    "who_and_when.json": "who_and_when",
    "langchain_pairs.json": "langchain_pairs",
    "text.log": "text",
    "step_list.json": "step_list",
    "batch.json": "batch",
    "unknown.json": "json",
    "normalised.json": "normalised",
    "tau_bench.json": "tau_bench",
    "tau2_bench.json": "tau2_bench",
    "tau2_simulation.json": "tau2_bench",
    "openai_agents.jsonl": "openai_agents",
    "openai_responses.json": "openai_responses",
    "swe_agent.traj": "swe_agent",
    "openhands.json": "openhands",
    "claude_code.jsonl": "claude_code",
    "smolagents.json": "smolagents",
    "otel_openinference.jsonl": "otel",
    "otel_genai.json": "otel",
    "otel_logfire.jsonl": "otel",
    "otel_langfuse.jsonl": "otel",
    "otel_spans.jsonl": "otel",
    "otel_phoenix.json": "otel",
    "langsmith.json": "langsmith",
}
"""Each sample file and the format every document it holds is detected as."""

GROUPS = ("specific", "generic", "fallback")


def sample(name: str) -> Path:
    return SAMPLES_DIR / name


def kernel_view(trace: Trace) -> str:
    """Everything a reflector's kernel receives about a trace."""
    return json.dumps(trace.model_dump(mode="json"))


def test_every_registered_format_has_a_sample_and_every_sample_is_listed() -> None:
    assert set(SAMPLES.values()) == set(FORMATS)
    on_disk = {p.name for p in SAMPLES_DIR.iterdir() if p.suffix not in (".md", ".py")}
    assert on_disk == set(SAMPLES)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_each_sample_is_detected_as_its_own_format_and_as_no_other(name: str) -> None:
    """Order: specific formats, then generic shapes, then the fallbacks ``step_list`` and
    ``json``. Within the specific and the generic group the formats exclude one another, so
    no format earlier in the order or of the sample's own group accepts it but its own."""
    own = get_format(SAMPLES[name])
    position = REGISTRY.index(own)
    for document, _ in read_documents(sample(name)):
        accepted = [fmt.name for fmt in REGISTRY if fmt.detect(document)]
        assert detect_format(document) == own.name
        assert accepted[0] == own.name
        rivals = [
            fmt.name
            for index, fmt in enumerate(REGISTRY)
            if fmt is not own
            and (index < position or (fmt.group == own.group != "fallback"))
            and fmt.detect(document)
        ]
        assert rivals == [], f"{name} is also accepted by {rivals}"


def test_registry_order_is_specific_then_generic_then_fallback() -> None:
    assert tuple(fmt.name for fmt in REGISTRY) == FORMATS
    ranks = [GROUPS.index(fmt.group) for fmt in REGISTRY]
    assert ranks == sorted(ranks)
    assert FORMATS[-2:] == ("step_list", "json")
    assert all(fmt.accepts and fmt.detect.__doc__ for fmt in REGISTRY)


def test_an_unknown_format_name_lists_the_registered_ones(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as error:
        load_trace({"question": "q"}, format="tau3")
    for name in FORMATS:
        assert name in str(error.value)
    # refused before the path is even looked at
    with pytest.raises(UsageError, match="unknown trace format 'x'"):
        load_traces(tmp_path / "missing.json", format="x")


def test_a_forced_format_reads_what_detection_would_not() -> None:
    messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    assert load_trace(messages).format == "openai_messages"
    as_steps = load_trace(messages, format="step_list")
    assert (as_steps.format, [s.content for s in as_steps.steps]) == ("step_list", ["hi", "hello"])
    assert load_trace("agent: did it", format="json").steps == []
    with pytest.raises(TraceFormatError, match="expected a Who&When record with 'history'"):
        load_trace({"question": "q"}, format="who_and_when")
    with pytest.raises(TraceFormatError, match="expected a plain-text log, got a list"):
        load_traces(sample("step_list.json"), format="text")
    with pytest.raises(TraceFormatError, match="expected one trace, got a batch of 2 traces"):
        load_trace(json.loads(sample("batch.json").read_text()))
    # the compatibility names of ace.traces.formats still work
    assert parse_record({"history": []}, "who_and_when").format == "who_and_when"


def test_tau_bench_results_are_one_trace_per_run_and_labels_stay_out() -> None:
    records = json.loads(sample("tau_bench.json").read_text())
    before = copy.deepcopy(records)
    loaded = load_labelled_traces(sample("tau_bench.json"))
    assert records == before
    assert [item.trace.id for item in loaded] == [
        "task-4-trial-0",
        "task-9-trial-0",
        "task-11-trial-0",
    ]
    assert [len(item.trace.steps) for item in loaded] == [10, 8, 0]
    failed, passed, crashed = loaded
    assert failed.labels.other == {
        "reward": 0.0,
        "info.reward_info": records[0]["info"]["reward_info"],
        "info.task.actions": records[0]["info"]["task"]["actions"],
        "info.task.outputs": [],
    }
    assert passed.labels.other["info.task.outputs"] == ["3"]
    assert crashed.labels.other == {"reward": 0.0}
    assert crashed.trace.raw == {
        "task_id": 11,
        "info": records[2]["info"],
        "traj": [],
        "trial": 0,
    }
    for item in loaded:
        view = kernel_view(item.trace)
        for secret in ("gt_data_hash", "r_actions", "r_outputs", '"reward"', '"outputs"'):
            assert secret not in view
    assert failed.trace.raw["info"]["task"] == {  # type: ignore[index, call-overload]
        "user_id": "lena_ortiz_4207",
        "instruction": records[0]["info"]["task"]["instruction"],
    }
    assert failed.trace.question == records[0]["info"]["task"]["instruction"]


def test_tau_bench_steps_read_tool_calls_and_the_act_agents_text_actions() -> None:
    failed, passed, _ = load_traces(sample("tau_bench.json"))
    cancel = failed.steps[6]
    assert cancel.tool_calls == [
        ToolCall(
            name="cancel_pending_order",
            arguments={"order_id": "#W2002", "reason": "no longer needed"},
            id="call_3",
        )
    ]
    answer = failed.steps[7]
    assert (answer.role, answer.agent) == ("tool", "cancel_pending_order")
    assert answer.tool_results[0].call_id == "call_3"
    # act strategy: the action is text, its answer a user message starting "API output: "
    lookup, output = passed.steps[2], passed.steps[3]
    assert lookup.tool_calls == [
        ToolCall(
            name="find_user_id_by_name_zip",
            arguments={"first_name": "Omar", "last_name": "Haddad", "zip": "60614"},
        )
    ]
    assert (output.role, output.agent, output.content) == ("user", "find_user_id_by_name_zip", "")
    assert output.tool_results == [
        ToolResult(output="omar_haddad_1180", name="find_user_id_by_name_zip")
    ]
    reply, user = passed.steps[6], passed.steps[7]
    assert reply.tool_calls == [] and '"respond"' in reply.content  # a reply, not a tool
    assert (user.agent, user.content) == ("user", "Thanks! ###STOP###")


def test_tau_bench_runs_one_per_jsonl_line_or_alone(tmp_path: Path) -> None:
    runs = json.loads(sample("tau_bench.json").read_text())
    path = tmp_path / "runs.jsonl"
    path.write_text("".join(json.dumps(run) + "\n" for run in runs))
    assert [t.id for t in load_traces(path)] == [
        "task-4-trial-0",
        "task-9-trial-0",
        "task-11-trial-0",
    ]
    alone = load_labelled_trace(runs[1])
    assert alone.trace.format == "tau_bench" and alone.labels.other["reward"] == 1.0
    with pytest.raises(TraceFormatError, match="got tau_bench results of 3 traces"):
        load_trace(runs)


def test_tau2_results_are_one_trace_per_simulation_with_its_task() -> None:
    results = json.loads(sample("tau2_bench.json").read_text())
    loaded = load_labelled_traces(sample("tau2_bench.json"))
    assert [item.trace.id for item in loaded] == [s["id"] for s in results["simulations"]]
    failed = loaded[0]
    trace = failed.trace
    assert set(failed.labels.other) == {
        "reward_info",
        "task.evaluation_criteria",
        "task.description",
    }
    assert failed.labels.other["reward_info"] == results["simulations"][0]["reward_info"]
    raw = trace.raw
    assert isinstance(raw, dict)
    assert raw["task"] == {
        k: v
        for k, v in results["tasks"][0].items()
        if k not in ("evaluation_criteria", "description")
    }
    assert raw["run_info"] == results["info"]  # the policy and models, for the analysis
    assert raw["termination_reason"] == "user_stop"
    view = kernel_view(trace)
    for secret in ("reward_info", "db_match", "action_checks", "nl_assertions", "must charge only"):
        assert secret not in view
    assert trace.question is not None and "add two checked bags" in trace.question
    lookups, first_answer = trace.steps[2], trace.steps[3]
    assert [c.name for c in lookups.tool_calls] == ["get_user_details", "get_reservation_details"]
    assert (first_answer.role, first_answer.agent) == ("tool", "get_user_details")
    assert first_answer.tool_results[0].call_id == "call_r1"
    assert trace.steps[4].agent == "get_reservation_details"
    assert trace.steps[0].timestamp == "2025-06-12T10:15:00.120511"
    assert all(step.timestamp for step in trace.steps)
    assert loaded[1].trace.question == results["tasks"][1]["user_scenario"]["instructions"]


def test_a_tau2_simulation_file_alone_and_the_directory_format(tmp_path: Path) -> None:
    (item,) = load_labelled_traces(sample("tau2_simulation.json"))
    assert item.trace.format == "tau2_bench" and len(item.trace.steps) == 11
    assert list(item.labels.other) == ["reward_info"] and item.trace.question is None
    folder = tmp_path / "run"
    (folder / "simulations").mkdir(parents=True)
    shutil.copy(sample("tau2_simulation.json"), folder / "simulations" / "a.json")
    results = json.loads(sample("tau2_bench.json").read_text())
    index = [{"id": s["id"], "task_id": s["task_id"], "trial": 0} for s in results["simulations"]]
    (folder / "results.json").write_text(
        json.dumps({**results, "simulations": [], "simulation_index": index})
    )
    with pytest.raises(TraceFormatError, match="simulations/ folder beside it"):
        load_traces(folder / "results.json")
    assert len(load_traces(folder / "simulations")) == 1


def test_tau2_grouped_tool_answers_and_voice_simulations() -> None:
    simulation = json.loads(sample("tau2_simulation.json").read_text())
    grouped = dict(simulation)
    grouped["messages"] = [
        *simulation["messages"][:3],
        {"role": "tool", "tool_messages": simulation["messages"][3:5]},
    ]
    trace = load_trace(grouped)
    assert [(r.name, r.call_id) for r in trace.steps[3].tool_results] == [
        ("get_user_details", "call_r1"),
        ("get_reservation_details", "call_r2"),
    ]
    assert trace.steps[3].agent == "tool"
    voice = {**simulation, "messages": None, "ticks": [{"tick": 0}]}
    with pytest.raises(TraceFormatError, match="keeps its conversation as ticks"):
        load_trace(voice)


def test_a_jsonl_of_messages_is_one_conversation(tmp_path: Path) -> None:
    (trace,) = load_traces(sample("chat.jsonl"))
    assert (trace.id, trace.format, len(trace.steps)) == ("chat.jsonl", "openai_messages", 5)
    assert trace.source is not None and trace.source.line is None
    assert trace.steps[3].content == "The policy page says 30 days."
    assert trace.steps[-1].timestamp == "2025-03-04T09:01:12Z"
    sniffed = tmp_path / "chat.log"
    sniffed.write_bytes(sample("chat.jsonl").read_bytes())
    assert [len(t.steps) for t in load_traces(sniffed)] == [5]
    # a JSONL of whole runs stays one trace per line, and so does a mixed one
    assert [t.id for t in load_traces(sample("runs.jsonl"))] == ["run-1", "run-2", "run-3"]
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text('{"role": "user", "content": "hi"}\n{"question": "q", "steps": ["x"]}\n')
    assert [t.format for t in load_traces(mixed)] == ["json", "ace"]


def test_standard_input_is_read_like_a_file_without_a_suffix() -> None:
    (item,) = load_labelled_bytes(sample("chat.jsonl").read_bytes())
    assert (item.trace.id, len(item.trace.steps)) == ("<stdin>", 5)
    labelled = load_labelled_bytes(sample("who_and_when.json").read_bytes(), name="pipe")
    assert labelled[0].labels.mistake_agent == "Searcher"
    assert load_labelled_bytes(b"planner: go\ncoder: done\n")[0].trace.format == "text"
    with pytest.raises(TraceFormatError, match=r"trace file <stdin> line 2: expected one JSON"):
        load_labelled_bytes(b'{"role": "user", "content": "a"}\n{"role": \n')


@pytest.mark.parametrize("name", sorted(n for n in SAMPLES if n != "unknown.json"))
def test_the_normalised_form_reads_back_as_it_was(name: str, tmp_path: Path) -> None:
    original = load_traces(sample(name))
    path = tmp_path / "converted.json"
    path.write_text(json.dumps([t.model_dump(mode="json") for t in original]))
    again = load_traces(path)
    assert [t.model_dump(exclude={"source"}) for t in again] == [
        t.model_dump(exclude={"source"}) for t in original
    ]
    assert all(t.source is not None and t.source.path == str(path) for t in again)


KEYS = [
    "task_id", "traj", "trial", "reward", "info", "task", "actions", "outputs", "instruction",
    "simulations", "tasks", "termination_reason", "messages", "ticks", "reward_info", "id",
    "format", "steps", "index", "role", "content", "tool_calls", "tool_messages", "name",
    "arguments", "timestamp", "user_scenario", "instructions", "evaluation_criteria",
    "simulation_index", "review", "history", "question", "mistake_step",
]  # fmt: skip
_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=12)
    | st.sampled_from(
        ["tool", "assistant", "user", 'Action:\n{"name": "f", "arguments": 1}', "API output: x"]
    )
)
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=5), inner, max_size=6)
    ),
    max_leaves=30,
)


@settings(max_examples=150, deadline=None)
@given(_values)
def test_any_value_loads_or_fails_with_a_trace_format_error(value: object) -> None:
    from hypothesis import assume

    from ace.traces._files import looks_like_path

    # A string that names a file is read as that file (tested with real files elsewhere);
    # which short strings do depends on the working directory, so they are left out here.
    assume(not (isinstance(value, str) and looks_like_path(value)))
    try:
        loaded = load_labelled_traces(value)
    except TraceFormatError as exc:
        assert str(exc).startswith("trace")
        return
    for item in loaded:
        steps = item.trace.steps
        assert [step.index for step in steps] == list(range(len(steps)))
        fmt = item.trace.format
        declared = get_format(fmt).label_keys if fmt in FORMATS else ()
        assert set(item.labels.other) <= set(declared) | {"labels"}
        assert Trace.model_validate_json(item.trace.to_json()) == item.trace
