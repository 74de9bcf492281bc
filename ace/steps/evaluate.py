"""EvaluateStep: an environment judges the Agent's answer."""

from __future__ import annotations

from ace.environments import TaskEnvironment
from ace.pipeline.context import ACEStepContext
from ace.steps._fields import need


class EvaluateStep:
    """Calls ``environment.evaluate(sample, agent_output)``; sets ``environment_result``."""

    requires = frozenset({"sample", "agent_output"})
    provides = frozenset({"environment_result"})

    def __init__(self, environment: TaskEnvironment) -> None:
        self.environment = environment

    def __call__(self, ctx: ACEStepContext) -> ACEStepContext:
        """Judge the answer; the feedback later reaches the Reflector."""
        result = self.environment.evaluate(
            need(ctx.sample, "sample", "EvaluateStep"),
            need(ctx.agent_output, "agent_output", "EvaluateStep"),
        )
        return ctx.replace(environment_result=result)
