"""ReflectStep: the Reflector analyses an attempt (or a recorded trace)."""

from __future__ import annotations

from ace.errors import UsageError
from ace.outputs import AgentOutput
from ace.pipeline.context import ACEStepContext
from ace.pipeline.protocol import ReflectorLike
from ace.steps._fields import need, trace_attr
from ace.steps.evaluate import is_attempt_record

_LIVE = frozenset({"sample", "agent_output", "skillbook"})
_TRACE = frozenset({"trace", "skillbook"})


class ReflectStep:
    """Calls ``reflector.reflect``; sets ``reflections`` to a one-element tuple.

    Live mode (default) needs the sample and the Agent's answer; an
    ``environment_result``, when present, supplies feedback and ground truth, and a
    ``trace``, when present, is passed along. ``from_trace=True`` is for learning from
    recorded traces (no Agent ran): it needs only ``trace`` and ``skillbook`` and takes
    the question, final answer, ground truth and feedback from the trace, where present.

    ``async_boundary=True`` makes this step, and everything after it, run in a
    pipeline's background tail (see ``learning_tail(background=True)``).
    """

    provides = frozenset({"reflections"})

    def __init__(
        self,
        reflector: ReflectorLike | None,
        *,
        from_trace: bool = False,
        async_boundary: bool = False,
    ) -> None:
        self.reflector = reflector
        self.from_trace = from_trace
        self.requires = _TRACE if from_trace else _LIVE
        self.async_boundary = async_boundary

    def __call__(self, ctx: ACEStepContext) -> ACEStepContext:
        """Reflect on this sample or trace."""
        if self.reflector is None:
            raise UsageError(
                "ReflectStep has no reflector: pass one, or drop this step as in "
                "learning_tail(None, skill_manager, skillbook)[1:] after your own reflecting step"
            )
        skillbook = need(ctx.skillbook, "skillbook", "ReflectStep")
        if self.from_trace:
            trace = need(ctx.trace, "trace", "ReflectStep")
            reflection = self.reflector.reflect(
                question=_text(trace_attr(trace, "question")) or "",
                agent_output=AgentOutput(final_answer=_text(trace_attr(trace, "final_answer"))),
                skillbook=skillbook,
                ground_truth=_text(trace_attr(trace, "ground_truth")) or None,
                feedback=_text(trace_attr(trace, "feedback")) or None,
                trace=trace,
            )
        else:
            sample = need(ctx.sample, "sample", "ReflectStep")
            env = ctx.environment_result
            reflection = self.reflector.reflect(
                question=sample.question,
                agent_output=need(ctx.agent_output, "agent_output", "ReflectStep"),
                skillbook=skillbook,
                ground_truth=(env.ground_truth if env else None) or sample.ground_truth,
                feedback=env.feedback if env else _feedback_of(ctx.trace),
                trace=None if is_attempt_record(ctx.trace) else ctx.trace,
            )
        return ctx.replace(reflections=(reflection,))


def _feedback_of(trace: object) -> str | None:
    value = trace.get("feedback") if isinstance(trace, dict) else None
    return str(value) if value else None


def _text(value: object) -> str:
    return "" if value is None else str(value)
