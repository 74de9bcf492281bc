"""The OTel reader's typed fast path (``_otlp_typed``): an OTLP export line decoded straight
into typed records gives exactly the spans the general path (``orjson``, then dicts)
gives, or nothing, in which case the general path reads it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from ace.traces.formats import otel
from ace.traces.labels import DEFAULT_LABEL_KEYS

SAMPLES = Path(__file__).parent / "data" / "traces"
KEYS = DEFAULT_LABEL_KEYS | {"my_label"}

# integers either side of what orjson keeps exact (it reads larger ones as floats)
_edge_ints = st.sampled_from([0, -1, 2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1])
_numbers = (
    st.integers(-(2**70), 2**70) | _edge_ints | st.floats(allow_nan=False, allow_infinity=False)
)
_scalars = (
    st.none()
    | st.booleans()
    | _numbers
    | st.text(max_size=4)
    | st.sampled_from(["12", " 7 ", "1_0", "0x1F", "NaN"])
)
_label_key = st.sampled_from([*sorted(KEYS), "input.value", "k"])
_any_value = st.recursive(
    st.fixed_dictionaries({}, optional={
        "stringValue": st.none() | st.text(max_size=6),
        "intValue": _scalars,
        "boolValue": st.none() | st.booleans() | st.just("true"),
        "doubleValue": _scalars,
        "bytesValue": st.none() | st.just("AAE=") | st.just(5),
        "other": _scalars,
    }),
    lambda inner: st.fixed_dictionaries({}, optional={
        "arrayValue": st.none() | st.fixed_dictionaries({}, optional={"values": st.none() | st.lists(inner | _scalars, max_size=3)}),
        "kvlistValue": st.none() | st.fixed_dictionaries({}, optional={"values": st.none() | st.lists(st.fixed_dictionaries({"key": _label_key, "value": inner}), max_size=3)}),
    }),
    max_leaves=6,
)  # fmt: skip
_int64 = st.integers(-(2**63), 2**63 - 1)
_plain_any = st.recursive(
    st.fixed_dictionaries({"stringValue": st.text(max_size=6)})
    | st.fixed_dictionaries({"intValue": _int64 | _int64.map(str) | st.sampled_from([" 7 ", "1_0", "x"])})
    | st.fixed_dictionaries({"doubleValue": _int64 | st.floats(allow_nan=False, allow_infinity=False) | st.just("NaN")})
    | st.fixed_dictionaries({"boolValue": st.booleans()})
    | st.fixed_dictionaries({"bytesValue": st.just("AAE=")})
    | st.fixed_dictionaries({"stringValue": st.none(), "intValue": st.just("3")})
    | st.just({})
    | st.fixed_dictionaries({}, optional={  # several fields: which one counts
        "stringValue": st.none(), "intValue": _int64.map(str), "boolValue": st.booleans(),
        "doubleValue": st.floats(-2.0, 2.0), "bytesValue": st.just("AAE="),
        "arrayValue": st.just({"values": [{"intValue": "1"}]}), "kvlistValue": st.just({"values": []}),
    }),
    lambda inner: st.fixed_dictionaries({"arrayValue": st.fixed_dictionaries({"values": st.lists(inner, max_size=3)})})
    | st.fixed_dictionaries({"kvlistValue": st.fixed_dictionaries({"values": st.lists(st.fixed_dictionaries({"key": _label_key, "value": inner}), max_size=3)})}),
    max_leaves=5,
)  # fmt: skip
_attributes = st.none() | st.lists(
    st.fixed_dictionaries({"key": _label_key | st.just(3), "value": _any_value | st.none()}),
    max_size=4,
)
_odd_span = st.fixed_dictionaries(
    {"traceId": st.sampled_from(["a" * 32, "AB", "0x" + "c" * 32, ""]) | st.none()},
    optional={
        "spanId": st.sampled_from(["1" * 16, "0" * 16, "0xAB", "", "zz"]) | st.none() | st.just(4),
        "parentSpanId": st.sampled_from(["1" * 16, ""]) | st.none(),
        "name": st.text(max_size=4) | st.none() | st.just(1),
        "kind": st.sampled_from([1, 3, 9, "SPAN_KIND_CLIENT", "", True]) | st.none(),
        "startTimeUnixNano": _scalars | st.integers(0, 2**64).map(str),
        "endTimeUnixNano": _scalars,
        "attributes": _attributes,
        "status": st.none() | st.just("ERROR") | st.fixed_dictionaries({}, optional={
            "code": _scalars | st.sampled_from(["STATUS_CODE_ERROR", 2]), "message": _scalars}),
        "events": st.none() | st.lists(st.fixed_dictionaries({}, optional={
            "name": _scalars | st.just("exception"), "timeUnixNano": _scalars, "attributes": _attributes}), max_size=2),
        "context": st.just({"trace_id": "ab", "span_id": "cd"}),
        "my_label": _scalars,
    },
)  # fmt: skip
_time = st.integers(-(2**63), 2**63 - 1) | st.integers(0, 2**64).map(str) | st.just("x")
_plain_span = st.fixed_dictionaries(
    {"traceId": st.sampled_from(["a" * 32, "AB", "0x" + "c" * 32])},
    optional={
        "spanId": st.sampled_from(["1" * 16, "0" * 16, "0xAB", "", "zz"]),
        "parentSpanId": st.sampled_from(["1" * 16, "", "0X12"]),
        "name": st.text(max_size=4),
        "kind": st.sampled_from([0, 1, 3, 9, "SPAN_KIND_CLIENT", "SpanKind.SERVER", ""]),
        "startTimeUnixNano": _time,
        "endTimeUnixNano": _time,
        "attributes": st.lists(st.fixed_dictionaries({"key": _label_key, "value": _plain_any | _plain_any | _any_value}), max_size=4),
        "status": st.fixed_dictionaries({}, optional={
            "code": st.sampled_from([0, 1, 2, 7, "STATUS_CODE_ERROR", "ok", ""]), "message": st.text(max_size=3)}),
        "events": st.lists(st.fixed_dictionaries({}, optional={
            "name": st.sampled_from(["exception", "x"]), "timeUnixNano": _time,
            "attributes": st.lists(st.fixed_dictionaries({"key": _label_key, "value": _plain_any}), max_size=2)}), max_size=2),
    },
)  # fmt: skip
_span = _plain_span | _plain_span | _odd_span
_scope_spans = st.fixed_dictionaries({}, optional={
    "scope": st.none() | st.fixed_dictionaries({}, optional={"name": _scalars}),
    "instrumentationLibrary": st.none() | st.fixed_dictionaries({"name": st.text(max_size=3)}),
    "spans": st.none() | st.lists(_span, max_size=3),
})  # fmt: skip
_odd_group = st.fixed_dictionaries({}, optional={
    "resource": st.none() | st.fixed_dictionaries({}, optional={"attributes": _attributes}),
    "scopeSpans": st.none() | st.lists(_scope_spans, max_size=2),
    "instrumentationLibrarySpans": st.none() | st.lists(_scope_spans, max_size=2),
})  # fmt: skip
_plain_group = st.fixed_dictionaries({
    "resource": st.fixed_dictionaries({"attributes": st.lists(st.fixed_dictionaries({"key": _label_key, "value": _plain_any}), max_size=2)}),
    "scopeSpans": st.lists(st.fixed_dictionaries({
        "scope": st.fixed_dictionaries({"name": st.text(max_size=3)}),
        "spans": st.lists(_span, min_size=1, max_size=4)}), min_size=1, max_size=2),
})  # fmt: skip
_export = st.fixed_dictionaries(
    {"resourceSpans": st.lists(_plain_group | _plain_group | _odd_group, max_size=2)}
)


def _general(line: bytes) -> list[otel.Span] | None:
    return otel.SpanReader().export_spans(orjson.loads(line), KEYS)


def _seen(spans: list[otel.Span] | None) -> str:
    """Spans as text that tells ``1`` from ``1.0`` and ``0.0`` from ``-0.0``."""
    return repr(spans)


@settings(max_examples=400, deadline=None)
@given(_export, st.booleans())
def test_the_typed_path_reads_a_line_as_the_general_path_or_not_at_all(
    export: dict[str, Any], spaced: bool
) -> None:
    line = json.dumps(export, separators=(", ", ": ") if spaced else (",", ":")).encode()
    typed = otel.SpanReader().line_spans(line, KEYS)
    if typed is not None:
        assert _seen(typed) == _seen(_general(line))


def test_the_typed_path_reads_the_usual_export_lines() -> None:
    """Real exports (OpenInference, Langfuse, Logfire) go the fast way, and give what the
    general path gives."""
    read = 0
    for name in ("otel_openinference.jsonl", "otel_langfuse.jsonl", "otel_logfire.jsonl"):
        for line in (SAMPLES / name).read_bytes().splitlines():
            if b"resourceSpans" not in line:
                continue
            typed = otel.SpanReader().line_spans(line, KEYS)
            assert typed is not None, f"{name}: the typed path refused {line[:80]!r}"
            assert _seen(typed) == _seen(_general(line))
            read += 1
    assert read >= 3


def _line(**span: Any) -> bytes:
    one = {"traceId": "ab", "spanId": "01", "name": "s", **span}
    return json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [one]}]}]}).encode()


def test_what_the_typed_path_refuses_leaves_the_reader_as_it_was() -> None:
    reader = otel.SpanReader()
    assert reader.line_spans(_line(), KEYS) is not None
    assert reader.position == 1
    refused = [
        _line(startTimeUnixNano=2**64),  # orjson reads it as a float
        _line(context={"trace_id": "ab", "span_id": "01"}),  # a flat span
        _line(attributes=[{"key": "x", "value": {"arrayValue": {"values": [{"kvlistValue": {
            "values": [{"key": "my_label", "value": {"stringValue": "v"}}]}}]}}}]),
        b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "\\ud800"}]}]}]}',
        b"not json",
    ]  # fmt: skip
    for line in refused:
        assert reader.line_spans(line, KEYS) is None, line
        assert reader.position == 1
    # the general path reads the first and takes the label out of the third
    assert _general(refused[0]) is not None
    assert _general(refused[2]) is None


def test_a_reader_stops_trying_the_typed_path_on_lines_it_mostly_refuses() -> None:
    reader = otel.SpanReader()
    flat = json.dumps({"name": "s", "context": {"trace_id": "ab", "span_id": "01"}}).encode()
    for _ in range(otel._TYPED_SLACK + 1):
        assert reader.line_spans(flat, KEYS) is None
    assert reader.line_spans(_line(), KEYS) is None  # no longer tried
    assert _general(_line()) is not None


_TRICKY_VALUES: list[dict[str, Any]] = [
    {"boolValue": True, "doubleValue": 1.5},
    {"doubleValue": 2, "bytesValue": "AAE="},
    {"stringValue": None, "intValue": "12", "boolValue": False},
    {"intValue": " 1_000 "},
    {"intValue": "1e3"},
    {"intValue": None, "boolValue": True},
    {"doubleValue": -0.0},
    {"doubleValue": 100.0},
    {"doubleValue": "Infinity"},
    {"arrayValue": None},
    {"arrayValue": {}},
    {"kvlistValue": {"values": None}},
    {"kvlistValue": {"values": [{"key": "feedback", "value": {"stringValue": "x"}}]}},
    {"bytesValue": None, "other": 1},
    {},
]


def test_a_value_with_several_fields_reads_as_the_general_path_reads_it() -> None:
    attributes = [{"key": f"k{i}", "value": value} for i, value in enumerate(_TRICKY_VALUES)]
    line = _line(attributes=attributes)
    typed = otel.SpanReader().line_spans(line, KEYS)
    assert typed is not None
    assert _seen(typed) == _seen(_general(line))
