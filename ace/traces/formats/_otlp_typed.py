"""An OTLP/JSON export line decoded straight into typed records (with ``msgspec``), the
OpenTelemetry reader's fast path for the usual line of a big JSONL file.

The general path parses a line into dicts (``orjson``) and then converts OTLP's attribute
lists (``[{"key": ..., "value": {"stringValue": ...}}]``) into plain objects: every pair
and value is made as a dict only to be read once. Decoding into the types below makes no
dict for them, and skips what the reader never looks at.

The types admit only what the general path reads without error and in the same way:
numbers that ``orjson`` would turn into floats (integers beyond 64 bits) or reject are
refused here, as are a flat span (``context``), values of unexpected types and invalid
JSON. A line refused here is read the general way, which also words any error; so this
path gives exactly what the general path gives, or nothing.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

Int64 = Annotated[int, Meta(ge=-(2**63), le=2**63 - 1)]
"""An integer ``orjson`` keeps exact (it reads larger ones as floats)."""


class AnyValue(Struct, gc=False):
    """OTLP's ``AnyValue``: which fields are present matters, so absent is ``UNSET``."""

    stringValue: str | None = None
    intValue: Int64 | str | UnsetType | None = UNSET
    boolValue: bool | UnsetType | None = UNSET
    doubleValue: Int64 | float | str | UnsetType | None = UNSET
    arrayValue: ArrayValue | UnsetType | None = UNSET
    kvlistValue: KeyValueList | UnsetType | None = UNSET
    bytesValue: str | UnsetType | None = UNSET


class KeyValue(Struct, gc=False):
    """One attribute."""

    key: str
    value: AnyValue


class ArrayValue(Struct, gc=False):
    """An ``arrayValue``: its values."""

    values: list[AnyValue] | None = None


class KeyValueList(Struct, gc=False):
    """A ``kvlistValue``: its attributes."""

    values: list[KeyValue] | None = None


class Status(Struct, gc=False):
    """A span's status."""

    code: Int64 | str | None = None
    message: str | None = None


class Event(Struct, gc=False):
    """A span event."""

    name: str | None = None
    timeUnixNano: Int64 | str | None = None
    attributes: list[KeyValue] | None = None


class Span(Struct, gc=False):
    """An OTLP span; ``context`` is there only to notice a flat span (read elsewhere)."""

    traceId: str
    spanId: str | None = None
    parentSpanId: str | None = None
    name: str | None = None
    kind: Int64 | str | None = None
    startTimeUnixNano: Int64 | str | None = None
    endTimeUnixNano: Int64 | str | None = None
    attributes: list[KeyValue] | None = None
    status: Status | None = None
    events: list[Event] | None = None
    context: Any = UNSET


class Scope(Struct, gc=False):
    """The instrumentation scope (or library) that made the spans."""

    name: str | None = None


class ScopeSpans(Struct, gc=False):
    """One scope's spans (``instrumentationLibrary`` is the older name of ``scope``)."""

    scope: Scope | UnsetType | None = UNSET
    instrumentationLibrary: Scope | None = None
    spans: list[Span] | None = None


class Resource(Struct, gc=False):
    """The resource the spans come from."""

    attributes: list[KeyValue] | None = None


class ResourceSpans(Struct, gc=False):
    """One resource's spans (``instrumentationLibrarySpans`` is the older name)."""

    resource: Resource | None = None
    scopeSpans: list[ScopeSpans] | UnsetType | None = UNSET
    instrumentationLibrarySpans: list[ScopeSpans] | None = None


class Export(Struct, gc=False):
    """An OTLP/JSON export: ``{"resourceSpans": [...]}``."""

    resourceSpans: list[ResourceSpans]


_DECODER = msgspec.json.Decoder(Export)


def decode_export(line: bytes | bytearray | memoryview) -> Export | None:
    """The export a line holds, or None when it is not one these types describe exactly."""
    try:
        return _DECODER.decode(line)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
