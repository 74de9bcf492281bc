"""Evaluation labels kept apart from the trajectories: one JSON file of failures.

Some sets keep trajectories and ground truth in separate files. The labels file is a JSON
list with one entry per trajectory::

    [{"trajectory_id": "12", "failures": [{"step_number": 4, "failed_agent": "Coder"}]}]

Matching: ``trajectory_id`` (a string, or a number) names the trace whose id
(``Trace.id``: the record's own id, else the file name and position) is equal to it; a
trace that is alone in its file also answers to the file's stem (``12.json`` is ``12``).
``ace traces inspect FILE`` lists the ids.

Scoring: the earliest failure (lowest ``step_number``) is the decisive one, scored like
Who&When's ``mistake_agent``/``mistake_step``: ``step_number`` is an index into
``Trace.steps`` (0-based, as ``ace traces inspect`` numbers them). The whole list, with
any other keys of each failure, is kept in ``TraceLabels.other["failures"]``. The file's
labels replace any the records carry.

A trace with no entry, or whose entry lists no failure, is skipped (and reported); an
entry that matches no trace is an error listing those ids, raised before any model call.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

import orjson
from pydantic import JsonValue

from ace.errors import InputError
from ace.eval.runner import SkippedFile
from ace.traces import LabelledTrace, TraceLabels
from ace.traces._json import as_json, describe

_SHOWN_IDS = 10


def load_label_file(path: str | os.PathLike[str]) -> dict[str, TraceLabels]:
    """The labels of a labels file, by trajectory id; ``InputError`` naming the entry and
    what was expected when it is malformed (a missing file is ``FileNotFoundError``)."""
    where = f"labels file {os.fspath(path)}"
    data = Path(path).read_bytes()
    try:
        value = as_json(orjson.loads(data))
    except orjson.JSONDecodeError as exc:
        raise InputError(f"{where}: expected JSON ({exc})") from None
    except ValueError as exc:
        raise InputError(f"{where}: {exc}") from None
    if not isinstance(value, list):
        raise InputError(
            f"{where}: expected a list of {{trajectory_id, failures}} entries, "
            f"got {describe(value)}"
        )
    labels: dict[str, TraceLabels] = {}
    for index, entry in enumerate(value):
        at = f"{where} entry {index}"
        trajectory_id, entry_labels = _entry(entry, at)
        if trajectory_id in labels:
            raise InputError(f"{at}: trajectory_id {trajectory_id!r} appears twice")
        labels[trajectory_id] = entry_labels
    return labels


def apply_label_file(
    items: Sequence[LabelledTrace], labels: Mapping[str, TraceLabels], *, name: str
) -> tuple[list[LabelledTrace], list[SkippedFile]]:
    """``items`` with the file's labels, and the traces skipped for lack of any.

    ``name`` is the labels file as the user gave it, for messages. Raises ``InputError``
    when an entry matches no trace (its id and the others', up to ten, named).
    """
    alone = Counter(item.trace.source.path for item in items if item.trace.source)
    used: set[str] = set()
    labelled: list[LabelledTrace] = []
    skipped: list[SkippedFile] = []
    for item in items:
        trace = item.trace
        path = trace.source.path if trace.source else None
        candidates = [trace.id]
        if path is not None and alone[path] == 1:
            candidates.append(Path(path).stem)
        key = next((c for c in candidates if c in labels), None)
        if key is None:
            skipped.append(_skip(item, f"no entry in {name}"))
            continue
        used.add(key)
        found = labels[key]
        if found.mistake_agent is None and found.mistake_step is None:
            skipped.append(_skip(item, f"its entry in {name} lists no failure"))
            continue
        labelled.append(LabelledTrace(trace=trace, labels=found))
    unmatched = [key for key in labels if key not in used]
    if unmatched:
        shown = ", ".join(repr(key) for key in unmatched[:_SHOWN_IDS])
        more = f" and {len(unmatched) - _SHOWN_IDS} more" if len(unmatched) > _SHOWN_IDS else ""
        entries = "entry matches" if len(unmatched) == 1 else "entries match"
        raise InputError(
            f"{name}: {len(unmatched)} {entries} no trajectory of the set: {shown}{more}. "
            "A trajectory_id must equal a trace's id, "
            "or the stem of a file holding one trace; ace traces inspect FILE lists the ids"
        )
    return labelled, skipped


def _skip(item: LabelledTrace, reason: str) -> SkippedFile:
    trace = item.trace
    path = trace.source.describe() if trace.source else "in memory"
    return SkippedFile(path=path, reason=reason, trace_id=trace.id)


def _entry(entry: JsonValue, at: str) -> tuple[str, TraceLabels]:
    if not isinstance(entry, dict):
        raise InputError(f"{at}: expected {{trajectory_id, failures}}, got {describe(entry)}")
    raw_id = entry.get("trajectory_id")
    if isinstance(raw_id, int) and not isinstance(raw_id, bool):
        raw_id = str(raw_id)
    if not isinstance(raw_id, str) or not raw_id:
        raise InputError(f"{at}: 'trajectory_id': expected a string, got {describe(raw_id)}")
    failures = entry.get("failures")
    if not isinstance(failures, list):
        raise InputError(f"{at}: 'failures': expected a list, got {describe(failures)}")
    found: list[tuple[int | None, str | None]] = []
    for number, failure in enumerate(failures):
        where = f"{at} failures[{number}]"
        if not isinstance(failure, dict):
            raise InputError(f"{where}: expected an object, got {describe(failure)}")
        agent = failure.get("failed_agent")
        if agent is not None and not isinstance(agent, str):
            raise InputError(f"{where}.failed_agent: expected a string, got {describe(agent)}")
        found.append((_step(failure.get("step_number"), where), agent))
    if not found:
        return raw_id, TraceLabels(other={"failures": failures})
    # the earliest failure decides; one without a step only when none has a step
    stepped = [(step, agent) for step, agent in found if step is not None]
    step, agent = min(stepped, key=lambda f: f[0] or 0) if stepped else found[0]
    return raw_id, TraceLabels(mistake_agent=agent, mistake_step=step, other={"failures": failures})


def _step(value: JsonValue, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 18:
        return int(value)
    raise InputError(
        f"{where}.step_number: expected a step index (a non-negative integer), got "
        f"{describe(value)}"
    )
