"""ApplyStep: apply the SkillManager's operations to the skillbook, with provenance."""

from __future__ import annotations

from typing import Any

from ace.pipeline.context import ACEStepContext, trace_id_of
from ace.skillbook import Skillbook
from ace.steps._fields import need, task_sample


class ApplyStep:
    """Applies ``skill_manager_output.update`` to the real skillbook; sets ``update_report``.

    This step is built with the real ``Skillbook`` because the context only carries a
    read-only view. Every ADD and UPDATE records its source in the skill's ``sources``:
    the trace id (when ``ctx.trace`` has an ``id``), the sample id and the epoch.
    """

    requires = frozenset({"skill_manager_output"})
    provides = frozenset({"update_report"})

    def __init__(self, skillbook: Skillbook) -> None:
        self.skillbook = skillbook

    def __call__(self, ctx: ACEStepContext) -> ACEStepContext:
        """Apply the batch; operations naming missing skills are reported, not raised."""
        output = need(ctx.skill_manager_output, "skill_manager_output", "ApplyStep")
        report = self.skillbook.apply_update(output.update, source=provenance(ctx))
        return ctx.replace(update_report=report)


def provenance(ctx: ACEStepContext) -> dict[str, Any]:
    """The source recorded on skills changed while handling ``ctx``."""
    return {
        "trace_id": trace_id_of(ctx.trace),
        "sample_id": sample.id if (sample := task_sample(ctx)) is not None else None,
        "epoch": ctx.epoch,
    }
