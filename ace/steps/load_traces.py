"""LoadTracesStep: recorded traces (files or raw objects) into normalised ``Trace`` contexts."""

from __future__ import annotations

import os
from typing import Any

from ace.errors import TraceFormatError
from ace.pipeline.context import ACEStepContext, SkillbookView
from ace.skillbook import Skillbook
from ace.steps._fields import need


class LoadTracesStep:
    """Loads the trace named by ``ctx.sample`` into ``ctx.trace``, normalised.

    As in the established package the step requires ``sample`` and provides ``trace``:
    the sample is a path to a trace file (JSON, JSONL, text log), or raw trace data
    (dicts, message lists, trace text). Every format ``ace.traces`` reads is accepted
    and the result is an ``ace.traces.Trace``; evaluation labels (e.g. Who&When's
    ``mistake_*``) are split off and never reach the context. A missing file raises
    ``FileNotFoundError`` and a file holding several traces a ``TraceFormatError``
    (learn from those with ``TraceAnalyser``): a silent empty trace would teach nothing.

    ``LoadTracesStep(source="trace")`` normalises a raw trace already in ``ctx.trace``
    instead (requires ``trace``). To start from a file of many traces, build the
    contexts with ``LoadTracesStep.contexts_from(path)``.
    """

    provides = frozenset({"trace"})

    def __init__(self, source: str = "sample") -> None:
        self.source = source
        self.requires = frozenset({source})

    def __call__(self, ctx: ACEStepContext) -> ACEStepContext:
        """Load or normalise the trace; an already normalised one passes through."""
        from ace.traces import Trace, load_trace, load_traces
        from ace.traces._files import looks_like_path

        raw = need(getattr(ctx, self.source, None), self.source, "LoadTracesStep")
        if isinstance(raw, Trace):
            return ctx if self.source == "trace" else ctx.replace(trace=raw)
        if isinstance(raw, os.PathLike) or (isinstance(raw, str) and looks_like_path(raw)):
            traces = load_traces(raw)
            if len(traces) != 1:
                raise TraceFormatError(
                    f"LoadTracesStep: {os.fspath(raw)} holds {len(traces)} traces; one context "
                    "takes one trace. Use TraceAnalyser or LoadTracesStep.contexts_from(path)"
                )
            return ctx.replace(trace=traces[0])
        return ctx.replace(trace=load_trace(raw))

    @staticmethod
    def contexts_from(
        source: str | os.PathLike[str] | Any,
        *,
        skillbook: Skillbook | SkillbookView | None = None,
        epoch: int = 1,
        total_epochs: int | None = None,
    ) -> list[ACEStepContext]:
        """One context per trace in ``source``: a JSONL/JSON file or directory, or loaded data.

        Each context has ``trace`` set (already normalised: no ``LoadTracesStep`` is
        needed after it), ``step_index``/``total_steps``/``global_sample_index`` numbered
        in file order, and the skillbook (wrapped in a read-only view) when one is given.
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
                global_sample_index=(epoch - 1) * len(traces) + index,
            )
            for index, trace in enumerate(traces)
        ]
