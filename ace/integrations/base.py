"""The contract an agent-framework integration implements, and the steps built on it.

An integration does two things: run a task with the skillbook's strategies injected
(``execute``) and describe the run as a trace (``to_trace``). Everything else (reflecting,
curating, applying, checkpoints) is the standard learning tail, so a new framework is one
module with one ``Integration`` subclass::

    class MyAgent(Integration):
        name = "my-agent"
        def execute(self, task, skills):      # skills: wrap_skillbook_context text
            return my_agent.run(task.question, system=skills)
        def to_trace(self, result, task):     # anything ace.traces loads
            return {"question": task.question, "steps": result.steps, "answer": result.text}

    runner = IntegrationRunner(MyAgent(), reflector=Reflector(m), skill_manager=SkillManager(m))
    runner.run(["task one", "task two"])

Pipeline view: ``ExecuteStep`` (requires ``sample``, ``skillbook``; provides ``trace``, the
framework's raw result) → ``ToTraceStep`` (``trace`` → a normalised ``ace.traces.Trace``)
→ ``learning_tail(..., from_trace=True)``.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from ace.environments import Sample
from ace.pipeline import ACEStepContext, CancellationToken, Pipeline, SampleResult
from ace.pipeline.protocol import ReflectorLike, SkillManagerLike, StepProtocol
from ace.runners.base import ACERunner
from ace.skillbook import Skillbook
from ace.steps import learning_tail
from ace.steps._fields import need
from ace.steps.tail import DedupManagerLike

RESULT_KEY = "integration_result"
"""Metadata key under which ``ToTraceStep`` keeps the framework's raw result."""


class Integration(ABC):
    """One agent framework: run a task with skills injected, and turn the run into a trace."""

    name: ClassVar[str] = "integration"
    skills_k: int | None = None
    """Inject only the ``k`` skills most relevant to the task (None: all of them)."""

    @abstractmethod
    def execute(self, task: Sample, skills: str) -> Any:
        """Run ``task`` with ``skills`` (text for the system prompt; "" when there are none)."""

    @abstractmethod
    def to_trace(self, result: Any, task: Sample) -> Any:
        """The run as a trace: a ``Trace``, or any record ``ace.traces.load_trace`` reads.

        Put the outcome in it when known (``feedback``, ``final_answer``/``answer``,
        ``ground_truth`` from the task): the reflector learns most from those.
        """


class ExecuteStep:
    """Runs the integration on ``ctx.sample`` with the skills injected; sets ``trace`` to
    the framework's raw result (``ToTraceStep`` normalises it)."""

    requires = frozenset({"sample", "skillbook"})
    provides = frozenset({"trace"})

    def __init__(self, integration: Integration) -> None:
        self.integration = integration

    def __call__(self, ctx: ACEStepContext) -> ACEStepContext:
        """Inject, run, keep the raw result."""
        from ace.integrations._context import wrap_skillbook_context

        task = need(ctx.sample, "sample", f"{type(self.integration).__name__} execute")
        skills = wrap_skillbook_context(
            need(ctx.skillbook, "skillbook", "ExecuteStep"),
            prompt=task.question,
            k=self.integration.skills_k,
        )
        return ctx.replace(trace=RawResult(self.integration.execute(task, skills)))


class ToTraceStep:
    """Turns the raw result in ``ctx.trace`` into a normalised ``Trace``; the raw result is
    kept in ``metadata["integration_result"]``."""

    requires = frozenset({"sample", "trace"})
    provides = frozenset({"trace"})

    def __init__(self, integration: Integration) -> None:
        self.integration = integration

    def __call__(self, ctx: ACEStepContext) -> ACEStepContext:
        """Describe the run as a trace."""
        from ace.traces import Trace, load_trace

        task = need(ctx.sample, "sample", "ToTraceStep")
        raw = ctx.trace.value if isinstance(ctx.trace, RawResult) else ctx.trace
        record = self.integration.to_trace(raw, task)
        trace = record if isinstance(record, Trace) else load_trace(record)
        if task.ground_truth and not trace.ground_truth:
            trace = trace.model_copy(update={"ground_truth": task.ground_truth})
        if not trace.question:
            trace = trace.model_copy(update={"question": task.question})
        return ctx.replace(trace=trace, metadata={**ctx.metadata, RESULT_KEY: raw})


class RawResult:
    """A framework's result in transit from ``ExecuteStep`` to a to-trace step (``value``);
    a to-trace step of your own unwraps it the same way (never a trace itself)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def integration_steps(
    integration: Integration,
    reflector: ReflectorLike,
    skill_manager: SkillManagerLike,
    skillbook: Skillbook,
    **tail_options: Any,
) -> list[StepProtocol[Any]]:
    """Execute → ToTrace → Reflect (on the trace) → Update → Apply → [Deduplicate] → [Checkpoint]."""
    return [
        ExecuteStep(integration),
        ToTraceStep(integration),
        *learning_tail(reflector, skill_manager, skillbook, from_trace=True, **tail_options),
    ]


class IntegrationRunner(ACERunner):
    """Runs tasks through an integration and learns from every run."""

    def __init__(
        self,
        integration: Integration,
        *,
        reflector: ReflectorLike,
        skill_manager: SkillManagerLike,
        skillbook: Skillbook | None = None,
        dedup_manager: DedupManagerLike | None = None,
        checkpoint_dir: str | os.PathLike[str] | None = None,
        is_learning: bool = True,
    ) -> None:
        book = skillbook if skillbook is not None else Skillbook()
        self.integration = integration
        self.reflector, self.skill_manager = reflector, skill_manager
        self.dedup_manager, self.checkpoint_dir = dedup_manager, checkpoint_dir
        self.is_learning = is_learning
        super().__init__(Pipeline(self._steps(book), name=f"{integration.name}"), book)

    def _steps(self, book: Skillbook) -> list[StepProtocol[Any]]:
        if not self.is_learning:
            return [ExecuteStep(self.integration), ToTraceStep(self.integration)]
        return integration_steps(
            self.integration,
            self.reflector,
            self.skill_manager,
            book,
            dedup_manager=self.dedup_manager,
            checkpoint_dir=self.checkpoint_dir,
        )

    def run(  # type: ignore[override]
        self,
        tasks: Iterable[str | Sample | Mapping[str, Any]],
        epochs: int = 1,
        *,
        wait: bool = True,
        cancel_token: CancellationToken | None = None,
    ) -> list[SampleResult[ACEStepContext]]:
        """Run each task (a string, a ``Sample`` or a dict of Sample fields) and learn."""
        samples = [_sample(task, i) for i, task in enumerate(tasks)]
        return super().run(samples, epochs, wait=wait, cancel_token=cancel_token)


def _sample(task: str | Sample | Mapping[str, Any], index: int) -> Sample:
    if isinstance(task, Sample):
        return task
    if isinstance(task, str):
        return Sample(question=task, id=f"task-{index}")
    if isinstance(task, Mapping):
        return Sample.model_validate(dict(task))
    from ace.errors import UsageError

    raise UsageError(f"task {index}: give a string, a Sample or a dict, got {type(task).__name__}")
