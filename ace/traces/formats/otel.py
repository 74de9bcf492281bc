"""Format ``otel``: OpenTelemetry traces, one trace per trace id.

Shapes read (any mix of them in a list, or one per line of a JSONL file):

- an OTLP/JSON export, ``{"resourceSpans": [{"resource": {"attributes": [...]},
  "scopeSpans": [{"scope": {...}, "spans": [...]}]}]}``, attributes as ``[{"key": ...,
  "value": {"stringValue" | "intValue" | "doubleValue" | "boolValue" | "arrayValue" |
  "kvlistValue" | "bytesValue": ...}}]``, ids in hex (what the Collector's file exporter,
  ``ace``'s own OTLP file exporter and the OTLP/HTTP JSON encoding write);
- a flat span: one span object per line with ``context: {trace_id, span_id}`` and plain
  ``attributes`` (the OpenTelemetry Python SDK's ``ReadableSpan.to_json()`` that its
  ``ConsoleSpanExporter`` prints, and Phoenix's span export ``{name, context, span_kind,
  parent_id, start_time, end_time, status_code, status_message, attributes, events}``);
- a bare OTLP span ``{traceId, spanId, name, ...}`` without its envelope.

Spans are grouped by trace id; within a trace they are ordered by start time (a parent
before its children on a tie) and each span is one step, so ``Trace.raw["spans"][i]`` is
the span of ``steps[i]``. Traces come in the order they end in the source: the position
of their last span. What a step holds is read from the attribute conventions
(``ace.traces.formats._otel_semconv``): OpenTelemetry GenAI (``gen_ai.*``), OpenInference
(Phoenix, Arize), Langfuse (``langfuse.observation.*``) and Logfire's own. ``role`` is the
span's kind (``llm``, ``tool``, ``agent``, ``chain``, ...); ``agent`` the name of the agent
the span runs in (its own, else its nearest ancestor's), else the tool's name for a tool
span. An LLM span's content is the input messages it adds to what that agent's previous
LLM call saw (as ``(input) role: text`` lines), then its output; its requested tool calls
are its ``tool_calls``. A tool span has the call (name, arguments, id) and its result.
Errors (status ``ERROR``, ``exception`` events) are ``error: ...`` lines of the content.

A JSONL file's OTLP export lines are decoded straight into typed records
(``_otlp_typed``, with msgspec: no dict per attribute); a line those types do not describe
exactly (a flat span, a number orjson would read otherwise, a value of another type) is
parsed and read the general way, which gives the same spans and words any error.

``Trace.raw`` is ``{"trace_id", "resource", "spans"}``: each span with its attributes as a
plain object (OTLP's typed lists decoded; JSON-encoded strings kept as they were written),
times as ISO 8601 UTC, and its own ``resource`` when it differs from the trace's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from msgspec import UNSET
from pydantic import JsonValue

from ace.errors import TraceFormatError
from ace.traces._json import describe
from ace.traces.formats import _otel_semconv as semconv
from ace.traces.formats import _otlp_typed
from ace.traces.formats._base import Parsed, TraceFormat
from ace.traces.labels import DEFAULT_LABEL_KEYS, find_label_key

NAME = "otel"
_TRACE_ID_PATTERN = re.compile(rb'"(?:traceId|trace_id)"[ \t\r\f\v]*:[ \t\r\f\v]*"([^"\\\n]*)"')
"""A trace id's mention; never across lines, so it finds in many lines what it finds in
each."""
_HEX = re.compile(r"[0-9a-fA-F]+")
_LOWER_HEX_DIGITS = "0123456789abcdef"
_STATUS_NAMES = {0: "UNSET", 1: "OK", 2: "ERROR"}
_NS = 1_000_000_000
_STR = frozenset({str})


# ---------------------------------------------------------------- shapes


def is_export(value: JsonValue) -> bool:
    """An OTLP/JSON export: an object whose ``resourceSpans`` is a list."""
    return isinstance(value, dict) and isinstance(value.get("resourceSpans"), list)


def is_span(value: JsonValue) -> bool:
    """A span on its own: ``{name, context: {trace_id, span_id}}`` (SDK and Phoenix) or a
    bare OTLP span ``{traceId, spanId, name}``."""
    if not isinstance(value, dict) or not isinstance(value.get("name"), str):
        return False
    context = value.get("context")
    if isinstance(context, dict):
        return isinstance(context.get("trace_id"), str) and isinstance(context.get("span_id"), str)
    return isinstance(value.get("traceId"), str) and isinstance(value.get("spanId"), str)


def is_document(value: JsonValue) -> bool:
    """One OpenTelemetry document: an export or a span."""
    return is_export(value) or is_span(value)


def _is_page(value: JsonValue) -> bool:
    """A page of spans ``{"data": [span, ...], ...}``, as Phoenix's REST API returns."""
    if not isinstance(value, dict) or "resourceSpans" in value:
        return False
    data = value.get("data")
    return isinstance(data, list) and bool(data) and all(is_span(item) for item in data)


def detect(value: JsonValue) -> bool:
    """An OTLP export (``resourceSpans``), a span (``context.trace_id`` and
    ``context.span_id``, or ``traceId`` and ``spanId``), a non-empty list of them, or a
    page of spans ``{"data": [...]}``."""
    if isinstance(value, list):
        return bool(value) and all(is_document(item) for item in value)
    return is_document(value) or _is_page(value)


def _documents(value: JsonValue) -> list[JsonValue]:
    if isinstance(value, list):
        return value
    if _is_page(value):
        data = value["data"]  # type: ignore[index, call-overload]
        assert isinstance(data, list)
        return data
    return [value]


# ---------------------------------------------------------------- spans


@dataclass(slots=True)
class Span:
    """One span, normalised: ``record`` is what ``Trace.raw`` keeps of it."""

    trace_id: str
    span_id: str
    parent_id: str | None
    start_ns: int | None
    position: int
    """Its place in the source (documents and lines in order), for ties and trace order."""
    record: dict[str, JsonValue]
    resource: dict[str, JsonValue]
    timestamp: str | None
    """The start as ISO 8601 text (UTC), or as the source wrote it."""


@lru_cache(maxsize=8192)
def trace_id_text(value: str) -> str:
    """A trace or span id as one spelling: lower-case hex without ``0x``."""
    text = value.strip()
    if text[:2] in ("0x", "0X"):
        text = text[2:]
    return text.lower() if _HEX.fullmatch(text) else text


def trace_ids_in(
    data: bytes | bytearray | memoryview, start: int = 0, end: int | None = None
) -> list[str]:
    """The trace ids a line of OTLP JSON or spans (``data[start:end]``) mentions, in order
    of their last mention, without parsing it (a link to another trace counts as a
    mention)."""
    stop = len(data) if end is None else end
    mentions = _TRACE_ID_PATTERN.findall(data, start, stop)
    # each spelling once, at its last mention (a line names a trace once per span)
    spellings = list(dict.fromkeys(reversed(mentions)))
    last: dict[str, None] = {}
    for spelling in reversed(spellings):
        key = trace_id_text(spelling.decode("utf-8", "replace"))
        last.pop(key, None)
        last[key] = None
    return list(last)


OTLP_KEYS = frozenset(
    {
        *("resourceSpans", "resource", "attributes", "scopeSpans", "instrumentationLibrarySpans"),
        *("scope", "instrumentationLibrary", "name", "spans", "traceId", "spanId", "context"),
        *("parentSpanId", "kind", "startTimeUnixNano", "endTimeUnixNano", "status", "code"),
        *("message", "events", "timeUnixNano", "key", "value", "stringValue", "intValue"),
        *("boolValue", "doubleValue", "arrayValue", "kvlistValue", "bytesValue", "values"),
    }
)
"""Every object key that reading an OTLP export of OTLP spans looks up (keep it so): a
label key that is none of them changes nothing read there, unless a value kept whole
holds it."""
_SCALARS = frozenset({str, int, float, bool, type(None)})
_TYPED_SLACK = 8
"""How many more lines the typed fast path may fail to read than it read, before a file's
reader stops trying it."""


class SpanReader:
    """Reads the spans of documents one after the other, numbering them in source order."""

    def __init__(self) -> None:
        self.position = 0
        self.flat = 0
        """How many flat spans (``{name, context}``) it has read."""
        self._typed_reads = self._typed_misses = 0
        self._compound = False
        """Whether the typed path made a list or object attribute value of this line."""

    def export_spans(self, value: JsonValue, label_keys: frozenset[str]) -> list[Span] | None:
        """The spans of an OTLP export of OTLP spans, read with its label keys (any of
        ``label_keys``, at any depth) still in it, when they cannot change what is read:
        None, and nothing counted, when they might (a flat span, a kept attribute value
        that holds one, an error); the caller then takes them out and reads it again.

        Saves looking for the keys in every line: OTLP names attributes in values, not
        keys, so a label key is mostly nowhere, and where it is the reader never looks.
        """
        if not is_export(value) or not label_keys.isdisjoint(OTLP_KEYS):
            return None
        assert isinstance(value, dict)
        position, flat = self.position, self.flat
        try:
            spans = list(self._export(value, ""))
        except Exception:  # read again below, to raise the error worded as ever
            spans = None
        if spans is None or self.flat != flat or _keeps_label_key(spans, label_keys):
            self.position, self.flat = position, flat
            return None
        return spans

    def line_spans(
        self, line: bytes | bytearray | memoryview, label_keys: frozenset[str]
    ) -> list[Span] | None:
        """``export_spans`` of a line not parsed yet, decoded straight into typed records
        (``_otlp_typed``: no dict per attribute); None, and nothing counted, when that
        cannot read it exactly (the caller then parses the line and reads it the general
        way). Gives up on a file whose lines it mostly cannot read."""
        if self._typed_misses > self._typed_reads + _TYPED_SLACK or not label_keys.isdisjoint(
            OTLP_KEYS
        ):
            return None
        export = _otlp_typed.decode_export(line)
        position = self.position
        self._compound = False
        spans = self._typed_export(export) if export is not None else None
        # only a list or object value can hold a label key
        if spans is None or (self._compound and _keeps_label_key(spans, label_keys)):
            self.position = position
            self._typed_misses += 1
            return None
        self._typed_reads += 1
        return spans

    def _typed_export(self, export: _otlp_typed.Export) -> list[Span] | None:
        """The spans of a typed export, as ``_export`` reads them; None at a flat span."""
        spans: list[Span] = []
        for group in export.resourceSpans:
            resource = group.resource
            resource_attributes = self._typed_attributes(resource.attributes) if resource else {}
            scopes = group.scopeSpans
            if scopes is UNSET:
                scopes = group.instrumentationLibrarySpans
            for scope_spans in scopes or ():
                scope = scope_spans.scope
                if scope is UNSET:
                    scope = scope_spans.instrumentationLibrary
                scope_name = scope.name if scope is not None else None
                for span in scope_spans.spans or ():
                    if span.context is not UNSET:
                        return None
                    status = span.status
                    spans.append(
                        self._otlp_span(
                            span.traceId,
                            span.spanId,
                            span.parentSpanId,
                            span.name,
                            span.kind,
                            span.startTimeUnixNano,
                            span.endTimeUnixNano,
                            status.code if status is not None else None,
                            status.message if status is not None else None,
                            self._typed_attributes(span.attributes),
                            self._typed_events(span.events),
                            resource_attributes,
                            scope_name,
                        )
                    )
        return spans

    def _typed_events(self, events: list[_otlp_typed.Event] | None) -> list[JsonValue]:
        """``_otlp_events`` of typed events."""
        if not events:
            return []
        return [
            _event(
                event.name,
                _nanos(event.timeUnixNano),
                None,
                self._typed_attributes(event.attributes),
            )
            for event in events
        ]

    def _typed_attributes(self, pairs: list[_otlp_typed.KeyValue] | None) -> dict[str, JsonValue]:
        """``otlp_attributes`` of typed ``KeyValue`` pairs; notes a list or object value."""
        if not pairs:
            return {}
        out: dict[str, JsonValue] = {}
        for pair in pairs:
            value = pair.value
            plain: JsonValue = value.stringValue
            if plain is None:
                plain = self._typed_value(value)
                if isinstance(plain, (list, dict)):
                    self._compound = True
            out[pair.key] = plain
        return _without_label_attributes(out)

    def _typed_value(self, value: _otlp_typed.AnyValue) -> JsonValue:
        """``any_value`` of a typed ``AnyValue`` (absent fields are ``UNSET``)."""
        if value.stringValue is not None:
            return value.stringValue
        if value.intValue is not UNSET:
            return _int_value(value.intValue)
        if value.boolValue is not UNSET:
            return value.boolValue
        if value.doubleValue is not UNSET:
            return value.doubleValue
        if value.arrayValue is not UNSET:
            items = value.arrayValue.values if value.arrayValue is not None else None
            return [self._typed_value(item) for item in items] if items is not None else []
        if value.kvlistValue is not UNSET:
            pairs = value.kvlistValue.values if value.kvlistValue is not None else None
            return self._typed_attributes(pairs) if pairs is not None else {}
        if value.bytesValue is not UNSET:
            return value.bytesValue
        return None

    def spans(self, value: JsonValue, where: str = "") -> Iterator[Span]:
        """The spans of an export, a span, or a list of them."""
        listed = isinstance(value, list) or _is_page(value)
        for i, document in enumerate(_documents(value)):
            at = f"{where}[{i}]" if listed else where
            if is_export(document):
                assert isinstance(document, dict)
                yield from self._export(document, at)
            elif is_span(document):
                assert isinstance(document, dict)
                yield self._flat(document, {}, None, at or "span")
            else:
                raise TraceFormatError(
                    f"{at or 'value'}: expected an OTLP export {{resourceSpans}} or a span "
                    f"{{name, context: {{trace_id, span_id}}}}, got {describe(document)}"
                )

    def _export(self, document: dict[str, JsonValue], where: str) -> Iterator[Span]:
        groups = document["resourceSpans"]
        assert isinstance(groups, list)
        for i, group in enumerate(groups):
            at = f"{where}.resourceSpans[{i}]" if where else f"resourceSpans[{i}]"
            if not isinstance(group, dict):
                raise TraceFormatError(f"{at}: expected an object, got {describe(group)}")
            resource = group.get("resource")
            resource_attributes = (
                otlp_attributes(resource.get("attributes"), f"{at}.resource")
                if isinstance(resource, dict)
                else {}
            )
            scopes = group.get("scopeSpans", group.get("instrumentationLibrarySpans")) or []
            if not isinstance(scopes, list):
                raise TraceFormatError(f"{at}.scopeSpans: expected a list, got {describe(scopes)}")
            for j, scope_spans in enumerate(scopes):
                where_scope = f"{at}.scopeSpans[{j}]"
                if not isinstance(scope_spans, dict):
                    raise TraceFormatError(
                        f"{where_scope}: expected an object, got {describe(scope_spans)}"
                    )
                scope = scope_spans.get("scope", scope_spans.get("instrumentationLibrary"))
                scope_name = scope.get("name") if isinstance(scope, dict) else None
                spans = scope_spans.get("spans") or []
                if not isinstance(spans, list):
                    raise TraceFormatError(
                        f"{where_scope}.spans: expected a list, got {describe(spans)}"
                    )
                for k, span in enumerate(spans):
                    yield self._otlp(
                        span,
                        resource_attributes,
                        scope_name if isinstance(scope_name, str) else None,
                        f"{where_scope}.spans[{k}]",
                    )

    def _otlp(
        self, span: JsonValue, resource: dict[str, JsonValue], scope: str | None, where: str
    ) -> Span:
        """An OTLP span of a parsed document (the general path; ``_typed_export`` reads a
        typed one)."""
        trace_id = span.get("traceId") if isinstance(span, dict) else None
        if not isinstance(span, dict) or not isinstance(trace_id, str):
            raise TraceFormatError(
                f"{where}: expected a span with a 'traceId', got {describe(span)}"
            )
        if "context" in span:
            return self._flat(span, resource, scope, where)
        get = span.get
        events = get("events")
        events = self._otlp_events(events, where) if events is not None else []
        status = get("status")
        code = message = None
        if isinstance(status, dict) and status:
            code, message = status.get("code"), status.get("message")
        return self._otlp_span(
            trace_id,
            get("spanId"),
            get("parentSpanId"),
            get("name"),
            get("kind"),
            get("startTimeUnixNano"),
            get("endTimeUnixNano"),
            code,
            message,
            otlp_attributes(get("attributes"), where),
            events,
            resource,
            scope,
        )

    def _otlp_span(
        self,
        trace_id: str,
        given: JsonValue,
        parent: JsonValue,
        name: JsonValue,
        kind: JsonValue,
        start_value: JsonValue,
        end_value: JsonValue,
        code: JsonValue,
        message: JsonValue,
        attributes: dict[str, JsonValue],
        events: list[JsonValue],
        resource: dict[str, JsonValue],
        scope: str | None,
    ) -> Span:
        """An OTLP span and its record, as ``_make`` makes them, built in one go from its
        fields (arguments by position: this runs once per span of a file)."""
        position = self.position
        self.position = position + 1
        span_id = (_id(given) if given is not None else None) or f"#{position}"
        record: dict[str, JsonValue] = {"span_id": span_id}
        parent_id = _id(parent) if parent is not None else None
        if parent_id is not None:
            record["parent_id"] = parent_id
        record["name"] = name if isinstance(name, str) else ""
        if kind is not None and (kind_name := _kind_name(kind)) is not None:
            record["kind"] = kind_name
        start = _nanos(start_value)
        if start is not None:
            record["start_ns"] = start
        end = _nanos(end_value)
        if end is not None:
            record["end_ns"] = end
        if code is not None or message is not None:
            _put_status(record, code, message)
        record["attributes"] = attributes
        if events:
            record["events"] = events
        if scope is not None:
            record["scope"] = scope
        timestamp = _iso(start) if start is not None else None
        return Span(
            trace_id_text(trace_id),
            span_id,
            parent_id,
            start,
            position,
            record,
            resource,
            timestamp,
        )

    @staticmethod
    def _otlp_events(value: JsonValue, where: str) -> list[JsonValue]:
        events: list[JsonValue] = []
        for i, event in enumerate(_list(value, f"{where}.events")):
            at = f"{where}.events[{i}]"
            if not isinstance(event, dict):
                raise TraceFormatError(f"{at}: expected an object, got {describe(event)}")
            events.append(
                _event(
                    event.get("name"),
                    _nanos(event.get("timeUnixNano")),
                    None,
                    otlp_attributes(event.get("attributes"), at),
                )
            )
        return events

    def _flat(
        self,
        span: dict[str, JsonValue],
        resource: dict[str, JsonValue],
        scope: str | None,
        where: str,
    ) -> Span:
        self.flat += 1
        context = span.get("context")
        if isinstance(context, dict):
            trace_id, span_id = context.get("trace_id"), context.get("span_id")
        else:
            trace_id, span_id = span.get("traceId"), span.get("spanId")
        status = span.get("status")
        if isinstance(status, dict):
            code: JsonValue = status.get("status_code", status.get("code"))
            message = status.get("description", status.get("message"))
        else:
            code, message = span.get("status_code"), span.get("status_message")
        own_resource = span.get("resource")
        if isinstance(own_resource, dict) and isinstance(own_resource.get("attributes"), dict):
            resource = plain_attributes(own_resource["attributes"])  # type: ignore[arg-type]
        events: list[JsonValue] = []
        for i, event in enumerate(_list(span.get("events"), f"{where}.events")):
            if not isinstance(event, dict):
                raise TraceFormatError(
                    f"{where}.events[{i}]: expected an object, got {describe(event)}"
                )
            attrs = event.get("attributes")
            time = _time_text(event.get("timestamp"))
            events.append(
                _event(
                    event.get("name"),
                    _time_ns(time),
                    time,
                    plain_attributes(attrs) if isinstance(attrs, dict) else {},
                )
            )
        attributes = span.get("attributes")
        plain = plain_attributes(attributes) if isinstance(attributes, dict) else {}
        span_kind = span.get("span_kind")
        if isinstance(span_kind, str) and semconv.OI_KIND not in plain:
            plain[semconv.OI_KIND] = span_kind
        start, end = _time_text(span.get("start_time")), _time_text(span.get("end_time"))
        return self._make(
            trace_id_text(str(trace_id)),
            _id(span_id),
            _id(span.get("parent_id", span.get("parentSpanId"))),
            span.get("name"),
            span.get("kind"),
            _time_ns(start),
            _time_ns(end),
            (start, end),
            code,
            message,
            plain,
            events,
            resource,
            scope,
        )

    def _make(
        self,
        trace_id: str,
        span_id: str | None,
        parent_id: str | None,
        name: JsonValue,
        kind: JsonValue,
        start: int | None,
        end: int | None,
        texts: tuple[str | None, str | None],
        status: JsonValue,
        message: JsonValue,
        attributes: dict[str, JsonValue],
        events: list[JsonValue],
        resource: dict[str, JsonValue],
        scope: str | None,
    ) -> Span:
        """The span and its record (arguments by position: this runs once per span)."""
        position = self.position
        self.position = position + 1
        span_id = span_id or f"#{position}"
        record: dict[str, JsonValue] = {"span_id": span_id}
        if parent_id is not None:
            record["parent_id"] = parent_id
        record["name"] = name if isinstance(name, str) else ""
        kind_name = _kind_name(kind)
        if kind_name is not None:
            record["kind"] = kind_name
        _put_time(record, "start", start, texts[0])
        _put_time(record, "end", end, texts[1])
        _put_status(record, status, message)
        record["attributes"] = attributes
        if events:
            record["events"] = events
        if scope is not None:
            record["scope"] = scope
        timestamp = _iso(start) if start is not None else texts[0]
        return Span(trace_id, span_id, parent_id, start, position, record, resource, timestamp)


def _put_time(record: dict[str, JsonValue], key: str, nanos: int | None, text: str | None) -> None:
    """A time in nanoseconds since the epoch as ``<key>_ns``, else as the source wrote it."""
    if nanos is not None:
        record[f"{key}_ns"] = nanos
    elif text is not None:
        record[key] = text


def _keeps_label_key(spans: list[Span], label_keys: frozenset[str]) -> bool:
    """Whether an attribute value the spans keep (of the span, its events, its resource)
    is a list or object holding one of ``label_keys``."""
    resource: dict[str, JsonValue] | None = None
    for span in spans:
        record = span.record
        attributes = record["attributes"]
        assert isinstance(attributes, dict)
        if _holds_label_key(attributes, label_keys):
            return True
        events = record.get("events")
        for event in events if isinstance(events, list) else ():
            attributes = event.get("attributes") if isinstance(event, dict) else None
            if isinstance(attributes, dict) and _holds_label_key(attributes, label_keys):
                return True
        if span.resource is not resource:
            resource = span.resource
            if _holds_label_key(resource, label_keys):
                return True
    return False


def _holds_label_key(attributes: dict[str, JsonValue], label_keys: frozenset[str]) -> bool:
    values = attributes.values()
    if _SCALARS.issuperset(map(type, values)):
        return False
    return find_label_key(list(values), label_keys) is not None


def _put_status(record: dict[str, JsonValue], code: JsonValue, message: JsonValue) -> None:
    """A span's status when it is not ``UNSET``, and its message when it has one."""
    status_name = _status_name(code)
    if status_name is not None and status_name != "UNSET":
        record["status"] = status_name
    if isinstance(message, str) and message:
        record["status_message"] = message


def _event(
    name: JsonValue, nanos: int | None, text: str | None, attributes: dict[str, JsonValue]
) -> JsonValue:
    event: dict[str, JsonValue] = {"name": name if isinstance(name, str) else ""}
    _put_time(event, "time", nanos, text)
    if attributes:
        event["attributes"] = attributes
    return event


def _list(value: JsonValue, where: str) -> list[JsonValue]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise TraceFormatError(f"{where}: expected a list, got {describe(value)}")
    return value


def _id(value: JsonValue) -> str | None:
    if isinstance(value, str) and value and not value.strip(_LOWER_HEX_DIGITS):
        # already as ``trace_id_text`` spells it: span ids are all different, not worth
        # a place in its cache
        return value if value.strip("0") else None
    if not isinstance(value, str) or not value or value.strip("0x") == "":
        return None
    return trace_id_text(value)


def _nanos(value: JsonValue) -> int | None:
    if isinstance(value, str):
        return int(value) if value.isdigit() else None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


def _iso(nanos: int | None) -> str | None:
    """Nanoseconds since the epoch as ISO 8601 UTC with microseconds."""
    if not nanos or nanos < 0:
        return None
    seconds, rest = divmod(nanos, _NS)
    minute = _minute(seconds // 60)
    if minute is None:
        return None
    return minute + _SECONDS[seconds % 60] + str(1_000_000 + rest // 1000)[1:] + "Z"


_SECONDS = tuple(f"{second:02d}." for second in range(60))


@lru_cache(maxsize=256)
def _minute(minutes: int) -> str | None:
    """A minute since the epoch as ``YYYY-MM-DDTHH:MM:`` (spans start minutes apart at most,
    mostly)."""
    days, minute = divmod(minutes, 1440)
    date = _date(days)
    return None if date is None else f"{date}T{minute // 60:02d}:{minute % 60:02d}:"


@lru_cache(maxsize=64)
def _date(days: int) -> str | None:
    try:
        return datetime.fromtimestamp(days * 86_400, UTC).strftime("%Y-%m-%d")
    except (OverflowError, OSError, ValueError):
        return None


def _time_text(value: JsonValue) -> str | None:
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _iso(int(value)) if value > 1e15 else _iso(int(value * _NS))
    return None


def _time_ns(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp()) * _NS + moment.microsecond * 1000


def _status_name(code: JsonValue) -> str | None:
    if isinstance(code, int) and not isinstance(code, bool):
        return _STATUS_NAMES.get(code)
    if isinstance(code, str) and code:
        return code.upper().removeprefix("STATUS_CODE_").removeprefix("STATUSCODE.")
    return None


_KIND_NAMES = {1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}


def _kind_name(kind: JsonValue) -> str | None:
    """OTLP's span kind (``SPAN_KIND_CLIENT`` or 3, ``SpanKind.CLIENT``) as ``client``."""
    if isinstance(kind, int) and not isinstance(kind, bool):
        return _KIND_NAMES.get(kind)
    if isinstance(kind, str) and kind:
        return kind.rsplit(".", 1)[-1].removeprefix("SPAN_KIND_").lower()
    return None


def otlp_attributes(value: JsonValue, where: str) -> dict[str, JsonValue]:
    """OTLP's ``[{key, value: {stringValue: ...}}]`` as a plain object. Keys that are
    evaluation labels are left out (a trace never holds them)."""
    if value is None:
        return {}
    if not isinstance(value, list):
        raise TraceFormatError(f"{where}.attributes: expected a list, got {describe(value)}")
    out: dict[str, JsonValue] = {}
    pairs: list[Any] = value
    try:
        for pair in pairs:
            typed = pair["value"]
            text = typed.get("stringValue")
            out[pair["key"]] = text if text is not None else any_value(typed)
    except (KeyError, TypeError, AttributeError):
        return _attributes_one_by_one(value, where)
    if not _STR.issuperset(map(type, out)):
        return _attributes_one_by_one(value, where)
    return _without_label_attributes(out)


def _without_label_attributes(out: dict[str, JsonValue]) -> dict[str, JsonValue]:
    """``out`` without evaluation-label keys (a trace never holds them)."""
    if not out.keys().isdisjoint(DEFAULT_LABEL_KEYS):  # 5 look-ups, not one per attribute
        for key in DEFAULT_LABEL_KEYS:
            out.pop(key, None)
    return out


def _attributes_one_by_one(value: list[JsonValue], where: str) -> dict[str, JsonValue]:
    out: dict[str, JsonValue] = {}
    for pair in value:
        if not isinstance(pair, dict):
            raise TraceFormatError(
                f"{where}.attributes: expected {{key, value}} objects, got {describe(pair)}"
            )
        key = pair.get("key")
        if isinstance(key, str) and key not in DEFAULT_LABEL_KEYS:
            out[key] = any_value(pair.get("value"))
    return out


def any_value(value: JsonValue) -> JsonValue:
    """One OTLP ``AnyValue`` as plain JSON (``intValue`` text as a number)."""
    if not isinstance(value, dict):
        return value
    if (text := value.get("stringValue")) is not None:
        return text
    if "intValue" in value:
        return _int_value(value["intValue"])
    if "boolValue" in value:
        return value["boolValue"]
    if "doubleValue" in value:
        return value["doubleValue"]
    if "arrayValue" in value:
        array = value["arrayValue"]
        items = array.get("values") if isinstance(array, dict) else None
        return [any_value(item) for item in items] if isinstance(items, list) else []
    if "kvlistValue" in value:
        kvlist = value["kvlistValue"]
        pairs = kvlist.get("values") if isinstance(kvlist, dict) else None
        return otlp_attributes(pairs, "kvlistValue") if isinstance(pairs, list) else {}
    if "bytesValue" in value:
        return value["bytesValue"]
    return None


def _int_value(number: JsonValue) -> JsonValue:
    """An ``intValue``: OTLP/JSON writes it as text; text that is no integer is kept."""
    if isinstance(number, str):
        try:
            return int(number)
        except ValueError:
            return number
    return number


def plain_attributes(value: dict[str, JsonValue], prefix: str = "") -> dict[str, JsonValue]:
    """A flat span's attributes with dotted keys (nested objects, as a span store may keep
    ``{"llm": {"model_name": ...}}``, flattened to ``llm.model_name``; lists kept), without
    evaluation-label keys at any depth."""
    out: dict[str, JsonValue] = {}
    for key, item in value.items():
        if key in DEFAULT_LABEL_KEYS:
            continue
        if isinstance(item, dict) and item:
            out.update(plain_attributes(item, f"{prefix}{key}."))
        else:
            out[prefix + key] = _without_labels(item)
    return out


def _without_labels(value: JsonValue) -> JsonValue:
    if isinstance(value, dict):
        return {k: _without_labels(v) for k, v in value.items() if k not in DEFAULT_LABEL_KEYS}
    if isinstance(value, list):
        return [_without_labels(item) for item in value]
    return value


# ---------------------------------------------------------------- traces


def group(spans: Iterable[Span]) -> list[tuple[str, list[Span]]]:
    """Spans by trace id, traces in the order of their last span."""
    traces: dict[str, list[Span]] = {}
    for span in spans:
        traces.setdefault(span.trace_id, []).append(span)
    return sorted(traces.items(), key=lambda item: item[1][-1].position)


def split(value: JsonValue) -> list[JsonValue] | None:
    """A value holding spans of several traces as one value per trace (in the order they
    end); None when it holds one trace."""
    if not detect(value):
        return None
    reader = SpanReader()
    by_trace = group(reader.spans(value))
    if len(by_trace) <= 1:
        return None
    return [_restricted(value, trace_id) for trace_id, _ in by_trace]


def _restricted(value: JsonValue, trace_id: str) -> JsonValue:
    """``value`` with only the spans of ``trace_id`` (each export keeps its resources)."""
    out: list[JsonValue] = []
    for document in _documents(value):
        if is_span(document):
            assert isinstance(document, dict)
            if _flat_trace_id(document) == trace_id:
                out.append(document)
            continue
        assert isinstance(document, dict)
        groups: list[JsonValue] = []
        for group_ in document["resourceSpans"]:  # type: ignore[union-attr]
            assert isinstance(group_, dict)
            scopes: list[JsonValue] = []
            key = "scopeSpans" if "scopeSpans" in group_ else "instrumentationLibrarySpans"
            for scope_spans in group_.get(key) or []:  # type: ignore[union-attr]
                assert isinstance(scope_spans, dict)
                kept: list[JsonValue] = [
                    span
                    for span in scope_spans.get("spans") or []  # type: ignore[union-attr]
                    if isinstance(span, dict) and _flat_trace_id(span) == trace_id
                ]
                if kept:
                    scopes.append({**scope_spans, "spans": kept})
            if scopes:
                groups.append({**group_, key: scopes})
        if groups:
            out.append({"resourceSpans": groups})
    return out[0] if len(out) == 1 else out


def _flat_trace_id(span: dict[str, JsonValue]) -> str | None:
    context = span.get("context")
    raw = context.get("trace_id") if isinstance(context, dict) else span.get("traceId")
    return trace_id_text(raw) if isinstance(raw, str) else None


def parse(value: JsonValue) -> Parsed:
    """One trace: its spans as steps, in time order."""
    if not detect(value):
        raise TraceFormatError(
            f"expected an OTLP export {{resourceSpans}} or spans {{name, context}}, got "
            f"{describe(value)}"
        )
    by_trace = group(SpanReader().spans(value))
    if len(by_trace) != 1:
        raise TraceFormatError(f"expected the spans of one trace, got {len(by_trace)} traces")
    trace_id, spans = by_trace[0]
    return parse_spans(trace_id, spans)


def parse_spans(trace_id: str, spans: list[Span]) -> Parsed:
    """The trace made of ``spans`` (all of ``trace_id``), in any order."""
    ordered = _time_order(spans)
    views = [semconv.read_span(span.record, span.timestamp) for span in ordered]
    agents = _agents(ordered, views)
    steps = semconv.steps(views, agents)
    resource = ordered[0].resource if ordered else {}
    records: list[JsonValue] = []
    for span in ordered:
        record = span.record
        if span.resource and span.resource is not resource and span.resource != resource:
            record = {**record, "resource": span.resource}
        records.append(record)
    root = _root(ordered, views)
    return Parsed(
        format=NAME,
        steps=steps,
        raw={"trace_id": trace_id, "resource": resource, "spans": records},
        fields={
            "question": root.input_text if root else None,
            "final_answer": root.output_text if root else None,
        }
        if root
        else {"question": semconv.first_user_text(views)},
        record_id=trace_id,
    )


def _time_order(spans: list[Span]) -> list[Span]:
    """By start time; a parent before its children when they start together; then source
    order."""
    starts = [span.start_ns for span in spans]
    if None not in starts and len(set(starts)) == len(starts):
        return sorted(spans, key=_start)  # no ties: nothing else can count
    by_id = {span.span_id: span for span in spans}
    depths: dict[str, int] = {}

    def depth(span: Span) -> int:
        seen: set[str] = set()
        count, current = 0, span
        while current.parent_id in by_id and current.span_id not in seen:
            seen.add(current.span_id)
            if current.parent_id in depths:
                count += depths[current.parent_id] + 1
                break
            count += 1
            current = by_id[current.parent_id]  # type: ignore[index]
        depths[span.span_id] = count
        return count

    return sorted(
        spans,
        key=lambda s: (s.start_ns if s.start_ns is not None else -1, depth(s), s.position),
    )


def _start(span: Span) -> int:
    return span.start_ns  # type: ignore[return-value]


def _agents(spans: list[Span], views: list[semconv.SpanView]) -> list[str | None]:
    """The agent each span runs in: its own name, else its nearest ancestor's."""
    own = {span.span_id: view.agent for span, view in zip(spans, views, strict=True)}
    parents = {span.span_id: span.parent_id for span in spans}
    # a walk that reaches a span already answered ends with that span's answer: its own
    # walk passes the same spans (the ones before it in this walk have no agent)
    answers: dict[str, str | None] = {}
    found: list[str | None] = []
    for span in spans:
        current: str | None = span.span_id
        seen: set[str] = set()
        agent = None
        while current is not None and current in own and current not in seen:
            if current in answers:
                agent = answers[current]
                break
            seen.add(current)
            if own[current]:
                agent = own[current]
                break
            current = parents[current]
        answers[span.span_id] = agent
        found.append(agent)
    return found


def _root(spans: list[Span], views: list[semconv.SpanView]) -> semconv.SpanView | None:
    """The trace's root span when it has an input or output of its own."""
    ids = {span.span_id for span in spans}
    for span, view in zip(spans, views, strict=True):
        if span.parent_id is None or span.parent_id not in ids:
            if view.input_text is not None or view.output_text is not None:
                return view
            return None
    return None


FORMAT = TraceFormat(
    name=NAME,
    accepts="OpenTelemetry traces: OTLP JSON {resourceSpans} (GenAI, OpenInference, Logfire, "
    "Langfuse attributes), or spans {name, context: {trace_id, span_id}}",
    group="specific",
    detect=detect,
    parse=parse,
    split=split,
)
