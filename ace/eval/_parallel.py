"""Evaluating on an executor: traces run ``jobs`` at a time under one run-wide budget.

The caller's side does everything that must happen once and in one order: it reads the
traces (lazily, a few ahead of the workers), skips those a resumed journal holds, writes
each result to the journal as it completes, and returns the results in input order, so
a report does not depend on ``jobs`` or on which session finished first. The workers
only analyse and score.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ace.eval.journal import Journal
from ace.eval.reflectors import TraceReflector
from ace.eval.scoring import TraceResult, score
from ace.traces import LabelledTrace

if TYPE_CHECKING:
    from ace.eval.runner import SkippedFile
    from ace.executors import Executor
    from ace.rr.run_ledger import RunLedger

_CLEAN_OUTCOMES = frozenset({"final", "direct_json", "synthesis"})


@dataclass(frozen=True)
class NotRun:
    """A trace the worker did not analyse because the run's budget was spent."""

    reason: str


def evaluate_on(
    executor: Executor | None,
    items: Sequence[LabelledTrace],
    reflector: TraceReflector,
    *,
    done: Sequence[TraceResult] = (),
    journal: Journal | None = None,
    on_result: Callable[[int, TraceResult], None] | None = None,
    budget: RunLedger | None = None,
) -> tuple[list[TraceResult], list[SkippedFile]]:
    """Results in input order and the traces not run for budget (see ``evaluate``).

    Without an ``executor`` a one-thread ``LocalExecutor`` is used (and closed).
    """
    from ace.eval.runner import SkippedFile
    from ace.executors import LocalExecutor, stream

    finished = {(r.trace_id, r.source): r for r in done}
    results: dict[int, TraceResult] = {}
    not_run: dict[int, SkippedFile] = {}
    running: dict[int, LabelledTrace] = {}

    def skip(position: int, item: LabelledTrace, reason: str) -> None:
        not_run[position] = SkippedFile(
            path=_source(item) or "", reason=reason, trace_id=item.trace.id
        )

    def keep(position: int, result: TraceResult) -> None:
        results[position] = result
        if on_result is not None:
            on_result(position, result)

    def offered() -> Iterator[tuple[int, LabelledTrace]]:
        for position, item in enumerate(items):
            prior = finished.get((item.trace.id, _source(item)))
            if prior is not None:
                keep(position, prior)
                continue
            stop = budget.stop_reason if budget is not None else None
            if stop is not None:
                skip(position, item, stop)
                continue
            running[position] = item  # held while in flight: a window of a few
            yield position, item

    work = functools.partial(analyse_one, reflector=reflector, budget=budget)
    owned = executor is None
    chosen: Executor = LocalExecutor(1) if executor is None else executor
    try:
        for completed in stream(chosen, work, offered()):
            item = running.pop(completed.key)
            value = completed.value
            if isinstance(value, NotRun):
                skip(completed.key, item, value.reason)
                continue
            if not isinstance(value, TraceResult):
                value = failure(item, completed.cause or "no result", completed.duration_s)
            # Kept before it is journaled: an interrupt between the two then leaves the
            # interrupted report holding at least what the journal holds.
            keep(completed.key, value)
            if journal is not None:
                journal.append(value)
    finally:
        if owned:
            chosen.close(wait=False)
    ordered = [results[p] for p in sorted(results)]
    return ordered, [not_run[p] for p in sorted(not_run)]


def analyse_one(
    item: LabelledTrace, *, reflector: TraceReflector, budget: RunLedger | None = None
) -> TraceResult | NotRun:
    """The worker's part: admit the session against the run's budget, analyse, score.

    A session that could not make a single call because the run's budget was spent in
    the meantime counts as not run, so ``--resume`` with a larger budget runs it.
    """
    from ace.eval.runner import evaluate_one

    if budget is not None:
        reason = budget.admit()
        if reason is not None:
            return NotRun(reason)
    result = evaluate_one(item, reflector)
    if (
        budget is not None
        and result.calls == 0
        and result.outcome is not None
        and result.outcome not in _CLEAN_OUTCOMES
    ):
        stop = budget.stop_reason
        if stop is not None:
            return NotRun(stop)
    return result


def failure(item: LabelledTrace, cause: str, duration_s: float = 0.0) -> TraceResult:
    """The entry of a trace whose analysis raised: scored as wrong, the cause named."""
    trace = item.trace
    result = score(trace.id, None, item.labels, steps=len(trace.steps), source=_source(item))
    return result.model_copy(update={"error": cause, "duration_s": duration_s})


def _source(item: LabelledTrace) -> str | None:
    return item.trace.source.path if item.trace.source else None
