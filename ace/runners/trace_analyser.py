"""TraceAnalyser: learn from recorded traces without re-running the tasks."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ace.pipeline import ACEStepContext, CancellationToken, Pipeline, SampleResult
from ace.pipeline.protocol import ReflectorLike, SkillManagerLike, StepProtocol
from ace.runners._hybrid import class_or_instance_method, own_defaults
from ace.runners.ace import _require_roles
from ace.runners.base import ACERunner
from ace.skillbook import Skillbook
from ace.steps import LoadTracesStep, learning_tail
from ace.steps.tail import DedupManagerLike

if TYPE_CHECKING:
    from ace.executors import Executor


class TraceAnalyser(ACERunner):
    """Reflect on each recorded trace and turn the lessons into skills.

    Traces may be files (JSON, JSONL, a directory) or loaded objects in any shape the
    loaders accept; evaluation labels are split off before the reflector sees anything.
    The reflector may be the single-pass ``Reflector`` or the Recursive Reflector.
    """

    def __init__(
        self,
        pipeline: Pipeline | None = None,
        skillbook: Skillbook | None = None,
        *,
        reflector: ReflectorLike | None = None,
        skill_manager: SkillManagerLike | None = None,
        dedup_manager: DedupManagerLike | None = None,
        dedup_interval: int | None = None,
        checkpoint_dir: str | os.PathLike[str] | None = None,
        checkpoint_interval: int | None = None,
        extra_steps: Sequence[StepProtocol[Any]] | None = None,
    ) -> None:
        book = skillbook if skillbook is not None else Skillbook()
        self.reflector, self.skill_manager = reflector, skill_manager
        self.dedup_manager, self.checkpoint_dir = dedup_manager, checkpoint_dir
        self.dedup_interval, self.checkpoint_interval = dedup_interval, checkpoint_interval
        self.extra_steps = list(extra_steps or ())
        if pipeline is None:
            pipeline = Pipeline(self.build_steps(book), name="TraceAnalyser")
        super().__init__(pipeline, book)

    @classmethod
    def from_roles(
        cls,
        *,
        reflector: ReflectorLike,
        skill_manager: SkillManagerLike,
        skillbook: Skillbook | None = None,
        **options: Any,
    ) -> TraceAnalyser:
        """Build the analyser from ready role objects.

        ``options``: ``dedup_manager``, ``dedup_interval``, ``checkpoint_dir``,
        ``checkpoint_interval``, ``extra_steps``.
        """
        return cls(reflector=reflector, skill_manager=skill_manager, skillbook=skillbook, **options)

    @class_or_instance_method
    def build_steps(
        owner: Any,
        skillbook: Skillbook | None = None,
        *,
        reflector: ReflectorLike | None = None,
        skill_manager: SkillManagerLike | None = None,
        dedup_manager: DedupManagerLike | None = None,
        dedup_interval: int | None = None,
        checkpoint_dir: str | os.PathLike[str] | None = None,
        checkpoint_interval: int | None = None,
        extra_steps: Sequence[StepProtocol[Any]] | None = None,
    ) -> list[StepProtocol[Any]]:
        """Load → Reflect (from the trace) → Update → Apply → [Deduplicate] → [Checkpoint]
        → extra steps.

        Callable on the class with the roles (the established classmethod) or on an
        instance (its own roles are the defaults). The first step loads ``ctx.sample``
        (a trace, raw trace data or a trace file path) into ``ctx.trace``, so the steps
        also run under ``ACERunner(pipeline=Pipeline(steps)).run(traces)``.
        """
        got = own_defaults(
            owner,
            reflector=reflector,
            skill_manager=skill_manager,
            skillbook=skillbook,
            dedup_manager=dedup_manager,
            dedup_interval=dedup_interval,
            checkpoint_dir=checkpoint_dir,
            checkpoint_interval=checkpoint_interval,
            extra_steps=extra_steps,
        )
        _require_roles("TraceAnalyser.build_steps", got, ("reflector", "skill_manager"))
        return [
            LoadTracesStep(),
            *learning_tail(
                got["reflector"],
                got["skill_manager"],
                got["skillbook"] if got["skillbook"] is not None else Skillbook(),
                got["dedup_manager"],
                got["checkpoint_dir"],
                dedup_interval=got["dedup_interval"],
                checkpoint_interval=got["checkpoint_interval"],
                from_trace=True,
            ),
            *(got["extra_steps"] or ()),
        ]

    def run(
        self,
        traces: Any,
        epochs: int = 1,
        *,
        wait: bool = True,
        cancel_token: CancellationToken | None = None,
        executor: Executor | None = None,
    ) -> list[SampleResult[ACEStepContext]]:
        """Learn from ``traces`` (a path, or a list of loaded traces) for ``epochs``.

        Every trace is parsed once, before any model call (a bad one raises then), and
        each epoch reuses the parsed traces.

        With an ``executor`` (``LocalExecutor(jobs=4)``, later a Ray one) the reflections
        run on it, ``jobs`` at a time, each reading the skillbook as it was when the
        epoch began; the SkillManager and the skillbook updates run here, in input
        order, so the skillbook is the same whatever order the reflections finish in
        (see ``ace.runners._parallel``). Results come back in input order.
        """
        from ace.traces import load_traces

        loaded = load_traces(traces)
        if executor is not None:
            from ace.runners._parallel import run_on_executor

            return run_on_executor(self, loaded, epochs, executor, cancel_token)
        return super().run(loaded, epochs, wait=wait, cancel_token=cancel_token)
