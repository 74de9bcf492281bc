"""Helpers shared by the standard steps."""

from __future__ import annotations

from typing import TypeVar

from ace.environments import Sample
from ace.errors import PipelineContractError
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
