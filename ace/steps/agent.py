"""AgentStep: the Agent answers the sample with the skillbook's help."""

from __future__ import annotations

from ace.pipeline.context import ACEStepContext
from ace.pipeline.protocol import AgentLike
from ace.steps._fields import need


class AgentStep:
    """Calls ``agent.generate`` for ``ctx.sample``; sets ``agent_output``."""

    requires = frozenset({"sample", "skillbook"})
    provides = frozenset({"agent_output"})

    def __init__(self, agent: AgentLike) -> None:
        self.agent = agent

    def __call__(self, ctx: ACEStepContext) -> ACEStepContext:
        """Answer the sample; the agent sees the skillbook through a read-only view."""
        sample = need(ctx.sample, "sample", "AgentStep")
        output = self.agent.generate(
            question=sample.question,
            context=sample.context,
            skillbook=need(ctx.skillbook, "skillbook", "AgentStep"),
        )
        return ctx.replace(agent_output=output)
