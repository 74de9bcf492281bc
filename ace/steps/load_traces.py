"""LoadTracesStep: recorded traces (files or raw objects) into normalised ``Trace`` contexts."""

from __future__ import annotations

import os
from typing import Any

from ace.pipeline.context import ACEStepContext, SkillbookView
from ace.skillbook import Skillbook
from ace.steps._fields import need


class LoadTracesStep:
    """Replaces a raw trace in ``ctx.trace`` with its normalised ``ace.traces.Trace``.

    Use it when contexts carry raw trace objects (dicts, message lists, text); an
    already normalised trace passes through. To start from a file, build the contexts
    with ``LoadTracesStep.contexts_from(path)``. Evaluation labels (e.g. Who&When's
    ``mistake_*``) are split off by the loader and never reach the context.
    """

    requires = frozenset({"trace"})
    provides = frozenset({"trace"})

    def __call__(self, ctx: ACEStepContext) -> ACEStepContext:
        """Normalise ``ctx.trace`` with ``ace.traces.load_trace`` (a string is trace text)."""
        from ace.traces import Trace, load_trace

        raw = need(ctx.trace, "trace", "LoadTracesStep")
        return ctx if isinstance(raw, Trace) else ctx.replace(trace=load_trace(raw))

    @staticmethod
    def contexts_from(
        source: str | os.PathLike[str] | Any,
        *,
        skillbook: Skillbook | SkillbookView | None = None,
        epoch: int = 1,
        total_epochs: int | None = None,
    ) -> list[ACEStepContext]:
        """One context per trace in ``source``: a JSONL/JSON file or directory, or loaded data.

        Each context has ``trace`` set, ``step_index``/``total_steps`` numbered in file
        order, and the skillbook (wrapped in a read-only view) when one is given.
        """
        from ace.traces import load_traces

        traces = load_traces(source)
        view = SkillbookView(skillbook) if isinstance(skillbook, Skillbook) else skillbook
        return [
            ACEStepContext(
                trace=trace,
                skillbook=view,
                epoch=epoch,
                total_epochs=total_epochs,
                step_index=index,
                total_steps=len(traces),
            )
            for index, trace in enumerate(traces)
        ]
