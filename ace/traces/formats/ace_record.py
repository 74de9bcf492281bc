"""Format ``ace``: ACE's ``{question, ground_truth, feedback, steps}`` record.

``steps`` may be missing; then ``reasoning`` (if any) becomes the single step. Recognised
by ``steps`` or any task key (``question``, ``ground_truth``, ``feedback``, ``reasoning``,
``final_answer``, ``answer``) on an object holding none of the other shapes' step lists.
"""

from __future__ import annotations

from pydantic import JsonValue

from ace.traces.formats._base import (
    Parsed,
    TraceFormat,
    has_task_keys,
    need_record,
    record_id,
    record_key,
    step_list_under,
    task_fields,
)
from ace.traces.schema import reasoning_steps


def detect(value: JsonValue) -> bool:
    """An object whose shape key is ``steps``, or that has none and carries task keys."""
    if not isinstance(value, dict):
        return False
    key = record_key(value)
    return key == "steps" or (key is None and has_task_keys(value))


def parse(value: JsonValue) -> Parsed:
    """The record's task fields and its steps."""
    record = need_record(value, "an ACE record {question, steps}")
    if "steps" in record:
        steps = step_list_under(record, "steps")
    else:
        reasoning = record.get("reasoning")
        steps = reasoning_steps(reasoning) if isinstance(reasoning, str) else []
    return Parsed(
        format="ace",
        steps=steps,
        raw=record,
        fields=task_fields(record),
        record_id=record_id(record),
    )


FORMAT = TraceFormat(
    name="ace",
    accepts="ACE records {question, steps}",
    group="generic",
    detect=detect,
    parse=parse,
)
