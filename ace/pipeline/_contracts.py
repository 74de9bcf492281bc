"""Checking requires/provides contracts: when a pipeline is built, and on each step's output."""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from ace.errors import PipelineContractError, PipelineOrderError
from ace.pipeline.context import StepContext
from ace.pipeline.protocol import StepProtocol


class Slot(NamedTuple):
    """A step with its contract read once, when the pipeline was built."""

    step: StepProtocol[Any]
    name: str
    requires: frozenset[str]
    provides: frozenset[str]
    is_async: bool
    """``__call__`` is a coroutine function: the async runner awaits it on its own loop."""


def step_name(step: object) -> str:
    """A step's ``name`` attribute when it is a non-empty string, else its class name."""
    name = getattr(step, "name", None)
    return name if isinstance(name, str) and name else type(step).__name__


def is_async_step(step: object) -> bool:
    """Whether calling ``step`` returns a coroutine (``async def __call__`` or an async function)."""
    if inspect.isfunction(step) or inspect.ismethod(step):
        return inspect.iscoroutinefunction(step)
    return callable(step) and inspect.iscoroutinefunction(type(step).__call__)


def check_steps(steps: tuple[StepProtocol[Any], ...], owner: str) -> tuple[Slot, ...]:
    """Slots for ``steps``; a step without a usable contract is refused, naming it."""
    slots = []
    for position, step in enumerate(steps):
        name = step_name(step)
        where = f"{owner}: step {name!r} (position {position})"
        if not callable(step):
            raise PipelineContractError(f"{where} is not callable; a step is called with a context")
        requires = _field_set(step, "requires", where)
        provides = _field_set(step, "provides", where)
        slots.append(Slot(step, name, requires, provides, is_async_step(step)))
    return tuple(slots)


def _field_set(step: object, attribute: str, where: str) -> frozenset[str]:
    value = getattr(step, attribute, None)
    if value is None:
        raise PipelineContractError(
            f"{where} has no {attribute!r} attribute; every step declares "
            "requires and provides as sets of context field names"
        )
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
        raise PipelineContractError(
            f"{where}: {attribute} must be a set of field names, got {value!r} "
            f"({type(value).__name__}); write e.g. {attribute} = frozenset({{'sample'}})"
        )
    names = frozenset(value)
    bad = sorted(repr(n) for n in names if not isinstance(n, str))
    if bad:
        raise PipelineContractError(f"{where}: {attribute} holds non-string names {bad}")
    return names


def needed_from_outside(slots: tuple[Slot, ...]) -> dict[str, str]:
    """Fields no earlier step provides, each mapped to the first step that needs it."""
    provided: set[str] = set()
    needed: dict[str, str] = {}
    for position, slot in enumerate(slots):
        for field in sorted(slot.requires - provided):
            later = next((s.name for s in slots[position + 1 :] if field in s.provides), None)
            if later is not None:
                raise PipelineOrderError(
                    f"step {slot.name!r} requires {field!r}, which only the later step "
                    f"{later!r} provides; put {later!r} before {slot.name!r}"
                )
            needed.setdefault(field, slot.name)
        provided |= slot.provides
    return needed


def check_initial(ctx: object, needed: Mapping[str, str], owner: str, what: str) -> None:
    """Refuse an initial context that is not a StepContext or lacks a needed field."""
    if not isinstance(ctx, StepContext):
        raise PipelineContractError(
            f"{owner}: {what} is a {type(ctx).__name__}, not a StepContext; "
            "build contexts with e.g. ACEStepContext(sample=..., skillbook=...)"
        )
    for field, first in needed.items():
        if ctx.is_set(field):
            continue
        if field not in ctx.field_names():
            why = f"{type(ctx).__name__} has no field {field!r}"
        else:
            why = f"{what} does not set {field!r}"
        raise PipelineContractError(
            f"{owner}: {why}, which step {first!r} requires; "
            f"set it on the initial context or add a step that provides it before {first!r}"
        )


def checked_output(slot: Slot, out: object) -> StepContext:
    """``out`` when it is a context with every field ``slot`` provides set."""
    if not isinstance(out, StepContext):
        raise PipelineContractError(
            f"step {slot.name!r} returned {type(out).__name__}, not a context; "
            "a step must return ctx.replace(...)"
        )
    for field in sorted(slot.provides):
        if not out.is_set(field):
            raise PipelineContractError(
                f"step {slot.name!r} declares it provides {field!r} but did not set it "
                "on the context it returned"
            )
    return out
