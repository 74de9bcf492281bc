"""Helpers shared by the standard steps."""

from __future__ import annotations

from typing import Any, TypeVar

from ace.environments import Sample
from ace.errors import PipelineContractError
from ace.outputs import AgentOutput
from ace.pipeline.context import ACEStepContext

T = TypeVar("T")


def need(value: T | None, field: str, step: str) -> T:
    """``value`` when set; a contract error naming ``step`` and ``field`` otherwise.

    Inside a pipeline the engine has already checked this; it matters when a step is
    called directly.
    """
    if value is None:
        raise PipelineContractError(f"step {step!r} requires {field!r}, but the context lacks it")
    return value


def task_sample(ctx: ACEStepContext) -> Sample | None:
    """``ctx.sample`` when it is a task ``Sample``; None when the sample is something else
    (a trace file path or raw trace that ``LoadTracesStep`` read)."""
    return ctx.sample if isinstance(ctx.sample, Sample) else None


def question_context(ctx: ACEStepContext) -> str:
    """The sample's question and context (or the trace's question), for role prompts."""
    sample = task_sample(ctx)
    if sample is not None:
        parts = [sample.question, sample.context]
    else:
        parts = [str(trace_attr(ctx.trace, "question") or "")]
    return "\n\n".join(p for p in parts if p)


def trace_attr(trace: object, name: str) -> object:
    """An attribute of a trace object, or a key of a trace dict; None when absent."""
    if isinstance(trace, dict):
        return trace.get(name)
    return getattr(trace, name, None)


def reflect_arguments(ctx: ACEStepContext, *, from_trace: bool, step: str) -> dict[str, Any]:
    """The keyword arguments of ``reflector.reflect`` for this context, read in one place
    for every step that reflects (``ReflectStep``, ``RRStep``).

    Live (``from_trace=False``): the sample's question, the Agent's answer, ground truth
    and feedback from the ``environment_result`` (ground truth falls back to the sample's,
    feedback to the ``feedback`` of a trace dict or ``Trace``), and the context's trace unless it is only the
    attempt record ``EvaluateStep`` builds. From a trace: question, final answer, ground
    truth and feedback are the trace's own fields (object attributes or dict keys), where
    present. ``step`` names the caller in contract errors.
    """
    from ace.steps.evaluate import is_attempt_record

    skillbook = need(ctx.skillbook, "skillbook", step)
    if from_trace:
        trace = need(ctx.trace, "trace", step)
        return {
            "question": _text(trace_attr(trace, "question")),
            "agent_output": AgentOutput(final_answer=_text(trace_attr(trace, "final_answer"))),
            "skillbook": skillbook,
            "ground_truth": _text(trace_attr(trace, "ground_truth")) or None,
            "feedback": _text(trace_attr(trace, "feedback")) or None,
            "trace": trace,
        }
    sample = need(ctx.sample, "sample", step)
    env = ctx.environment_result
    return {
        "question": sample.question,
        "agent_output": need(ctx.agent_output, "agent_output", step),
        "skillbook": skillbook,
        "ground_truth": (env.ground_truth if env else None) or sample.ground_truth,
        "feedback": env.feedback if env else _feedback_of(ctx.trace),
        "trace": None if is_attempt_record(ctx.trace) else ctx.trace,
    }


def _feedback_of(trace: object) -> str | None:
    from ace.traces import Trace

    value = trace_attr(trace, "feedback") if isinstance(trace, dict | Trace) else None
    return str(value) if value else None


def _text(value: object) -> str:
    return "" if value is None else str(value)
