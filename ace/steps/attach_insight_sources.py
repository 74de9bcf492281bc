"""AttachInsightSourcesStep: stamp each ADD/UPDATE operation with where its insight came from."""

from __future__ import annotations

from typing import Any

from ace.pipeline.context import ACEStepContext
from ace.steps._fields import need, task_sample, trace_attr
from ace.steps.apply import provenance

SOURCE_KEY = "insight_source"
"""The operation metadata key holding the source record ``ApplyStep`` stores on the skill."""


class AttachInsightSourcesStep:
    """Adds an insight source to every ADD and UPDATE operation before ``ApplyStep``.

    The record (``operation.metadata["insight_source"]``) holds what ``ApplyStep``
    records anyway (trace id, sample id, epoch) plus the sample's question, the trace's
    source system when it names one, and the reflection's key insight; ``ApplyStep``
    stores it in the skill's ``sources``. A record the SkillManager already attached is
    completed, never overwritten. Put it between ``UpdateStep`` and ``ApplyStep``.
    """

    requires = frozenset({"skill_manager_output"})
    provides = frozenset({"skill_manager_output"})

    def __call__(self, ctx: ACEStepContext) -> ACEStepContext:
        """Return the context with a copy of the operations, each carrying its source."""
        output = need(ctx.skill_manager_output, "skill_manager_output", "AttachInsightSourcesStep")
        base = _source(ctx)
        operations = [
            op.model_copy(
                update={"metadata": {**op.metadata, SOURCE_KEY: {**base, **_given(op.metadata)}}}
            )
            if op.type in ("ADD", "UPDATE")
            else op
            for op in output.update.operations
        ]
        update = output.update.model_copy(update={"operations": operations})
        return ctx.replace(skill_manager_output=output.model_copy(update={"update": update}))


def _source(ctx: ACEStepContext) -> dict[str, Any]:
    record: dict[str, Any] = {k: v for k, v in provenance(ctx).items() if v is not None}
    sample = task_sample(ctx)
    question = sample.question if sample is not None else trace_attr(ctx.trace, "question")
    if question:
        record["sample_question"] = str(question)[:500]
    system = trace_attr(ctx.trace, "source_system") or trace_attr(ctx.trace, "format")
    if system:
        record["source_system"] = str(system)
    if ctx.reflections:
        record["key_insight"] = ctx.reflections[-1].key_insight
    return record


def _given(metadata: dict[str, Any]) -> dict[str, Any]:
    value = metadata.get(SOURCE_KEY)
    return dict(value) if isinstance(value, dict) else {}
