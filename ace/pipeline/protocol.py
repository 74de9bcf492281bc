"""The step contract, and the duck-typed role interfaces the standard steps call.

A step is any object with ``requires`` and ``provides`` (sets of context field names)
that is callable with a context and returns a new context. It may also define
``async def __call__``; the synchronous ``Pipeline.run`` then runs the coroutine to
completion in the calling thread (an async runner can await it natively).

An optional ``async_boundary = True`` (class or instance attribute) marks the step from
which a top-level pipeline runs the rest of its steps in the background.
"""

from __future__ import annotations

from collections.abc import Sequence, Set
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

if TYPE_CHECKING:
    from ace.outputs import AgentOutput, ReflectorOutput, SkillManagerOutput
    from ace.skillbook import Skill

CtxT = TypeVar("CtxT")


@runtime_checkable
class StepProtocol(Protocol[CtxT]):
    """One unit of pipeline work: reads ``requires`` fields, returns a context with ``provides`` set."""

    @property
    def requires(self) -> Set[str]:
        """Context fields that must be set before this step runs."""
        ...

    @property
    def provides(self) -> Set[str]:
        """Context fields this step sets on the context it returns."""
        ...

    def __call__(self, ctx: CtxT, /) -> CtxT:
        """Return a new context (``ctx.replace(...)``); never mutate ``ctx``."""
        ...


@runtime_checkable
class PipelineHook(Protocol):
    """Observes a pipeline's steps; never changes the context.

    ``before_step(name, ctx)`` runs before each step of the pipeline it was given to,
    ``after_step(name, ctx)`` after the step succeeded, with the step's output. Both
    run in the thread that runs the step (the background worker for tail steps), so
    keep them quick. A hook that raises is logged and ignored. Either method may be
    left out.
    """

    def before_step(self, step_name: str, ctx: Any) -> None:
        """Called before the step runs."""
        ...

    def after_step(self, step_name: str, ctx: Any) -> None:
        """Called after the step returned ``ctx``."""
        ...


@runtime_checkable
class SkillbookReader(Protocol):
    """What roles may read from a skillbook; satisfied by Skillbook and SkillbookView."""

    def as_prompt(self) -> str:
        """The skills as prompt text."""
        ...

    def get_skill(self, skill_id: str) -> Skill | None:
        """The skill with this id, or None."""
        ...

    def cited_ids(self, text: str) -> list[str]:
        """Ids of existing skills cited as ``[id]`` in ``text``."""
        ...


class AgentLike(Protocol):
    """Anything that answers a question with the skillbook's help (e.g. ``ace.roles.Agent``)."""

    def generate(
        self,
        *,
        question: str,
        context: str,
        skillbook: SkillbookReader,
    ) -> AgentOutput:
        """Answer ``question`` (implementations may take more optional arguments)."""
        ...


class ReflectorLike(Protocol):
    """Anything that analyses an attempt or a trace (e.g. ``Reflector``, ``RRStep``)."""

    def reflect(
        self,
        *,
        question: str,
        agent_output: AgentOutput,
        skillbook: SkillbookReader,
        ground_truth: str | None = None,
        feedback: str | None = None,
        trace: Any | None = None,
    ) -> ReflectorOutput:
        """Say what went right or wrong and what to learn."""
        ...


class SkillManagerLike(Protocol):
    """Anything that turns reflections into skillbook operations (e.g. ``SkillManager``)."""

    def update_skills(
        self,
        *,
        reflections: Sequence[ReflectorOutput],
        skillbook: SkillbookReader,
        question_context: str,
        progress: str,
    ) -> SkillManagerOutput:
        """Decide the ADD/UPDATE/TAG/REMOVE operations for these reflections."""
        ...
