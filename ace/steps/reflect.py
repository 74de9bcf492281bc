"""ReflectStep: the Reflector analyses an attempt (or a recorded trace)."""

from __future__ import annotations

from ace.errors import UsageError
from ace.pipeline.context import ACEStepContext
from ace.pipeline.protocol import ReflectorLike
from ace.steps._fields import reflect_arguments

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
        arguments = reflect_arguments(ctx, from_trace=self.from_trace, step="ReflectStep")
        reflection = self.reflector.reflect(**arguments)
        return ctx.replace(reflections=(reflection,))
