"""``rr_query``: the host side of a child session started from kernel code.

A child analyses ``data`` (normalised by the trace loaders) in its own kernel with a
share of the parent's budget (``Ledger.child``). Each start is paid before it starts,
one call of the parent's budget, so a cell looping on ``rr_query`` at zero budget fails
at once; a cell may start ``max_children_per_cell`` children, a session ``max_children``.
What kernel code is told when a child cannot start is in ``prompts/rr/rr_query.j2``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ace.errors import BudgetExceededError
from ace.prompting import render_prompt
from ace.rr._inputs import SkillbookInfo, TaskInfo
from ace.rr.transcript import ChildSession

if TYPE_CHECKING:
    from ace.rr.config import RRConfig
    from ace.rr.ledger import Ledger
    from ace.rr.session import RRSession
    from sandbox import Kernel


def _say(part: str, **variables: Any) -> str:
    return render_prompt("rr/rr_query.j2", part=part, **variables)


class ChildSessions:
    """The children of one session; ``cell`` lists those of the running cell."""

    def __init__(
        self,
        *,
        config: RRConfig,
        ledger: Ledger,
        depth: int,
        spawn: Callable[[Ledger, int], RRSession],
        kernel: Kernel,
    ) -> None:
        self.config = config
        self.ledger = ledger
        self.depth = depth
        self.spawn = spawn
        self.kernel = kernel
        self.cell: list[ChildSession] = []
        self.started = 0

    def rr_query(self, question: Any = None, data: Any = None) -> dict[str, Any]:
        """Host side of ``rr_query``: a child session over ``data`` with a share of the budget."""
        from ace.traces import load_trace

        if not isinstance(question, str) or not question.strip():
            raise TypeError(_say("question"))
        if len(self.cell) >= self.config.max_children_per_cell:
            raise RuntimeError(_say("per_cell", limit=self.config.max_children_per_cell))
        if self.started >= self.config.max_children:
            raise RuntimeError(_say("per_session", limit=self.config.max_children))
        # A child's start is paid before it starts (one call of this budget), so a loop of
        # rr_query at zero budget fails here, before any kernel is started.
        try:
            start = self.ledger.reserve("child", "rr_query")
        except BudgetExceededError as exc:
            raise RuntimeError(_say("budget", error=exc)) from None
        self.ledger.settle(start)
        self.started += 1
        child_ledger = self.ledger.child(self.config.child_budget_share)
        record = ChildSession(
            question=question,
            depth=self.depth + 1,
            budget_calls=child_ledger.max_calls,
            data_chars=len(str(data)),
        )
        self.cell.append(record)
        started = time.monotonic()
        child = self.spawn(child_ledger, self.depth + 1)
        trace = load_trace(data if data is not None else {"question": question})
        result = child.run([trace], [TaskInfo(question=question)], SkillbookInfo.for_child())
        # Starting the child's kernel is the cell's time: a cell looping on rr_query must
        # not stretch its own limit by the kernels it starts.
        self.kernel.charge_cell_time(child.kernel_start_s)
        record.outcome = result.transcript.outcome
        record.duration_s = time.monotonic() - started
        record.transcript = result.transcript
        return {
            **result.reflection.model_dump(mode="json", exclude={"raw"}),
            "outcome": result.transcript.outcome,
            "calls_used": child_ledger.calls_used,
        }
