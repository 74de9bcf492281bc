"""Format ``openai_messages``: a list of ``{role, content, tool_calls?, tool_call_id?}``
messages, or a record holding one under ``messages``.

Content may be text or a list of parts (``text``, Anthropic-style ``tool_use`` and
``tool_result``); tool calls may be OpenAI's ``{id, function: {name, arguments}}`` or flat
``{name, arguments}``. A JSONL file whose every line is one message is one conversation
(see ``ace.traces._files``).
"""

from __future__ import annotations

from pydantic import JsonValue

from ace.errors import TraceFormatError
from ace.traces._json import describe
from ace.traces.formats._base import (
    Parsed,
    TraceFormat,
    is_record_list,
    record_id,
    record_key,
    step_list_under,
    steps_of,
    task_fields,
)


def detect(value: JsonValue) -> bool:
    """A record whose shape key is ``messages``, or a list of objects with a ``role`` that
    is not a batch of records."""
    if isinstance(value, dict):
        return record_key(value) == "messages"
    return (
        isinstance(value, list)
        and bool(value)
        and not is_record_list(value)
        and all(isinstance(item, dict) and "role" in item for item in value)
    )


def parse(value: JsonValue) -> Parsed:
    """One step per message; a record keeps its task fields and id."""
    if isinstance(value, list):
        return Parsed(format="openai_messages", steps=steps_of(value, ""), raw=value)
    if not isinstance(value, dict) or "messages" not in value:
        raise TraceFormatError(
            f"expected a list of messages or a record with 'messages', got {describe(value)}"
        )
    return Parsed(
        format="openai_messages",
        steps=step_list_under(value, "messages"),
        raw=value,
        fields=task_fields(value),
        record_id=record_id(value),
    )


FORMAT = TraceFormat(
    name="openai_messages",
    accepts="OpenAI-style message lists, {messages}, or a JSONL of messages",
    group="generic",
    detect=detect,
    parse=parse,
)
