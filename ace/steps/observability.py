"""ObservabilityStep: report what one sample did to the skillbook (logs, logfire, a callback)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ace.pipeline.context import ACEStepContext
from ace.steps._fields import task_sample

logger = logging.getLogger("ace.steps")


class ObservabilityStep:
    """Reports per-sample learning metrics; the context passes through unchanged.

    The metrics are ``skill_count`` and, when the context has them, ``key_insight``,
    ``learnings_count``, ``operations_count``, ``applied_count``/``skipped_count``,
    ``trace_type``, ``epoch`` and ``sample_id``. They are logged at INFO on the
    ``ace.steps`` logger, sent as a ``ace.observability`` logfire span when logfire is
    configured in this process, and passed to ``sink(metrics)`` when one is given. A
    failing sink is logged and ignored: observing must never cost the learning.
    """

    requires = frozenset({"skillbook"})
    provides: frozenset[str] = frozenset()

    def __init__(self, sink: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.sink = sink

    def __call__(self, ctx: ACEStepContext) -> ACEStepContext:
        """Compute, log and forward the metrics."""
        metrics = learning_metrics(ctx)
        logger.info("ObservabilityStep: %s", metrics)
        from ace.rr._tracing import span

        with span("ace.observability", **metrics):
            pass
        if self.sink is not None:
            try:
                self.sink(metrics)
            except Exception:
                logger.exception("ObservabilityStep: the sink raised; ignored")
        return ctx


def learning_metrics(ctx: ACEStepContext) -> dict[str, Any]:
    """The metrics ``ObservabilityStep`` reports for ``ctx`` (JSON-ready values)."""
    metrics: dict[str, Any] = {
        "skill_count": len(ctx.skillbook) if ctx.skillbook is not None else 0,
        "epoch": ctx.epoch,
    }
    sample = task_sample(ctx)
    if sample is not None and sample.id is not None:
        metrics["sample_id"] = sample.id
    if ctx.reflections:
        metrics["key_insight"] = ctx.reflections[-1].key_insight
        metrics["learnings_count"] = sum(len(r.extracted_learnings) for r in ctx.reflections)
    if ctx.skill_manager_output is not None:
        metrics["operations_count"] = len(ctx.skill_manager_output.update.operations)
    if ctx.update_report is not None:
        metrics["applied_count"] = len(ctx.update_report.applied)
        metrics["skipped_count"] = len(ctx.update_report.skipped)
    if ctx.trace is not None:
        metrics["trace_type"] = type(ctx.trace).__name__
    return metrics
