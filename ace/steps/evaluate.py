"""EvaluateStep: an environment judges the Agent's answer; the attempt becomes a trace."""

from __future__ import annotations

from typing import Any

from ace.environments import TaskEnvironment
from ace.pipeline.context import ACEStepContext
from ace.steps._fields import need

ATTEMPT_KEYS = frozenset(
    {"question", "context", "ground_truth", "reasoning", "answer", "skill_ids", "feedback"}
)
"""The keys of the attempt record ``EvaluateStep`` puts in ``ctx.trace``."""


class EvaluateStep:
    """Judges the answer and records the attempt; sets ``trace`` (and ``environment_result``).

    With an environment, ``environment.evaluate(sample, agent_output)`` gives
    ``environment_result``. In every case the step sets ``trace`` to the attempt record
    the established package uses: a dict with ``question``, ``context``,
    ``ground_truth``, ``reasoning``, ``answer``, ``skill_ids`` and ``feedback``, so a
    trace-based reflector such as ``RRStep`` can follow directly. A trace already on the
    context (e.g. from an integration's execute step) is kept, not replaced.
    ``environment=None`` judges nothing: ``provides`` is then ``{"trace"}`` only.
    """

    requires = frozenset({"sample", "agent_output"})

    def __init__(self, environment: TaskEnvironment | None = None) -> None:
        self.environment = environment
        self.provides = frozenset(
            {"trace", "environment_result"} if environment is not None else {"trace"}
        )

    def __call__(self, ctx: ACEStepContext) -> ACEStepContext:
        """Judge the answer; the feedback later reaches the Reflector."""
        sample = need(ctx.sample, "sample", "EvaluateStep")
        output = need(ctx.agent_output, "agent_output", "EvaluateStep")
        result = self.environment.evaluate(sample, output) if self.environment is not None else None
        changes: dict[str, Any] = {}
        if result is not None:
            changes["environment_result"] = result
        if ctx.trace is None:
            changes["trace"] = {
                "question": sample.question,
                "context": sample.context,
                "ground_truth": (result.ground_truth if result else None) or sample.ground_truth,
                "reasoning": output.reasoning,
                "answer": output.final_answer,
                "skill_ids": list(output.skill_ids),
                "feedback": result.feedback if result is not None else None,
            }
        return ctx.replace(**changes)


def is_attempt_record(trace: object) -> bool:
    """True for the attempt dict ``EvaluateStep`` builds (it adds nothing to the reflector's
    own arguments, so live reflection leaves it out of the prompt)."""
    return isinstance(trace, dict) and bool(trace) and set(trace) <= ATTEMPT_KEYS
