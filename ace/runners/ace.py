"""ACE: the full loop over samples (answer, evaluate, learn) built from role objects."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from ace.environments import Sample, SimpleEnvironment, TaskEnvironment
from ace.pipeline import ACEStepContext, Pipeline, SampleResult, SkillbookView
from ace.pipeline.protocol import AgentLike, ReflectorLike, SkillManagerLike, StepProtocol
from ace.runners.base import ACERunner
from ace.skillbook import Skillbook
from ace.steps import AgentStep, EvaluateStep, learning_tail
from ace.steps.tail import DedupManagerLike


class ACE(ACERunner):
    """Answer each sample, judge it, and learn from it: Agent → Evaluate → learning tail."""

    def __init__(
        self,
        *,
        agent: AgentLike,
        reflector: ReflectorLike,
        skill_manager: SkillManagerLike,
        environment: TaskEnvironment | None = None,
        skillbook: Skillbook | None = None,
        dedup_manager: DedupManagerLike | None = None,
        checkpoint_dir: str | os.PathLike[str] | None = None,
        background: bool = True,
    ) -> None:
        book = skillbook if skillbook is not None else Skillbook()
        self.agent, self.reflector, self.skill_manager = agent, reflector, skill_manager
        self.environment = environment or SimpleEnvironment()
        self.dedup_manager, self.checkpoint_dir = dedup_manager, checkpoint_dir
        self.background = background
        super().__init__(Pipeline(self.build_steps(book), name="ACE"), book)

    @classmethod
    def from_roles(
        cls,
        *,
        agent: AgentLike,
        reflector: ReflectorLike,
        skill_manager: SkillManagerLike,
        environment: TaskEnvironment | None = None,
        skillbook: Skillbook | None = None,
        **options: Any,
    ) -> ACE:
        """Build the runner from ready role objects (any objects with the role protocols)."""
        return cls(
            agent=agent,
            reflector=reflector,
            skill_manager=skill_manager,
            environment=environment,
            skillbook=skillbook,
            **options,
        )

    def build_steps(self, skillbook: Skillbook) -> list[StepProtocol[Any]]:
        """The runner's steps, for recomposition into other pipelines."""
        return [
            AgentStep(self.agent),
            EvaluateStep(self.environment),
            *learning_tail(
                self.reflector,
                self.skill_manager,
                skillbook,
                self.dedup_manager,
                self.checkpoint_dir,
                background=self.background,
            ),
        ]

    def run(
        self, samples: Sequence[Sample], epochs: int = 1, *, wait: bool = True
    ) -> list[SampleResult[ACEStepContext]]:
        """Run every sample for ``epochs``; learning of one sample never blocks the next answer."""
        return self.run_epochs(
            lambda epoch, total: sample_contexts(samples, self.skillbook, epoch, total),
            epochs,
            wait=wait,
        )


def sample_contexts(
    samples: Sequence[Sample], skillbook: Skillbook, epoch: int, total_epochs: int
) -> list[ACEStepContext]:
    """One context per sample, with ids (``sample-<n>`` when a sample has none) and progress."""
    view = SkillbookView(skillbook)
    return [
        ACEStepContext(
            sample=s if s.id is not None else s.model_copy(update={"id": f"sample-{i}"}),
            skillbook=view,
            epoch=epoch,
            total_epochs=total_epochs,
            step_index=i,
            total_steps=len(samples),
        )
        for i, s in enumerate(samples)
    ]
