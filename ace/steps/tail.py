"""``learning_tail``: the standard learning steps, in their fixed order."""

from __future__ import annotations

import os
from typing import Any, Protocol

from ace.errors import UsageError
from ace.pipeline.protocol import ReflectorLike, SkillManagerLike, StepProtocol
from ace.skillbook import Skillbook
from ace.steps.apply import ApplyStep
from ace.steps.checkpoint import CheckpointStep
from ace.steps.reflect import ReflectStep
from ace.steps.update import UpdateStep


class DedupManagerLike(Protocol):
    """Anything that can supply a deduplication step for a skillbook."""

    def as_step(self, skillbook: Skillbook) -> StepProtocol[Any]:
        """A step that merges near-duplicate skills in ``skillbook``."""
        ...


def learning_tail(
    reflector: ReflectorLike | None,
    skill_manager: SkillManagerLike,
    skillbook: Skillbook,
    dedup_manager: DedupManagerLike | None = None,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    *,
    dedup_interval: int | None = None,
    checkpoint_interval: int | None = None,
    checkpoint_every: int | None = None,
    from_trace: bool = False,
    background: bool = False,
) -> list[StepProtocol[Any]]:
    """The learning steps: Reflect → Update → Apply → [Deduplicate] → [Checkpoint].

    The order is fixed: operations must exist before they are applied, deduplication
    works on the applied skills, and a checkpoint should hold everything learned from
    the sample. ``skillbook`` is the real one (Apply, Deduplicate and Checkpoint change
    or save it); the roles see the context's read-only view.

    ``from_trace=True`` reflects on ``ctx.trace`` with no Agent answer (trace analysis).
    ``background=True`` marks the ReflectStep as the pipeline's async boundary, so the
    whole tail runs on the background worker and answering never waits for learning.
    A ``dedup_manager`` contributes its step through ``as_step(skillbook)``.

    ``dedup_interval`` and ``checkpoint_interval`` (``checkpoint_every`` is this
    package's first name) set how many samples pass between deduplications and
    checkpoints; unset, deduplication follows the manager's config and checkpoints are
    taken after every sample (the established defaults are 10). ``reflector`` may be
    None when you drop the first step, as in ``learning_tail(None, sm, book)[1:]``
    after a reflecting step of your own such as ``RRStep``.
    """
    steps: list[StepProtocol[Any]] = [
        ReflectStep(reflector, from_trace=from_trace, async_boundary=background),
        UpdateStep(skill_manager),
        ApplyStep(skillbook),
    ]
    if dedup_manager is not None:
        as_step = getattr(dedup_manager, "as_step", None)
        if as_step is None:
            raise UsageError(
                f"learning_tail: dedup_manager {type(dedup_manager).__name__} has no "
                "as_step(skillbook) method returning a pipeline step"
            )
        steps.append(
            as_step(skillbook)
            if dedup_interval is None
            else as_step(skillbook, interval=dedup_interval)
        )
    if checkpoint_dir is not None:
        steps.append(
            CheckpointStep(
                checkpoint_dir, skillbook, interval=checkpoint_interval, every=checkpoint_every
            )
        )
    return steps
