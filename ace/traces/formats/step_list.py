"""Format ``step_list``: the catch-all for lists no other format claims; each element
becomes a step (text, a step object, or JSON text)."""

from __future__ import annotations

from pydantic import JsonValue

from ace.errors import TraceFormatError
from ace.traces._json import describe
from ace.traces.formats._base import Parsed, TraceFormat, steps_of


def detect(value: JsonValue) -> bool:
    """Any list (tried after every other format)."""
    return isinstance(value, list)


def parse(value: JsonValue) -> Parsed:
    """One step per element."""
    if not isinstance(value, list):
        raise TraceFormatError(f"expected a list of steps, got {describe(value)}")
    return Parsed(format="step_list", steps=steps_of(value, ""), raw=value)


FORMAT = TraceFormat(
    name="step_list",
    accepts="any other list",
    group="fallback",
    detect=detect,
    parse=parse,
)
