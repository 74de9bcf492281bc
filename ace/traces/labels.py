"""Evaluation labels: taken out of a record before anything reaches a reflector.

A labelled record (Who&When's ``mistake_agent``, ``mistake_step``, ``mistake_reason``,
``mistake_type``, and the stray ``labels`` field one Who&When file carries) is split in
two by :func:`split_labels`: a :class:`TraceLabels` for scoring, and the record with every
label key removed *at every depth*, which is what the :class:`~ace.traces.Trace` (the
reflector's view, including its kept ``raw`` record) is built from.

``is_correct`` / ``is_corrected`` are **not** labels by default: they tell whether the
team got the task right, which is what ACE's ``feedback`` conveys and what a reflector
could read off ``ground_truth`` anyway. An evaluation that must hide the outcome passes
``label_keys=DEFAULT_LABEL_KEYS | OUTCOME_KEYS``.

A format may declare more labels of its own, by path (``ace.traces.formats``: tau-bench's
``reward``, ``info.reward_info`` and expected ``info.task.actions``; tau2-bench's
``reward_info`` and the task's ``evaluation_criteria``): its parser takes them out of the
record it keeps, and they join ``TraceLabels.other`` under their dotted path.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from ace.errors import TraceFormatError
from ace.traces._json import describe

DEFAULT_LABEL_KEYS: frozenset[str] = frozenset(
    {"mistake_agent", "mistake_step", "mistake_reason", "mistake_type", "labels"}
)
"""Keys removed from every record (at any depth) and kept only in :class:`TraceLabels`."""

OUTCOME_KEYS: frozenset[str] = frozenset({"is_correct", "is_corrected"})
"""Outcome keys; kept as feedback by default, add them to ``label_keys`` to hide them."""


class TraceLabels(BaseModel):
    """Ground-truth annotations for evaluation; never shown to a reflector."""

    model_config = ConfigDict(extra="forbid")

    mistake_agent: str | None = None
    """The agent at fault."""
    mistake_step: int | None = None
    """Index of the decisive mistake in ``Trace.steps`` (Who&When: the ``history`` index)."""
    mistake_reason: str | None = None
    mistake_type: str | None = None
    other: dict[str, JsonValue] = Field(default_factory=dict)
    """Any other configured label key found at the record's top level, by key, and the
    labels and outcomes a format declares (tau-bench's ``reward``, ``info.task.actions``,
    ...), by dotted path."""

    def is_empty(self) -> bool:
        """True when the record carried no label at all."""
        return self == TraceLabels()


def split_labels(
    record: dict[str, JsonValue], label_keys: Iterable[str] = DEFAULT_LABEL_KEYS
) -> tuple[dict[str, JsonValue], TraceLabels]:
    """Return ``record`` without any label key (at any depth) and the labels it held."""
    keys = frozenset(label_keys)
    found = {key: record[key] for key in keys if key in record}
    labels = TraceLabels(
        mistake_agent=_label_text("mistake_agent", found.pop("mistake_agent", None)),
        mistake_step=_label_step(found.pop("mistake_step", None)),
        mistake_reason=_label_text("mistake_reason", found.pop("mistake_reason", None)),
        mistake_type=_label_text("mistake_type", found.pop("mistake_type", None)),
        other=found,
    )
    scrubbed = scrub_labels(record, keys)
    assert isinstance(scrubbed, dict)
    return scrubbed, labels


def scrub_labels(value: JsonValue, label_keys: Iterable[str] = DEFAULT_LABEL_KEYS) -> JsonValue:
    """A copy of ``value`` with every object key in ``label_keys`` removed, at any depth."""
    keys = frozenset(label_keys)
    if isinstance(value, dict):
        return {k: scrub_labels(v, keys) for k, v in value.items() if k not in keys}
    if isinstance(value, list):
        return [scrub_labels(item, keys) for item in value]
    return value


def find_label_key(value: JsonValue, label_keys: Iterable[str] = DEFAULT_LABEL_KEYS) -> str | None:
    """The first label key found anywhere in ``value``, or None when it holds none."""
    keys = frozenset(label_keys)
    stack: list[JsonValue] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, child in item.items():
                if key in keys:
                    return key
                stack.append(child)
        elif isinstance(item, list):
            stack.extend(item)
    return None


def _label_text(key: str, value: JsonValue) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise TraceFormatError(f"label {key!r}: expected a string, got {describe(value)}")


def _label_step(value: JsonValue) -> int | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    text = value.strip() if isinstance(value, str) else ""
    if text.isascii() and text.isdigit() and len(text) <= 18:
        return int(text)
    raise TraceFormatError(
        "label 'mistake_step': expected a step index (a non-negative integer or a string "
        f"of digits), got {describe(value)}"
    )
