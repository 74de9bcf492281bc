"""ACE: the full loop over samples (answer, evaluate, learn) built from role objects."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from ace.environments import SimpleEnvironment, TaskEnvironment
from ace.errors import UsageError
from ace.pipeline import Pipeline
from ace.pipeline.protocol import AgentLike, ReflectorLike, SkillManagerLike, StepProtocol
from ace.runners._hybrid import class_or_instance_method, own_defaults
from ace.runners.base import ACERunner
from ace.skillbook import Skillbook
from ace.steps import AgentStep, EvaluateStep, learning_tail
from ace.steps.tail import DedupManagerLike


class ACE(ACERunner):
    """Answer each sample, judge it, and learn from it: Agent → Evaluate → learning tail.

    Build it from roles (``ACE(agent=..., reflector=..., skill_manager=...)`` or
    ``ACE.from_roles(...)``), or from a pipeline you composed (``ACE(pipeline=...,
    skillbook=...)``, as ``ACERunner``). Without an environment, answers are judged by
    ``SimpleEnvironment`` against the samples' ground truth.
    """

    def __init__(
        self,
        pipeline: Pipeline | None = None,
        skillbook: Skillbook | None = None,
        *,
        agent: AgentLike | None = None,
        reflector: ReflectorLike | None = None,
        skill_manager: SkillManagerLike | None = None,
        environment: TaskEnvironment | None = None,
        dedup_manager: DedupManagerLike | None = None,
        dedup_interval: int | None = None,
        checkpoint_dir: str | os.PathLike[str] | None = None,
        checkpoint_interval: int | None = None,
        extra_steps: Sequence[StepProtocol[Any]] | None = None,
        background: bool = True,
    ) -> None:
        book = skillbook if skillbook is not None else Skillbook()
        self.agent, self.reflector, self.skill_manager = agent, reflector, skill_manager
        self.environment = environment or SimpleEnvironment()
        self.dedup_manager, self.checkpoint_dir = dedup_manager, checkpoint_dir
        self.dedup_interval, self.checkpoint_interval = dedup_interval, checkpoint_interval
        self.extra_steps = list(extra_steps or ())
        self.background = background
        if pipeline is None:
            pipeline = Pipeline(self.build_steps(book), name="ACE")
        super().__init__(pipeline, book)

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
        """Build the runner from ready role objects (any objects with the role protocols).

        ``options``: ``dedup_manager``, ``dedup_interval``, ``checkpoint_dir``,
        ``checkpoint_interval``, ``extra_steps``, ``background``.
        """
        return cls(
            agent=agent,
            reflector=reflector,
            skill_manager=skill_manager,
            environment=environment,
            skillbook=skillbook,
            **options,
        )

    @class_or_instance_method
    def build_steps(
        owner: Any,
        skillbook: Skillbook | None = None,
        *,
        agent: AgentLike | None = None,
        reflector: ReflectorLike | None = None,
        skill_manager: SkillManagerLike | None = None,
        environment: TaskEnvironment | None = None,
        dedup_manager: DedupManagerLike | None = None,
        dedup_interval: int | None = None,
        checkpoint_dir: str | os.PathLike[str] | None = None,
        checkpoint_interval: int | None = None,
        extra_steps: Sequence[StepProtocol[Any]] | None = None,
        background: bool | None = None,
    ) -> list[StepProtocol[Any]]:
        """The steps the runner runs, for inspection and recomposition.

        On the class (the established classmethod) pass the roles:
        ``ACE.build_steps(agent=..., reflector=..., skill_manager=..., environment=...)``;
        pass ``skillbook=`` the one you will give the runner, since the learning steps
        write into it (a new one otherwise). On an instance the runner's own roles and
        settings are the defaults. Order: Agent → Evaluate → Reflect → Update → Apply →
        [Deduplicate] → [Checkpoint] → extra steps.
        """
        got = own_defaults(
            owner,
            agent=agent,
            reflector=reflector,
            skill_manager=skill_manager,
            skillbook=skillbook,
            environment=environment,
            dedup_manager=dedup_manager,
            dedup_interval=dedup_interval,
            checkpoint_dir=checkpoint_dir,
            checkpoint_interval=checkpoint_interval,
            extra_steps=extra_steps,
            background=background,
        )
        _require_roles("ACE.build_steps", got, ("agent", "reflector", "skill_manager"))
        return [
            AgentStep(got["agent"]),
            EvaluateStep(got["environment"] or SimpleEnvironment()),
            *learning_tail(
                got["reflector"],
                got["skill_manager"],
                got["skillbook"] if got["skillbook"] is not None else Skillbook(),
                got["dedup_manager"],
                got["checkpoint_dir"],
                dedup_interval=got["dedup_interval"],
                checkpoint_interval=got["checkpoint_interval"],
                background=got["background"] if got["background"] is not None else True,
            ),
            *(got["extra_steps"] or ()),
        ]


def _require_roles(where: str, given: dict[str, Any], roles: tuple[str, ...] | None = None) -> None:
    missing = [name for name in (roles or tuple(given)) if given[name] is None]
    if missing:
        raise UsageError(f"{where}: missing {', '.join(missing)}; pass each role as a keyword")
