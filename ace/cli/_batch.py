"""``ace rr analyse-batch``: one RR session per trace, ``--jobs`` at a time, one budget.

The command is ``ace rr eval``'s machinery (``ace.cli._eval``) without the need for
labels: the same report, journal and ``--resume``. This module holds what the batch
adds: the run-wide budget from the options, the live line, and the account of traces
the budget left unrun.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ace.eval import EvalReport, TraceResult
    from ace.rr.run_ledger import RunLedger


class Progress(Protocol):
    """What the eval command drives: a context manager told of each finished trace."""

    def __enter__(self) -> Any: ...
    def __exit__(self, *exc: object) -> None: ...
    def advance(self, position: int, result: TraceResult) -> None: ...


def budget_of(args: argparse.Namespace) -> RunLedger | None:
    """The run ledger of ``--max-llm-calls-total`` and ``--max-cost-usd``, or None."""
    calls = getattr(args, "max_llm_calls_total", None)
    cost = getattr(args, "max_cost_usd", None)
    if calls is None and cost is None:
        return None
    from ace.rr.run_ledger import RunLedger

    return RunLedger(max_calls=calls, max_cost_usd=cost)


def charge_done(budget: RunLedger | None, done: Sequence[TraceResult]) -> None:
    """Charge a resumed run's ledger with what its journal's results spent, so the limits
    hold over the whole run (raise them to continue a run that ran out)."""
    if budget is None or not done:
        return
    costs = [r.cost_usd for r in done]
    budget.charge(
        calls=sum(r.calls for r in done),
        tokens=sum(r.tokens for r in done),
        cost_usd=sum(c for c in costs if c is not None),
    )


def progress_for(
    batch: bool,
    total: int,
    budget: RunLedger | None,
    done: Sequence[TraceResult],
    eval_progress: Callable[[int], Progress],
) -> Progress:
    """The batch's live line, or the eval command's own progress display."""
    if not batch:
        return eval_progress(total)
    return _BatchProgress(total, budget, done)


class _BatchProgress:
    """``BatchLine`` on stderr, told which results came from the journal."""

    def __init__(self, total: int, budget: RunLedger | None, done: Sequence[TraceResult]) -> None:
        from ace.cli._batch_progress import BatchLine

        live = None if budget is None else (lambda: budget.calls_used)
        self.line = BatchLine(total, sys.stderr, live_calls=live)
        self._resumed = {id(r) for r in done}

    def __enter__(self) -> _BatchProgress:
        self.line.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.line.__exit__(None, None, None)

    def advance(self, position: int, result: TraceResult) -> None:
        """Count one finished trace."""
        self.line(position, result, resumed=id(result) in self._resumed)


def report_not_run(report: EvalReport, out: Path) -> int:
    """Say how many traces the budget left unrun and how to continue; their count."""
    not_run = [
        s for s in report.skipped if s.trace_id is not None and s.reason.startswith("not run")
    ]
    usage = report.run_usage
    if usage is not None:
        cost = f"${usage['cost_usd']:.4f}"
        limit = "" if usage["max_cost_usd"] is None else f" of ${usage['max_cost_usd']:.4f}"
        calls = "" if usage["max_calls"] is None else f" of {usage['max_calls']}"
        print(f"run budget: {usage['calls']}{calls} calls · {cost}{limit}")
    if not_run:
        print(
            f"not run: {len(not_run)} trace{'' if len(not_run) == 1 else 's'} "
            f"({not_run[0].reason.removeprefix('not run: ')}); the journal is kept: continue "
            f"with the same command, --resume {out} and a larger budget",
            file=sys.stderr,
        )
    return len(not_run)
