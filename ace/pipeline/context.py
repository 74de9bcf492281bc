"""Immutable contexts that flow through a pipeline, and the read-only skillbook view.

A step never changes the context it receives: it returns ``ctx.replace(field=value)``.
A field is *set* when it is not None; ``requires``/``provides`` contracts are checked
against that rule, so fields default to None (``epoch`` and ``metadata`` are always set).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Self

from ace.environments import EnvironmentResult, Sample
from ace.outputs import AgentOutput, ReflectorOutput, SkillManagerOutput
from ace.updates import UpdateReport

if TYPE_CHECKING:
    from ace.skillbook import Skill, Skillbook


def _empty_metadata() -> Mapping[str, Any]:
    return MappingProxyType({})


@dataclass(frozen=True, kw_only=True)
class StepContext:
    """Base of every pipeline context: frozen, with ``replace`` and field-is-set queries.

    Subclass it (keeping ``frozen=True, kw_only=True``) to carry other data through a
    pipeline; the engine only relies on ``replace``, ``is_set`` and ``field_names``.
    """

    sample: Any = None
    """The input item this context carries (the established engine's one named field)."""
    metadata: Mapping[str, Any] = field(default_factory=_empty_metadata)
    """Free-form read-only data (a copy of what was given, wrapped in MappingProxyType)."""

    def __post_init__(self) -> None:
        # Copy, then wrap: the caller's dict may change later; the context must not.
        object.__setattr__(self, "metadata", MappingProxyType(dict(self.metadata)))

    def replace(self, **changes: Any) -> Self:
        """A new context with ``changes`` applied; this one is left untouched."""
        return dataclasses.replace(self, **changes)

    def is_set(self, name: str) -> bool:
        """True when ``name`` is a field of this context and its value is not None."""
        return name in self.field_names() and getattr(self, name) is not None

    def set_fields(self) -> frozenset[str]:
        """The names of all fields whose value is not None."""
        return frozenset(n for n in self.field_names() if getattr(self, n) is not None)

    @classmethod
    def field_names(cls) -> frozenset[str]:
        """The names of every field this context type declares."""
        return frozenset(f.name for f in dataclasses.fields(cls))


@dataclass(frozen=True, kw_only=True)
class ACEStepContext(StepContext):
    """The context of the standard ACE steps: one sample (or trace) on its way through."""

    sample: Sample | None = None
    """The task being answered; for trace-based learning it may be None."""
    skillbook: SkillbookView | None = None
    """A read-only, live view of the skillbook (mutating steps hold the real one)."""
    trace: Any | None = None
    """A normalised trace (``ace.traces.Trace``) or a raw trace object to learn from."""
    agent_output: AgentOutput | None = None
    environment_result: EnvironmentResult | None = None
    reflections: tuple[ReflectorOutput, ...] | None = None
    """What the reflector(s) concluded; a tuple so several reflections can be merged."""
    skill_manager_output: SkillManagerOutput | None = None
    update_report: UpdateReport | None = None
    epoch: int = 1
    """1-based epoch number."""
    total_epochs: int | None = None
    step_index: int | None = None
    """0-based position of this sample within its epoch."""
    total_steps: int | None = None
    """Number of samples in the epoch, when known."""
    global_sample_index: int | None = None
    """0-based position of this sample across all epochs of a run, when a runner sets it."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.reflections is not None and not isinstance(self.reflections, tuple):
            object.__setattr__(self, "reflections", tuple(self.reflections))

    def progress(self) -> str:
        """A short progress note such as ``"epoch 1/2, sample 3/10"`` for prompts and logs."""
        parts = [f"epoch {self.epoch}" + (f"/{self.total_epochs}" if self.total_epochs else "")]
        if self.step_index is not None:
            total = f"/{self.total_steps}" if self.total_steps else ""
            parts.append(f"sample {self.step_index + 1}{total}")
        return ", ".join(parts)


def trace_id_of(trace: Any) -> str | None:
    """The ``id`` of a trace object or dict, as a string, or None when it has none."""
    value = trace.get("id") if isinstance(trace, Mapping) else getattr(trace, "id", None)
    return None if value is None else str(value)


class SkillbookView:
    """A read-only window onto a live Skillbook, safe to hand to any step or role.

    Reads go to the underlying skillbook (so learning applied in the background is
    visible to later samples) and return copies of skills, never the stored objects.
    There are no mutators and attributes cannot be assigned. Steps that must change the
    skillbook (``ApplyStep``, ``CheckpointStep``) are given the real Skillbook when they
    are constructed; the view deliberately offers no way back to it.
    """

    __slots__ = ("__book",)
    __book: Skillbook

    def __init__(self, skillbook: Skillbook) -> None:
        object.__setattr__(self, "_SkillbookView__book", skillbook)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"SkillbookView is read-only; cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"SkillbookView is read-only; cannot delete {name!r}")

    def __len__(self) -> int:
        return len(self.__book)

    def __contains__(self, skill_id: object) -> bool:
        return isinstance(skill_id, str) and self.__book.get_skill(skill_id) is not None

    def __repr__(self) -> str:
        return f"SkillbookView({self.__book!r})"

    def as_prompt(self) -> str:
        """The active skills as compact prompt text (see ``Skillbook.as_prompt``)."""
        return self.__book.as_prompt()

    def get_skill(self, skill_id: str) -> Skill | None:
        """A copy of the skill with this id, or None."""
        skill = self.__book.get_skill(skill_id)
        return skill.model_copy(deep=True) if skill is not None else None

    def skills(self, include_inactive: bool = False) -> list[Skill]:
        """Copies of the skills in insertion order (inactive ones only when asked)."""
        return [s.model_copy(deep=True) for s in self.__book.skills(include_inactive)]

    def sections(self) -> list[str]:
        """Section names of active skills, in first-appearance order."""
        return self.__book.sections()

    def cited_ids(self, text: str) -> list[str]:
        """Ids of existing skills cited as ``[id]`` in ``text``."""
        return self.__book.cited_ids(text)

    def stats(self) -> dict[str, Any]:
        """Counts of skills, sections and tags."""
        return self.__book.stats()

    def to_dict(self) -> dict[str, Any]:
        """A fresh JSON-ready dict of the skillbook (changing it changes nothing)."""
        return self.__book.to_dict()
