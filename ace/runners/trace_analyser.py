"""TraceAnalyser: learn from recorded traces without re-running the tasks."""

from __future__ import annotations

import os
from typing import Any

from ace.pipeline import ACEStepContext, Pipeline, SampleResult
from ace.pipeline.protocol import ReflectorLike, SkillManagerLike, StepProtocol
from ace.runners.base import ACERunner
from ace.skillbook import Skillbook
from ace.steps import LoadTracesStep, learning_tail
from ace.steps.tail import DedupManagerLike


class TraceAnalyser(ACERunner):
    """Reflect on each recorded trace and turn the lessons into skills.

    Traces may be files (JSON, JSONL, a directory) or loaded objects in any shape the
    loaders accept; evaluation labels are split off before the reflector sees anything.
    The reflector may be the single-pass ``Reflector`` or the Recursive Reflector.
    """

    def __init__(
        self,
        *,
        reflector: ReflectorLike,
        skill_manager: SkillManagerLike,
        skillbook: Skillbook | None = None,
        dedup_manager: DedupManagerLike | None = None,
        checkpoint_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        book = skillbook if skillbook is not None else Skillbook()
        self.reflector, self.skill_manager = reflector, skill_manager
        self.dedup_manager, self.checkpoint_dir = dedup_manager, checkpoint_dir
        super().__init__(Pipeline(self.build_steps(book), name="TraceAnalyser"), book)

    def build_steps(self, skillbook: Skillbook) -> list[StepProtocol[Any]]:
        """Load → Reflect (from the trace) → Update → Apply → [Deduplicate] → [Checkpoint]."""
        return [
            LoadTracesStep(),
            *learning_tail(
                self.reflector,
                self.skill_manager,
                skillbook,
                self.dedup_manager,
                self.checkpoint_dir,
                from_trace=True,
            ),
        ]

    def run(self, traces: Any, epochs: int = 1) -> list[SampleResult[ACEStepContext]]:
        """Learn from ``traces`` (a path or loaded data) for ``epochs``."""
        from ace.traces import load_traces

        loaded = load_traces(traces)  # once: every epoch reuses the parsed traces
        return self.run_epochs(
            lambda epoch, total: LoadTracesStep.contexts_from(
                loaded, skillbook=self.skillbook, epoch=epoch, total_epochs=total
            ),
            epochs,
        )
