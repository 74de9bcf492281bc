"""Format ``json``: the catch-all. Any JSON value is accepted as-is: no steps, the value
kept in ``raw`` for the model to explore (a file of this format alone is refused: it holds
no trace steps)."""

from __future__ import annotations

from pydantic import JsonValue

from ace.traces.formats._base import Parsed, TraceFormat


def detect(value: JsonValue) -> bool:
    """Anything (tried last)."""
    return True


def parse(value: JsonValue) -> Parsed:
    """No steps; the value kept whole."""
    return Parsed(format="json", steps=[], raw=value)


FORMAT = TraceFormat(
    name="json",
    accepts="any other JSON, without steps",
    group="fallback",
    detect=detect,
    parse=parse,
)
