"""AgentStep: the Agent answers the sample with the skillbook's help."""

from __future__ import annotations

from ace.pipeline.context import ACEStepContext, SkillbookView
from ace.pipeline.protocol import AgentLike
from ace.skillbook import Skillbook
from ace.steps._fields import need


class AgentStep:
    """Calls ``agent.generate`` for ``ctx.sample``; sets ``agent_output``.

    The agent reads the context's skillbook view. ``AgentStep(agent, skillbook)`` binds a
    skillbook to the step instead (used when a context carries none), so the step then
    requires only ``sample``.
    """

    provides = frozenset({"agent_output"})

    def __init__(
        self, agent: AgentLike, skillbook: Skillbook | SkillbookView | None = None
    ) -> None:
        self.agent = agent
        self.skillbook = SkillbookView(skillbook) if isinstance(skillbook, Skillbook) else skillbook
        self.requires = frozenset({"sample"} if skillbook is not None else {"sample", "skillbook"})

    def __call__(self, ctx: ACEStepContext) -> ACEStepContext:
        """Answer the sample; the agent sees the skillbook through a read-only view."""
        sample = need(ctx.sample, "sample", "AgentStep")
        book = ctx.skillbook if ctx.skillbook is not None else self.skillbook
        output = self.agent.generate(
            question=sample.question,
            context=sample.context,
            skillbook=need(book, "skillbook", "AgentStep"),
        )
        return ctx.replace(agent_output=output)
