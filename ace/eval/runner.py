"""Run a reflector over a labelled trace set and score every trace."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from ace._files import atomic_write
from ace.errors import RunError
from ace.eval.journal import Journal
from ace.eval.reflectors import Analysis, TraceReflector
from ace.eval.scoring import DEFAULT_TOLERANCES, EvalSummary, TraceResult, score, summarise
from ace.traces import LabelledTrace

if TYPE_CHECKING:
    from ace.executors import Executor
    from ace.rr.run_ledger import RunLedger


class SkippedFile(BaseModel):
    """A file of an evaluation set that was left out, and why; or one trace of it, named
    by ``trace_id`` (say, a trace the labels file has no entry for)."""

    path: str
    reason: str
    trace_id: str | None = None


class EvalReport(BaseModel):
    """An evaluation run: its settings, the summary figures and every trace's result."""

    reflector: str
    model: str | None = None
    dataset: str | None = None
    seed: int | None = None
    limit: int | None = None
    created_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat())
    summary: EvalSummary
    results: list[TraceResult]
    interrupted: bool = False
    """The run was stopped (Ctrl-C, SIGTERM) before every trace was done; `results` holds
    those that were. ``ace rr eval --resume`` continues it."""
    skipped: list[SkippedFile] = Field(default_factory=list)
    """Files of the set that were not traces (or had no labels), with the reason; and
    traces not run because the run's budget was spent (``reason`` starts "not run")."""
    run_usage: dict[str, Any] | None = None
    """The run ledger's snapshot (calls, tokens, cost of all sessions and the limits) when
    the run had a run-wide budget."""

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the report as JSON (atomically)."""
        return atomic_write(path, self.model_dump_json(indent=2))


ResultCallback = Callable[[int, TraceResult], None]
"""Called after each trace with its position (0-based) and result."""


def evaluate(
    items: Sequence[LabelledTrace],
    reflector: TraceReflector,
    *,
    tolerances: Iterable[int] = DEFAULT_TOLERANCES,
    on_result: ResultCallback | None = None,
    model: str | None = None,
    dataset: str | None = None,
    seed: int | None = None,
    limit: int | None = None,
    done: Sequence[TraceResult] = (),
    journal: Journal | None = None,
    skipped: Sequence[SkippedFile] = (),
    executor: Executor | None = None,
    budget: RunLedger | None = None,
) -> EvalReport:
    """Analyse and score each trace in order.

    A reflector failing on one trace (``RunError``: a model that kept failing, a budget
    refusal) is recorded on that trace, scored as wrong, and the run goes on; any other
    exception stops the run. Traces with a result in `done` (a resumed run's journal,
    matched by trace id and source) are not analysed again; each new result is appended
    to `journal` as soon as it exists.

    With an ``executor`` the traces run on it, ``executor.jobs`` at a time (see
    ``ace.eval._parallel``): results are journaled and reported to ``on_result`` as they
    complete, any exception becomes that trace's failure entry, and the report lists
    them in input order. ``budget`` (the run ledger the reflector's sessions charge) is
    asked before each trace starts; once it is spent, the traces left are listed in
    ``skipped`` as not run.
    """
    if executor is not None or budget is not None:
        from ace.eval._parallel import evaluate_on

        ordered, not_run = evaluate_on(
            executor,
            items,
            reflector,
            done=done,
            journal=journal,
            on_result=on_result,
            budget=budget,
        )
        return EvalReport(
            reflector=reflector.name,
            model=model,
            dataset=dataset,
            seed=seed,
            limit=limit,
            summary=summarise(ordered, tolerances),
            results=ordered,
            skipped=[*skipped, *not_run],
            run_usage=budget.snapshot() if budget is not None else None,
        )
    finished = {(r.trace_id, r.source): r for r in done}
    results: list[TraceResult] = []
    for position, item in enumerate(items):
        source = item.trace.source.path if item.trace.source else None
        result = finished.get((item.trace.id, source))
        fresh = result is None
        if result is None:
            result = evaluate_one(item, reflector)
        results.append(result)
        if on_result is not None:
            on_result(position, result)
        # journaled last: an interrupt in between leaves the interrupted report holding at
        # least what the journal holds
        if fresh and journal is not None:
            journal.append(result)
    return EvalReport(
        reflector=reflector.name,
        model=model,
        dataset=dataset,
        seed=seed,
        limit=limit,
        summary=summarise(results, tolerances),
        results=results,
        skipped=list(skipped),
    )


def evaluate_one(item: LabelledTrace, reflector: TraceReflector) -> TraceResult:
    """Analyse and score one labelled trace."""
    trace = item.trace
    started = time.perf_counter()
    error: str | None = None
    try:
        analysis = reflector.analyse(trace)
    except RunError as exc:
        analysis, error = Analysis(attribution=None), f"{type(exc).__name__}: {exc}"
    result = score(
        trace.id,
        analysis.attribution,
        item.labels,
        steps=len(trace.steps),
        source=trace.source.path if trace.source else None,
    )
    return result.model_copy(
        update={
            "calls": analysis.calls,
            "prompt_tokens": analysis.prompt_tokens,
            "completion_tokens": analysis.completion_tokens,
            "cost_usd": analysis.cost_usd,
            "duration_s": time.perf_counter() - started,
            "outcome": analysis.outcome,
            # a session that failed says why, though the reflector returned normally
            "error": error or (analysis.cause if analysis.outcome == "error" else None),
        }
    )
