"""The ``otel`` format: OpenTelemetry traces written by OpenInference, the GenAI
conventions' helper, Logfire, Langfuse and the SDK (real exports, see
tests/data/traces/README.md), and Phoenix's span export (from its documented schema)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ace.errors import TraceFormatError
from ace.traces import ToolCall, Trace, load_labelled_traces, load_trace, load_traces
from ace.traces.formats import _otel_semconv as semconv
from ace.traces.formats import otel
from ace.traces.formats._otel_semconv import json_loads
from ace.traces.labels import DEFAULT_LABEL_KEYS, find_label_key
from ace.traces.load import load_labelled_bytes

SAMPLES = Path(__file__).parent / "data" / "traces"


def sample(name: str) -> Path:
    return SAMPLES / name


def attr(key: str, value: object) -> dict[str, object]:
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    return {"key": key, "value": {"stringValue": value}}


def export(*spans: dict[str, object], resource: str = "svc") -> dict[str, object]:
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [attr("service.name", resource)]},
                "scopeSpans": [{"scope": {"name": "test"}, "spans": list(spans)}],
            }
        ]
    }


def span(
    trace: str, span_id: str, name: str, start: int, *attributes: dict[str, object], **extra: Any
) -> dict[str, object]:
    return {
        "traceId": trace,
        "spanId": span_id,
        "name": name,
        "startTimeUnixNano": str(1_750_000_000_000_000_000 + start * 1_000_000_000),
        "endTimeUnixNano": str(1_750_000_000_000_000_000 + start * 1_000_000_000 + 500),
        "attributes": list(attributes),
        **extra,
    }


def test_openinference_spans_of_two_runs_spread_over_lines() -> None:
    """Real exports: openinference-instrumentation-litellm around ace's scripted provider,
    OpenInference's own tracer for the agent and tools, one span per line."""
    found, failed = load_traces(sample("otel_openinference.jsonl"))
    assert [len(t.steps) for t in (found, failed)] == [4, 4]
    assert found.id == "46f7c9eab38cf45a7ad98a70a603e9e1" and found.format == "otel"
    assert [s.role for s in found.steps] == ["agent", "llm", "tool", "llm"]
    assert {s.agent for s in found.steps} == {"TravelAgent"}
    assert found.question == "Find me the cheapest flight from Lisbon to Oslo on 14 March."
    assert found.final_answer == "The cheapest flight is TP1234 at 08:05 for 212 EUR."
    first_call, search, second_call = found.steps[1:]
    assert first_call.content.splitlines() == [
        "(input) system: You are TravelAgent. Use search_flights and book_flight; answer briefly.",
        "(input) user: Find me the cheapest flight from Lisbon to Oslo on 14 March.",
        'CALL search_flights {"origin": "LIS", "destination": "OSL", "date": "2025-03-14"}',
    ]
    assert search.tool_calls == [
        ToolCall(
            name="search_flights",
            arguments={"origin": "LIS", "destination": "OSL", "date": "2025-03-14"},
        )
    ]
    assert json.loads(search.tool_results[0].output)[0]["flight"] == "TP1234"
    # only what the second call adds to what the first one saw
    assert second_call.content.startswith('(input) user: Observation: [{"flight": "TP1234"')
    assert "(input) system" not in second_call.content
    booking = failed.steps[2]
    assert booking.tool_calls[0].name == "book_flight" and booking.tool_results == []
    assert (booking.role, booking.agent) == ("tool (error)", "TravelAgent")
    assert booking.content == "error: RuntimeError: seat map for TP1234 unavailable (HTTP 503)"
    times = [s.timestamp for s in found.steps]
    assert all(t and t.endswith("Z") for t in times) and times == sorted(times)  # type: ignore[type-var]


def test_genai_conventions_in_one_otlp_json_document() -> None:
    """opentelemetry-util-genai: invoke_agent, chat with typed parts, execute_tool."""
    traces = load_traces(sample("otel_genai.json"))
    assert [t.source.index if t.source else None for t in traces] == [0, 1]
    ok, failed = traces
    assert [(s.role, s.agent) for s in ok.steps] == [
        ("agent", "Planner"),
        ("llm", "Planner"),
        ("tool", "Planner"),
        ("llm", "Planner"),
    ]
    assert ok.steps[1].tool_calls == [
        ToolCall(name="get_weather", arguments={"city": "Bergen"}, id="call_1")
    ]
    assert ok.steps[2].tool_results[0].call_id == "call_1"
    assert ok.steps[3].content.splitlines() == [
        '(input) tool: {"city": "Bergen", "forecast": "rain", "high_c": 14}',
        "Rain is forecast: plan it indoors.",
    ]
    assert ok.question == "Plan a picnic in Bergen tomorrow."  # the first user message
    assert failed.steps[2].content == "error: LookupError: no weather station near Atlantis"
    raw = failed.raw
    assert isinstance(raw, dict) and raw["resource"] == {"service.name": "weather-planner"}
    spans = raw["spans"]
    assert isinstance(spans, list) and len(spans) == 4
    assert spans[2]["status"] == "ERROR"  # type: ignore[index, call-overload]


def test_logfire_export_with_openai_instrumentation() -> None:
    """Logfire's own export: instrument_openai against a loopback fake, spans for tools."""
    (trace,) = load_traces(sample("otel_logfire.jsonl"))
    assert [s.role for s in trace.steps] == ["agent", "llm", "tool", "llm", "tool (error)", "llm"]
    assert {s.agent for s in trace.steps} == {"Concierge"}
    assert trace.steps[0].content == "Concierge run"  # logfire.msg
    assert trace.steps[3].tool_calls == [
        ToolCall(
            name="book_table",
            arguments={"restaurant": "Kiln", "time": "19:30", "people": 2},
            id="call_2",
        )
    ]
    booking = trace.steps[4]
    assert booking.content == "error: TimeoutError: Kiln booking service did not answer"
    assert trace.steps[2].tool_results[0].output.startswith('[{"restaurant": "Kiln"')
    assert trace.steps[5].content.endswith("Your table at Kiln is booked for 19:30.")
    assert trace.source is not None and trace.source.index is None  # the file's only trace


def test_langfuse_observations() -> None:
    (trace,) = load_traces(sample("otel_langfuse.jsonl"))
    assert [s.role for s in trace.steps] == ["agent", "llm", "tool", "tool (error)", "llm"]
    assert trace.question == "Summarise the 2024 results of Acme and Globex."
    assert trace.final_answer is not None and trace.final_answer.startswith("Acme made 4.1 bn")
    assert trace.steps[1].tool_calls[0].name == "fetch_filing"
    assert trace.steps[2].tool_calls[0].arguments == {"company": "Acme", "year": 2024}
    assert trace.steps[3].content == "error: filing index unavailable: HTTP 502"


def test_sdk_spans_one_per_line_with_the_older_genai_events() -> None:
    traces = load_traces(sample("otel_spans.jsonl"))
    assert [t.question for t in traces] == [
        "Fix the leap-year bug in dates.py",
        "Add a --verbose flag to cli.py",
    ]
    failed = traces[0]
    assert [s.role for s in failed.steps] == ["agent", "llm", "tool (error)"]
    assert failed.steps[1].content.endswith("Patched for: Fix the leap-year bug in dates.py")
    assert failed.steps[2].content.startswith("error: AssertionError: test_parse_dates failed")
    assert traces[1].steps[2].tool_results[0].output == "12 passed"


def test_phoenix_span_page_and_nested_attributes() -> None:
    (trace,) = load_traces(sample("otel_phoenix.json"))
    roles = [s.role for s in trace.steps]
    assert roles == ["agent", "retriever", "llm", "tool", "llm (error)", "llm"]
    assert trace.steps[1].content.endswith("Team plan: no SSO.")
    assert trace.steps[2].tool_calls == [
        ToolCall(name="get_price", arguments={"plan": "Team"}, id="call_p1")
    ]
    assert trace.steps[4].content.endswith(
        "error: openai.RateLimitError: Rate limit reached for gpt-4o-mini"
    )
    assert trace.steps[5].content == (
        "The Enterprise plan includes SSO; it costs 12 USD per seat per month."
    )
    # the same spans with their attributes nested, as a span store may keep them
    page = json.loads(sample("otel_phoenix.json").read_text())
    for item in page["data"]:
        nested: dict[str, Any] = {}
        for key, value in item["attributes"].items():
            *path, last = key.split(".")
            node = nested
            for part in path:
                node = node.setdefault(part, {})
            node[last] = value
        item["attributes"] = nested
    again = load_trace(page)
    assert [s.model_dump() for s in again.steps] == [s.model_dump() for s in trace.steps]


def test_a_trace_read_whole_or_streamed_is_the_same() -> None:
    for name in ("otel_openinference.jsonl", "otel_logfire.jsonl", "otel_spans.jsonl"):
        streamed = load_traces(sample(name))
        whole = [item.trace for item in load_labelled_bytes(sample(name).read_bytes(), name=name)]
        assert [t.model_dump(exclude={"source"}) for t in streamed] == [
            t.model_dump(exclude={"source"}) for t in whole
        ]


def test_spans_order_by_start_then_parent_first_and_agents_inherit() -> None:
    trace = "ab" * 16
    document = export(
        span(trace, "0000000000000003", "search", 2, attr("gen_ai.tool.name", "search"),
             parentSpanId="0000000000000002"),
        span(trace, "0000000000000002", "chat", 1, attr("gen_ai.operation.name", "chat"),
             parentSpanId="0000000000000001"),
        span(trace, "0000000000000001", "invoke_agent Scout", 1,
             attr("gen_ai.operation.name", "invoke_agent")),
        span(trace, "0000000000000004", "plain", 3, parentSpanId="0000000000000001"),
    )  # fmt: skip
    loaded = load_trace(document)
    assert [(s.role, s.agent) for s in loaded.steps] == [
        ("agent", "Scout"),  # starts with its child: the parent first
        ("llm", "Scout"),
        ("tool", "Scout"),
        ("span", "Scout"),
    ]
    assert loaded.steps[3].content == "plain"
    spans = loaded.raw["spans"]  # type: ignore[index, call-overload]
    assert [s["span_id"] for s in spans] == ["0000000000000001", "0000000000000002",
                                             "0000000000000003", "0000000000000004"]  # fmt: skip


def test_several_traces_in_one_document_come_in_the_order_they_end() -> None:
    first, second = "1" * 32, "2" * 32
    document = export(
        span(first, "a" * 16, "a", 1),
        span(second, "b" * 16, "b", 2),
        span(first, "c" * 16, "c", 3),
    )
    assert otel.detect(document)
    assert [t.id for t in load_traces(document)] == [second, first]
    with pytest.raises(TraceFormatError, match="expected one trace, got otel results of 2"):
        load_trace(document)


def test_label_keys_never_reach_a_trace() -> None:
    trace = "cd" * 16
    document = export(
        span(trace, "e" * 16, "chat", 1, attr("mistake_agent", "Planner"), attr("labels", "x"),
             attr("gen_ai.request.model", "m"),
             attr("meta", 0) | {"value": {"kvlistValue": {"values": [attr("mistake_step", 3)]}}}),
    )  # fmt: skip
    flat = {
        "name": "tool",
        "context": {"trace_id": "0x" + "ef" * 16, "span_id": "0x" + "1" * 16},
        "attributes": {"tool.name": "t", "mistake_reason": "r", "deep": {"labels": [1]}},
        "events": [{"name": "x", "timestamp": "2025-01-01T00:00:00Z", "attributes": {"labels": 1}}],
    }
    for value in (document, flat, [document, flat]):
        for item in load_labelled_traces(value):
            assert find_label_key(item.trace.raw, DEFAULT_LABEL_KEYS) is None
            assert item.labels.mistake_agent is None
    raw = load_trace(flat).raw
    assert raw["spans"][0]["attributes"] == {"tool.name": "t", "deep": {}}  # type: ignore[index, call-overload]


def test_flat_spans_ids_times_and_status() -> None:
    flat = {
        "name": "root",
        "context": {
            "trace_id": "0xABCDEF0123456789ABCDEF0123456789",
            "span_id": "0x00000000000000AA",
        },
        "parent_id": None,
        "kind": "SpanKind.SERVER",
        "start_time": "2025-01-02T03:04:05.678901Z",
        "end_time": "2025-01-02T03:04:06Z",
        "status": {"status_code": "ERROR", "description": "boom"},
        "attributes": {"input.value": "hi"},
        "events": [],
    }
    trace = load_trace(flat)
    assert trace.id == "abcdef0123456789abcdef0123456789"
    assert trace.steps[0].timestamp == "2025-01-02T03:04:05.678901Z"
    assert trace.steps[0].content == "(input) hi\nerror: boom"
    record = trace.raw["spans"][0]  # type: ignore[index, call-overload]
    assert (record["kind"], record["status"], record["start_ns"]) == (
        "server",
        "ERROR",
        1735787045678901000,
    )


def test_malformed_otel_input_names_where() -> None:
    bad = {"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "x", "attributes": 3}]}]}]}
    with pytest.raises(TraceFormatError, match=r"resourceSpans\[0\]\.scopeSpans\[0\]\.spans\[0\]"):
        load_trace(bad)
    with pytest.raises(TraceFormatError, match="expected a span with a 'traceId'"):
        load_trace({"resourceSpans": [{"scopeSpans": [{"spans": [7]}]}]})
    with pytest.raises(TraceFormatError, match="expected an OTLP export"):
        load_trace([1, 2], format="otel")


_any_value = st.recursive(
    st.fixed_dictionaries({"stringValue": st.text(max_size=5)})
    | st.fixed_dictionaries({"intValue": st.integers().map(str)})
    | st.fixed_dictionaries({"boolValue": st.booleans()})
    | st.just({}),
    lambda inner: st.fixed_dictionaries({"arrayValue": st.fixed_dictionaries({"values": st.lists(inner, max_size=3)})}),
    max_leaves=5,
)  # fmt: skip
_keys = st.sampled_from(
    ["gen_ai.operation.name", "gen_ai.tool.name", "openinference.span.kind", "input.value",
     "llm.input_messages.0.message.role", "llm.output_messages.0.message.content",
     "gen_ai.input.messages", "labels", "tool.name", "langfuse.observation.type"]
)  # fmt: skip
_span = st.fixed_dictionaries(
    {
        "traceId": st.sampled_from(["a" * 32, "b" * 32]),
        "spanId": st.sampled_from(["1" * 16, "2" * 16, "3" * 16]),
        "name": st.text(max_size=5),
    },
    optional={
        "parentSpanId": st.sampled_from(["1" * 16, "2" * 16, ""]),
        "startTimeUnixNano": st.integers(min_value=-5, max_value=2**64).map(str),
        "attributes": st.lists(
            st.fixed_dictionaries({"key": _keys, "value": _any_value}), max_size=4
        ),
        "status": st.fixed_dictionaries({"code": st.integers(0, 3)}),
        "events": st.lists(st.fixed_dictionaries({"name": st.sampled_from(["exception", "x"])}), max_size=2),
    },
)  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(st.lists(_span, min_size=1, max_size=5))
def test_any_otlp_spans_load_or_fail_with_a_trace_format_error(spans: list[Any]) -> None:
    try:
        loaded = load_labelled_traces(export(*spans))
    except TraceFormatError as exc:
        assert str(exc).startswith("trace")
        return
    assert sum(len(item.trace.steps) for item in loaded) == len(spans)
    for item in loaded:
        assert Trace.model_validate_json(item.trace.to_json()) == item.trace


def _time_order_by_the_rule(spans: list[otel.Span]) -> list[otel.Span]:
    """The order as the format states it: start, then depth (parents first), then source
    order."""
    by_id = {s.span_id: s for s in spans}

    def depth(span: otel.Span) -> int:
        seen, count, current = set(), 0, span
        while current.parent_id in by_id and current.span_id not in seen:
            seen.add(current.span_id)
            count += 1
            current = by_id[current.parent_id]  # type: ignore[index]
        return count

    return sorted(
        spans, key=lambda s: (-1 if s.start_ns is None else s.start_ns, depth(s), s.position)
    )


def _agents_by_the_rule(spans: list[otel.Span], agents: dict[str, str | None]) -> list[str | None]:
    """Each span's own agent, else the first one up its chain of parents (a chain stops at
    a span it has passed, or at a parent outside the trace)."""
    parents = {s.span_id: s.parent_id for s in spans}
    found = []
    for s in spans:
        current, seen, agent = s.span_id, set(), None
        while current in parents and current not in seen:
            seen.add(current)
            if agents[current]:
                agent = agents[current]
                break
            current = parents[current]
        found.append(agent)
    return found


def _a_forest(spans: list[otel.Span]) -> bool:
    """Ids all different, and no span its own ancestor."""
    parents = {s.span_id: s.parent_id for s in spans}
    if len(parents) != len(spans):
        return False
    for s in spans:
        seen, current = set(), s.span_id
        while current in parents:
            if current in seen:
                return False
            seen.add(current)
            current = parents[current]  # type: ignore[assignment]
    return True


_ids = st.sampled_from(["a", "b", "c", "d", "e"])
_forest = st.lists(
    st.tuples(_ids, st.none() | _ids | st.just("out"), st.none() | st.integers(0, 4), st.none() | st.sampled_from(["A1", "A2", ""])),
    min_size=1,
    max_size=8,
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(_forest)
def test_time_order_and_agents_follow_the_rule_with_ties_cycles_and_duplicate_ids(
    forest: list[tuple[str, str | None, int | None, str | None]],
) -> None:
    spans = [
        otel.Span("t", span_id, parent, start, position, {}, {}, None)
        for position, (span_id, parent, start, _) in enumerate(forest)
    ]
    ordered = otel._time_order(spans)
    assert sorted(s.position for s in ordered) == list(range(len(spans)))
    if _a_forest(spans):  # depth is a tie-break for well-formed traces only
        assert [s.position for s in ordered] == [s.position for s in _time_order_by_the_rule(spans)]
    by_position = {position: agent for position, (*_, agent) in enumerate(forest)}
    views = [semconv.SpanView("span", "n", by_position[s.position]) for s in ordered]
    own = {s.span_id: view.agent for s, view in zip(ordered, views, strict=True)}
    assert otel._agents(ordered, views) == _agents_by_the_rule(ordered, own)


def _same_json(a: Any, b: Any) -> bool:
    """Equal values of equal types, keys in the same order, floats to the bit (-0.0, nan)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same_json(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(map(_same_json, a, b))
    if isinstance(a, float):
        return repr(a) == repr(b)
    return bool(a == b)


_json_numbers = (
    st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.sampled_from([2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1, 10**18, 10**19])
)  # fmt: skip
_json_trees = st.recursive(
    st.none() | st.booleans() | _json_numbers | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner, max_size=4),
    max_leaves=12,
)  # fmt: skip
_number_texts = st.sampled_from(
    ["-0", "-0.0", "0e0", "-0E-0", "1E5", "1e+2", "1e-400", "1e400", "-1e309", "5e-324",
     "2.2250738585072014e-308", "1.7976931348623157e308", "0.1", "123456789.123456789",
     "1.0000000000000000000000001", "9223372036854775807", "9223372036854775808",
     "-9223372036854775809", "18446744073709551615", "18446744073709551616",
     "123456789012345678901234567890", "NaN", "-Infinity", "01", "1.", "+1", "\"\\ud800\"",
     "\"\\udc00\\ud83d\\ude00\"", "\"a\tb\"", "\"1234567890123456789012\"", "true", "null"]
)  # fmt: skip


def _loads_both(text: str) -> tuple[Any, Any]:
    results = []
    for loads in (json.loads, json_loads):
        try:
            results.append(("value", loads(text)))
        except (ValueError, RecursionError) as error:
            results.append(("error", type(error)))
    return results[0], results[1]


@settings(max_examples=400, deadline=None)
@given(_json_trees, st.booleans())
def test_json_loads_reads_any_json_text_as_the_standard_library_does(
    value: Any, spaced: bool
) -> None:
    text = json.dumps(value, indent=1 if spaced else None)
    (kind, expected), (their_kind, got) = _loads_both(text)
    assert kind == their_kind == "value" and _same_json(expected, got), text


@settings(max_examples=300, deadline=None)
@given(
    st.lists(_number_texts, min_size=1, max_size=4),
    st.sampled_from(["[{}]", '{{"a": {}}}', '{{"a": {}, "a": 1}}', "{}"]),
)
def test_json_loads_agrees_with_the_standard_library_on_edge_cases(
    numbers: list[str], shape: str
) -> None:
    for text in [shape.format(", ".join(numbers)), *(shape.format(number) for number in numbers)]:
        (kind, expected), (their_kind, got) = _loads_both(text)
        assert kind == their_kind, text
        assert kind == "error" or _same_json(expected, got), text


def test_json_loads_falls_back_for_deep_nesting_and_duplicate_keys() -> None:
    deep = "[" * 1500 + "]" * 1500  # beyond orjson's depth
    try:
        expected: Any = ("value", json.loads(deep))
    except RecursionError:
        expected = ("error", RecursionError)
    try:
        got: Any = ("value", json_loads(deep))
    except RecursionError:
        got = ("error", RecursionError)
    assert got[0] == expected[0]
    text = '{"b": 1, "a": 2, "b": -0, "c": 18446744073709551616, "d": 1e400}'
    assert _same_json(json_loads(text), json.loads(text))
    assert type(json_loads(text)["c"]) is int


def test_llm_messages_beyond_the_kept_keys_and_where_they_end() -> None:
    attrs: dict[str, Any] = {"openinference.span.kind": "LLM"}
    expected: list[Any] = []
    for i in range(300):  # more than _KEYS_KEPT messages
        base = f"llm.input_messages.{i}.message."
        if i == 270:
            attrs[base + "role"] = "user"
            attrs[base + "contents.0.message_content.text"] = "part"
            expected.append(("user", "part", ()))
        elif i == 280:
            attrs[base + "content"] = "no role"
            expected.append(("user", "no role", ()))
        else:
            role = "assistant" if i % 2 else "user"
            attrs[base + "role"], attrs[base + "content"] = role, f"m{i}"
            expected.append((role, f"m{i}", ()))
    # a message of a tool call only is one (an input shows no calls); the next ends them
    attrs["llm.input_messages.300.message.tool_calls.0.tool_call.function.name"] = "f"
    expected.append(("user", "", ()))
    attrs["llm.input_messages.302.message.role"] = "user"
    out = "llm.output_messages.0.message."
    attrs[out + "role"] = "assistant"
    attrs[out + "tool_calls.0.tool_call.function.name"] = "lookup"
    attrs[out + "tool_calls.0.tool_call.function.arguments"] = '{"q": 1}'
    view = semconv.read_span({"name": "chat", "attributes": attrs})
    assert view.inputs == expected
    assert view.outputs == [("assistant", "", [ToolCall(name="lookup", arguments={"q": 1})])]
