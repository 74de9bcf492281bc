"""Format ``langchain_pairs``: a list of ``[action, observation]`` pairs (the action
serialised as ``{tool, tool_input, log}``), or a record holding one under
``intermediate_steps``."""

from __future__ import annotations

from pydantic import JsonValue

from ace.errors import TraceFormatError
from ace.traces._json import describe
from ace.traces.formats._base import (
    Parsed,
    TraceFormat,
    record_id,
    record_key,
    step_list_under,
    steps_of,
    task_fields,
)


def detect(value: JsonValue) -> bool:
    """A record whose shape key is ``intermediate_steps``, or a non-empty list of pairs."""
    if isinstance(value, dict):
        return record_key(value) == "intermediate_steps"
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(item, list) and len(item) == 2 for item in value)
    )


def parse(value: JsonValue) -> Parsed:
    """One step per pair: the call, its log as content, the observation as its result."""
    if isinstance(value, list):
        return Parsed(format="langchain_pairs", steps=steps_of(value, ""), raw=value)
    if not isinstance(value, dict) or "intermediate_steps" not in value:
        raise TraceFormatError(
            "expected a list of (action, observation) pairs or a record with "
            f"'intermediate_steps', got {describe(value)}"
        )
    return Parsed(
        format="langchain_pairs",
        steps=step_list_under(value, "intermediate_steps"),
        raw=value,
        fields=task_fields(value),
        record_id=record_id(value),
    )


FORMAT = TraceFormat(
    name="langchain_pairs",
    accepts="LangChain (action, observation) pairs",
    group="generic",
    detect=detect,
    parse=parse,
)
