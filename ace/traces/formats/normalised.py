"""Format ``normalised``: traces already in ACE's normalised form, as ``ace traces
convert`` writes them: a JSON list of ``Trace.model_dump`` objects (``{id, format,
source, question, ..., steps, raw}``, each step with its ``index``), or one alone.

It is read back as it was written: same id, steps and task fields, and ``Trace.format``
keeps the format it was first read from. Only ``source`` changes, to where it is read now.
"""

from __future__ import annotations

from pydantic import JsonValue

from ace.traces.formats._base import Parsed, TraceFormat, need_record
from ace.traces.schema import Trace

_FIELDS = frozenset(Trace.model_fields)
_REQUIRED = frozenset({"id", "format", "steps"})


def _is_trace(value: JsonValue) -> bool:
    if not isinstance(value, dict) or not _REQUIRED <= value.keys() <= _FIELDS:
        return False
    steps = value["steps"]
    return isinstance(steps, list) and all(
        isinstance(step, dict) and "index" in step for step in steps
    )


def detect(value: JsonValue) -> bool:
    """An object with ``id``, ``format`` and ``steps``, no key a ``Trace`` lacks, and every
    step an object with an ``index``; or a non-empty list of them."""
    if isinstance(value, list):
        return bool(value) and all(_is_trace(item) for item in value)
    return _is_trace(value)


def split(value: JsonValue) -> list[JsonValue] | None:
    """A list of traces is one trace per item; a trace alone is one trace."""
    return value if isinstance(value, list) else None


def parse(value: JsonValue) -> Parsed:
    """The trace as written (validated against the schema)."""
    trace = Trace.model_validate(need_record(value, "a normalised trace {id, format, steps}"))
    return Parsed(
        format=trace.format,
        steps=trace.steps,
        raw=trace.raw,
        fields={
            "question": trace.question,
            "context": trace.context,
            "ground_truth": trace.ground_truth,
            "feedback": trace.feedback,
            "final_answer": trace.final_answer,
            "is_correct": trace.is_correct,
        },
        record_id=trace.id,
    )


FORMAT = TraceFormat(
    name="normalised",
    accepts="ACE's normalised traces (ace traces convert)",
    group="specific",
    detect=detect,
    parse=parse,
    split=split,
)
