"""What every format module shares: the declaration, the parse result, task fields, ids,
and taking labels out of a record by path."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal, TypedDict

from pydantic import JsonValue

from ace.errors import TraceFormatError
from ace.traces._json import compact, describe
from ace.traces._steps import parse_step
from ace.traces.schema import TraceStep

RECORD_KEYS = ("tasks", "history", "messages", "intermediate_steps", "steps")
"""Keys that name a record's shape, in precedence order: a record holding two of them is
read by the first (``tasks`` makes it a batch, then Who&When, OpenAI, LangChain, ACE)."""

TASK_KEYS = frozenset(
    {"question", "ground_truth", "feedback", "reasoning", "final_answer", "answer"}
)
_RECORD_MARKERS = frozenset({*RECORD_KEYS, "question"})
_ID_KEYS = ("id", "trace_id", "question_ID", "question_id", "task_id")

Group = Literal["specific", "generic", "fallback"]


class TaskFields(TypedDict, total=False):
    """The task fields a record may carry (the ``Trace`` fields of the same names)."""

    question: str | None
    context: str | None
    ground_truth: str | None
    feedback: str | None
    final_answer: str | None
    is_correct: bool | None


@dataclass
class Parsed:
    """What a parser extracts; the loader adds the id's fallback and the source."""

    format: str
    steps: list[TraceStep]
    raw: JsonValue
    fields: TaskFields = field(default_factory=lambda: TaskFields())
    record_id: str | None = None
    labels: dict[str, JsonValue] = field(default_factory=dict)
    """Values the format declares as labels or outcomes, by dotted path; never in ``raw``."""


@dataclass(frozen=True, kw_only=True)
class TraceFormat:
    """One source format: how to recognise it, read it, and which of its keys are labels.

    A format module defines one of these as ``FORMAT``; ``ace.traces.formats`` lists them
    in detection order. ``detect`` must be cheap and must not raise; ``parse`` reads one
    trace and raises :class:`~ace.errors.TraceFormatError` naming what it expected.
    """

    name: str
    accepts: str
    """What it reads, in a few words, for error messages and ``ace traces inspect``."""
    group: Group
    """``specific`` formats (benchmark files with their own keys) are tried first, then the
    ``generic`` shapes, which exclude one another, then the ``fallback`` catch-alls."""
    detect: Callable[[JsonValue], bool]
    parse: Callable[[JsonValue], Parsed] | None
    """None for a pure container (a batch): its items are traces of their own formats."""
    split: Callable[[JsonValue], list[JsonValue] | None] | None = None
    """For a file holding several traces: its items (one trace each), or None when the
    value is a single trace of this format."""
    items_detected: bool = False
    """Whether ``split``'s items are detected on their own (a batch) rather than read by
    this format."""
    label_keys: tuple[str, ...] = ()
    """Dotted paths this format takes out as labels or outcomes (see ``take_labels``)."""


def record_key(value: dict[str, JsonValue]) -> str | None:
    """The first of ``RECORD_KEYS`` the record holds, or None."""
    return next((key for key in RECORD_KEYS if key in value), None)


def is_record(value: JsonValue) -> bool:
    """True for an object that is plainly a trace record (or a batch): a list of these is
    a batch. Weaker hints (``feedback``, ``reasoning``) could be keys of a step object."""
    return isinstance(value, dict) and not _RECORD_MARKERS.isdisjoint(value)


def is_record_list(value: list[JsonValue]) -> bool:
    """An empty list, or a list of trace records: a batch."""
    return all(is_record(item) for item in value)


def has_task_keys(value: dict[str, JsonValue]) -> bool:
    """Whether the record carries any of ACE's task keys (``question``, ``feedback``, ...)."""
    return not TASK_KEYS.isdisjoint(value)


def steps_of(items: list[JsonValue], prefix: str) -> list[TraceStep]:
    """One step per element, each error located as ``prefix[i]``."""
    return [parse_step(item, i, f"{prefix}[{i}]") for i, item in enumerate(items)]


def step_list_under(record: dict[str, JsonValue], key: str) -> list[TraceStep]:
    """The steps of the list a record holds under ``key``."""
    items = record[key]
    if not isinstance(items, list):
        raise TraceFormatError(f"{key!r}: expected a list of steps, got {describe(items)}")
    return steps_of(items, key)


def need_record(value: JsonValue, what: str) -> dict[str, JsonValue]:
    """``value`` if it is an object, else a TraceFormatError saying ``what`` was expected."""
    if not isinstance(value, dict):
        raise TraceFormatError(f"expected {what}, got {describe(value)}")
    return value


def task_fields(record: dict[str, JsonValue]) -> TaskFields:
    """ACE's task fields of a record; ``is_correct`` (or Who&When's ``is_corrected``) must
    be a boolean."""
    fields: TaskFields = {
        "question": text(record.get("question")),
        "context": text(record.get("context")),
        "ground_truth": text(record.get("ground_truth")),
        "feedback": text(record.get("feedback")),
        "final_answer": text(record.get("final_answer", record.get("answer"))),
    }
    for key in ("is_correct", "is_corrected"):
        outcome = record.get(key)
        if outcome is not None and not isinstance(outcome, bool):
            raise TraceFormatError(f"{key!r}: expected true or false, got {describe(outcome)}")
        if outcome is not None:
            fields["is_correct"] = outcome
            break
    return fields


def text(value: JsonValue) -> str | None:
    """A string as it is, None as None, anything else as compact JSON text."""
    if value is None or isinstance(value, str):
        return value
    return compact(value)


def record_id(record: dict[str, JsonValue]) -> str | None:
    """The record's own id (``id``, ``trace_id``, ``question_ID``, ... ``task_id``)."""
    for key in _ID_KEYS:
        value = record.get(key)
        if isinstance(value, str) and value:
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
    return None


def take_labels(
    record: dict[str, JsonValue], paths: Iterable[str]
) -> tuple[dict[str, JsonValue], dict[str, JsonValue]]:
    """``record`` without the values at the dotted ``paths`` (``info.task.actions``), and
    those values by path. Only the objects along a path are copied; the caller's record is
    never changed. A path that is absent is skipped."""
    found: dict[str, JsonValue] = {}
    out: JsonValue = record
    for path in paths:
        out = _without(out, path.split("."), found, path)
    assert isinstance(out, dict)
    return out, found


def _without(
    value: JsonValue, keys: list[str], found: dict[str, JsonValue], path: str
) -> JsonValue:
    if not isinstance(value, dict) or keys[0] not in value:
        return value
    copy = dict(value)
    if len(keys) == 1:
        found[path] = copy.pop(keys[0])
    else:
        copy[keys[0]] = _without(copy[keys[0]], keys[1:], found, path)
    return copy
