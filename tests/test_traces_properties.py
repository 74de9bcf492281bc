"""Property tests: any JSON loads or fails with TraceFormatError; traces round-trip; no label leaks."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ace.errors import TraceFormatError
from ace.traces import DEFAULT_LABEL_KEYS, Trace, load_labelled_traces, load_trace, load_traces
from ace.traces.labels import find_label_key

# Keys the parsers look at, so generated objects reach deep into every format's code path.
VOCABULARY = [
    "question", "ground_truth", "feedback", "context", "answer", "final_answer", "reasoning",
    "steps", "messages", "history", "intermediate_steps", "tasks", "role", "name", "agent",
    "content", "text", "thought", "tool_calls", "tool_call_id", "function", "function_call",
    "arguments", "action", "action_input", "tool", "tool_input", "log", "observation", "type",
    "id", "question_ID", "is_correct", "is_corrected", "input", "tool_use_id",
    *sorted(DEFAULT_LABEL_KEYS),
]  # fmt: skip

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(
        ["tool", "assistant", "text", "tool_use", "tool_result", "{}", '{"a": 1}', "7"]
    )
)
keys = st.sampled_from(VOCABULARY) | st.text(max_size=8)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(keys, children, max_size=6),
    max_leaves=40,
)
step_lists = st.lists(
    st.dictionaries(keys, json_values, max_size=5) | st.lists(json_values, min_size=2, max_size=2),
    max_size=6,
)
shaped = st.builds(
    lambda key, items, extra: {**extra, key: items},
    st.sampled_from(["history", "messages", "steps", "intermediate_steps", "tasks"]),
    step_lists,
    st.dictionaries(keys, scalars, max_size=4),
)
json_values = json_values | shaped | step_lists


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_any_json_loads_or_fails_with_trace_format_error(value: object) -> None:
    for load in (load_trace, load_traces):
        try:
            result = load(value)
        except TraceFormatError as exc:
            assert str(exc).startswith("trace")
            continue
        traces = result if isinstance(result, list) else [result]
        for trace in traces:
            assert isinstance(trace, Trace)
            assert [step.index for step in trace.steps] == list(range(len(trace.steps)))


@settings(max_examples=150, deadline=None)
@given(json_values)
def test_traces_round_trip_through_dump_and_json(value: object) -> None:
    try:
        traces = load_traces(value)
    except TraceFormatError:
        return
    for trace in traces:
        assert Trace.model_validate(trace.model_dump()) == trace
        assert Trace.model_validate_json(trace.to_json()) == trace
        json.loads(trace.to_json())


@settings(max_examples=150, deadline=None)
@given(json_values, st.sampled_from(sorted(DEFAULT_LABEL_KEYS)), st.text(min_size=1, max_size=10))
def test_labels_never_reach_the_trace(value: object, key: str, secret: str) -> None:
    label = "3" if key == "mistake_step" else f"LABEL<{secret}>"
    record = {"question": "q", "payload": value, key: label}
    try:
        loaded = load_labelled_traces([record, {"steps": [{key: 1, "content": "x"}]}])
    except TraceFormatError:
        return
    assert loaded[0].labels != loaded[1].labels
    for item in loaded:
        dumped = item.trace.model_dump(mode="json")
        assert find_label_key(dumped) is None
        assert f"LABEL<{secret}>" not in json.dumps(dumped)


@settings(max_examples=200, deadline=None)
@given(json_values, st.integers(min_value=200, max_value=3000))
def test_render_never_exceeds_its_bound(value: object, max_chars: int) -> None:
    try:
        traces = load_traces(value)
    except TraceFormatError:
        return
    for trace in traces:
        full = trace.render(max_chars=10**9)
        text = trace.render(max_chars=max_chars)
        assert len(text) <= max_chars
        if len(full) > max_chars:
            assert " cut" in text


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()),
    st.sampled_from([".json", ".jsonl", ".log"]),
)
def test_any_file_loads_or_fails_with_trace_format_error(data: bytes, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"trace{suffix}"
        path.write_bytes(data)
        try:
            load_traces(path)
        except TraceFormatError as exc:
            assert str(path) in str(exc)
