"""Format ``who_and_when``: a Who&When record with ``history``.

Step *i* is ``history[i]`` (so the record's ``mistake_step`` indexes ``Trace.steps``); the
agent is the message's ``name``, else its ``role`` without a trailing qualifier such as
``(thought)``. The labels (``mistake_*``) are taken out by ``ace.traces.labels``.
"""

from __future__ import annotations

from pydantic import JsonValue

from ace.errors import TraceFormatError
from ace.traces._json import describe
from ace.traces._steps import parse_step
from ace.traces.formats._base import (
    Parsed,
    TraceFormat,
    need_record,
    record_id,
    record_key,
    task_fields,
)
from ace.traces.schema import TraceStep


def detect(value: JsonValue) -> bool:
    """A record whose shape key is ``history``."""
    return isinstance(value, dict) and record_key(value) == "history"


def parse(value: JsonValue) -> Parsed:
    """The record's task fields and one step per ``history`` message."""
    record = need_record(value, "a Who&When record {question, history}")
    if "history" not in record:
        raise TraceFormatError(f"expected a Who&When record with 'history', got {describe(value)}")
    return Parsed(
        format="who_and_when",
        steps=parse_history(record["history"]),
        raw=record,
        fields=task_fields(record),
        record_id=record_id(record),
    )


def parse_history(history: JsonValue) -> list[TraceStep]:
    """Who&When ``history``: one message object per step, content a string."""
    if not isinstance(history, list):
        raise TraceFormatError(f"'history': expected a list of messages, got {describe(history)}")
    steps = []
    for i, message in enumerate(history):
        where = f"history[{i}]"
        if not isinstance(message, dict):
            raise TraceFormatError(f"{where}: expected a message object, got {describe(message)}")
        content = message.get("content")
        if content is not None and not isinstance(content, str):
            raise TraceFormatError(f"{where}.content: expected a string, got {describe(content)}")
        steps.append(parse_step(message, i, where))
    return steps


FORMAT = TraceFormat(
    name="who_and_when",
    accepts="Who&When {history}",
    group="generic",
    detect=detect,
    parse=parse,
)
