"""Format ``batch``: ``{"tasks": [...]}`` or a list of trace records, one trace per item,
each item read by its own format. Only the many-trace loaders take it."""

from __future__ import annotations

from pydantic import JsonValue

from ace.errors import TraceFormatError
from ace.traces._json import describe
from ace.traces.formats._base import TraceFormat, is_record_list, record_key


def detect(value: JsonValue) -> bool:
    """A record whose shape key is ``tasks``, or a list that is empty or all records."""
    if isinstance(value, dict):
        return record_key(value) == "tasks"
    return isinstance(value, list) and is_record_list(value)


def split(value: JsonValue) -> list[JsonValue]:
    """The items: the list itself, or the list under ``tasks``."""
    if isinstance(value, list):
        return value
    if isinstance(value, dict) and "tasks" in value:
        items = value["tasks"]
        if isinstance(items, list):
            return items
        raise TraceFormatError(f"'tasks': expected a list of traces, got {describe(items)}")
    raise TraceFormatError(
        f"expected a batch ({{tasks: [...]}} or a list of traces), got {describe(value)}"
    )


FORMAT = TraceFormat(
    name="batch",
    accepts="batches {tasks} or lists of records",
    group="generic",
    detect=detect,
    parse=None,
    split=split,
    items_detected=True,
)
