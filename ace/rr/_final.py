"""FINAL and FINAL_VAR: how kernel code ends a session, and when that counts.

Both are host functions: kernel code calls them, the host records the request for
the running cell. After the cell, ``decide`` applies the rules: a FINAL counts only
if an earlier cell ran cleanly and this cell did not raise; the value must validate
into a ``ReflectorOutput``. Every refusal comes with the reason the model is told
(``prompts/rr/final.j2``).
"""

from __future__ import annotations

import copy
import keyword
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from ace.outputs import ReflectorOutput, step_number
from ace.prompting import render_prompt

REFLECTION_FIELDS = tuple(name for name in ReflectorOutput.model_fields if name != "raw")
"""The fields a model may give in a reflection, in ``ReflectorOutput``'s order."""
TEXT_FIELDS = tuple(
    name for name in REFLECTION_FIELDS if ReflectorOutput.model_fields[name].annotation is str
)
"""The reflection's plain-text fields (a model's number or list there becomes its text)."""
REFLECTION_KEYS = frozenset(REFLECTION_FIELDS) - {"skill_tags"}
"""Keys that make a dict in a reply look like a reflection (skill tags alone do not)."""


def _say(part: str, **variables: Any) -> str:
    return render_prompt("rr/final.j2", part=part, **variables)


@dataclass
class Decision:
    """The verdict on a cell's FINAL request."""

    accepted: ReflectorOutput | None = None
    rejection: str | None = None


class FinalCollector:
    """Receives FINAL/FINAL_VAR calls from the kernel for the cell that is running."""

    def __init__(self) -> None:
        self.value: Any = None
        self.var_name: str | None = None
        self.requested = False

    def reset(self) -> None:
        """Forget the previous cell's request."""
        self.value, self.var_name, self.requested = None, None, False

    def final(self, result: Any = None) -> str:
        """Host side of ``FINAL(result)``."""
        if not isinstance(result, dict):
            raise TypeError(
                _say("expects_dict", keys=REFLECTION_FIELDS[:3], given=type(result).__name__)
            )
        self.value, self.var_name, self.requested = result, None, True
        return _say("received")

    def final_var(self, name: Any = None) -> str:
        """Host side of ``FINAL_VAR(name)``: the value is fetched after the cell."""
        if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
            raise TypeError(_say("var_expects_name", given=repr(name)))
        self.value, self.var_name, self.requested = None, name, True
        return _say("var_received", name=name)


def decide(value: Any, *, cell_ok: bool, had_clean_cell: bool, tasks: int = 1) -> BatchDecision:
    """Apply the acceptance rules to a FINAL value (already fetched for FINAL_VAR).

    Returns one reflection per task (a single analysis is a batch of one).
    """
    if not cell_ok:
        return BatchDecision(rejection=_say("cell_raised"))
    if not had_clean_cell:
        return BatchDecision(rejection=_say("explore_first"))
    return validate_batch(value, tasks)


def validate(value: Any) -> Decision:
    """Turn a FINAL value into a ``ReflectorOutput``, or explain what is wrong with it."""
    if not isinstance(value, dict):
        return Decision(rejection=_say("needs_dict", given=type(value).__name__))
    try:
        output = ReflectorOutput.model_validate(_prepare(value))
    except ValidationError as exc:
        problems = [(".".join(map(str, e["loc"])), e["msg"]) for e in exc.errors()[:5]]
        return Decision(rejection=_say("invalid", problems=problems))
    return _check_content(output)


def salvage(value: Any) -> tuple[Decision, list[str]]:
    """``validate`` for a last answer that cannot be sent back for repair (the synthesis):
    every part that fails validation is dropped (an item of a list, a field of an item, or
    a whole item when a required field had to go) until the rest validates.

    Returns the decision and the dotted paths that were dropped.
    """
    if not isinstance(value, dict):
        return Decision(rejection=f"the reply is a {type(value).__name__}, not a dict"), []
    data = _prepare(copy.deepcopy(value))
    recovered_from = None
    if not _names_a_step(data.get("attribution")):
        # Weak models leave "attribution" null and put {"agent", "step"} under another key.
        found = _find_attribution(value, ())
        if found is not None:
            location, where = found
            picked: dict[str, Any] = {
                k: where[k] for k in ("agent", "step", "reason") if k in where
            }
            recovered_from, data["attribution"] = location, _coerce_step(picked)
    dropped: list[str] = []
    for _ in range(_SALVAGE_ROUNDS):
        try:
            output = ReflectorOutput.model_validate(data)
        except ValidationError as exc:
            paths = {
                tuple(e["loc"][:-1]) if e["type"] == "missing" else tuple(e["loc"])
                for e in exc.errors()
            }
            # Deepest first, so a field is removed before the item holding it is marked.
            for path in sorted(paths, key=len, reverse=True):
                _mark(data, path)
            _compact(data)
            dropped.extend(sorted(".".join(map(str, p)) for p in paths))
            continue
        if recovered_from is not None and output.attribution is not None:
            output.raw["attribution_from"] = recovered_from
        return _check_content(output), dropped
    return Decision(
        rejection="the reply did not validate after dropping its invalid parts"
    ), dropped


_SALVAGE_ROUNDS = 8
_SEARCH_DEPTH = 4


def _names_a_step(attribution: Any) -> bool:
    return isinstance(attribution, dict) and attribution.get("step") is not None


def _find_attribution(value: Any, path: tuple[str, ...]) -> tuple[str, dict[str, Any]] | None:
    """The first dict below ``value`` with both an agent and a step, and its dotted path."""
    if len(path) > _SEARCH_DEPTH:
        return None
    if isinstance(value, dict):
        if path and value.get("agent") is not None and value.get("step") is not None:
            return ".".join(path), value
        items = [(str(k), v) for k, v in value.items()]
    elif isinstance(value, list):
        items = [(str(i), v) for i, v in enumerate(value)]
    else:
        return None
    for key, item in items:
        found = _find_attribution(item, (*path, key))
        if found is not None:
            return found
    return None


_DROPPED = object()


def _mark(data: Any, path: tuple[Any, ...]) -> None:
    """Remove ``path`` from nested dicts; mark list items (removed later by ``_compact``,
    so the indices of sibling paths stay valid)."""
    parent = data
    for key in path[:-1]:
        try:
            parent = parent[key]
        except (KeyError, IndexError, TypeError):
            return
    if isinstance(parent, list) and isinstance(path[-1], int) and path[-1] < len(parent):
        parent[path[-1]] = _DROPPED
    elif isinstance(parent, dict):
        parent.pop(path[-1], None)


def _compact(data: Any) -> None:
    if isinstance(data, dict):
        for item in data.values():
            _compact(item)
    elif isinstance(data, list):
        data[:] = [item for item in data if item is not _DROPPED]
        for item in data:
            _compact(item)


def _prepare(value: dict[str, Any]) -> dict[str, Any]:
    """Keep the reflection's fields and fix what models commonly get almost right."""
    data = {k: v for k, v in value.items() if k in REFLECTION_FIELDS}
    if isinstance(data.get("attribution"), dict):
        data["attribution"] = _coerce_step(data["attribution"])
    for key in TEXT_FIELDS:
        if key in data and not isinstance(data[key], str):
            data[key] = str(data[key])
    return data


def _check_content(output: ReflectorOutput) -> Decision:
    if not (output.key_insight or output.error_identification or output.reasoning):
        return Decision(rejection=_say("no_content"))
    return Decision(accepted=output)


def _coerce_step(attribution: dict[str, Any]) -> dict[str, Any]:
    """Models often give the step as "5" or "step 5"; keep the number (`step_number`)."""
    if "step" in attribution:
        attribution = {**attribution, "step": step_number(attribution["step"])}
    agent = attribution.get("agent")
    if agent is not None and not isinstance(agent, str):
        attribution = {**attribution, "agent": str(agent)}
    return attribution


@dataclass
class BatchDecision:
    """The verdict on a batch FINAL: one reflection per task, in order, or a refusal."""

    accepted: list[ReflectorOutput] | None = None
    rejection: str | None = None


def validate_batch(value: Any, tasks: int) -> BatchDecision:
    """``{"tasks": [r0, r1, ...]}`` gives one reflection per task; a single reflection is
    shared by every task and each copy says so in ``raw["batch_result"]``."""
    if isinstance(value, dict) and isinstance(value.get("tasks"), list) and tasks > 1:
        entries = value["tasks"]
        if len(entries) != tasks:
            return BatchDecision(rejection=_say("task_count", given=len(entries), tasks=tasks))
        out: list[ReflectorOutput] = []
        for k, entry in enumerate(entries):
            decision = validate(entry)
            if decision.accepted is None:
                return BatchDecision(
                    rejection=_say("task_entry", number=k, rejection=decision.rejection)
                )
            decision.accepted.raw["batch_result"] = "per_task"
            out.append(decision.accepted)
        return BatchDecision(accepted=out)
    single = validate(value)
    if single.accepted is None:
        return BatchDecision(rejection=single.rejection)
    return BatchDecision(accepted=share_across(single.accepted, tasks))


def share_across(reflection: ReflectorOutput, tasks: int) -> list[ReflectorOutput]:
    """Copies of one reflection for every task of a batch, each marked as shared."""
    note = (
        "shared: the session produced one reflection for the whole batch, not one per task"
        if tasks > 1
        else "per_task"
    )
    copies = [reflection.model_copy(deep=True) for _ in range(tasks)]
    for shared in copies:
        shared.raw["batch_result"] = note
    return copies
