"""UpdateStep: the SkillManager turns reflections into skillbook operations."""

from __future__ import annotations

from ace.pipeline.context import ACEStepContext
from ace.pipeline.protocol import SkillManagerLike
from ace.steps._fields import need, question_context


class UpdateStep:
    """Calls ``skill_manager.update_skills``; sets ``skill_manager_output``.

    ``question_context`` is the sample's question and context (or the trace's question);
    ``progress`` is e.g. ``"epoch 1/2, sample 3/10"``. Nothing is applied here:
    ``ApplyStep`` does that, so a pipeline can inspect or filter the operations first.
    """

    requires = frozenset({"reflections", "skillbook"})
    provides = frozenset({"skill_manager_output"})

    def __init__(self, skill_manager: SkillManagerLike) -> None:
        self.skill_manager = skill_manager

    def __call__(self, ctx: ACEStepContext) -> ACEStepContext:
        """Decide the operations for this sample's reflections."""
        output = self.skill_manager.update_skills(
            reflections=need(ctx.reflections, "reflections", "UpdateStep"),
            skillbook=need(ctx.skillbook, "skillbook", "UpdateStep"),
            question_context=question_context(ctx),
            progress=ctx.progress(),
        )
        return ctx.replace(skill_manager_output=output)
