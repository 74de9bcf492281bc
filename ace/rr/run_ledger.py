"""The run ledger: one budget for every RR session of a batch.

A batch (``ace rr analyse-batch``, ``analyse_batch``) runs many sessions at once, each
with its own session ``Ledger``. Each session ledger takes this ledger as its
``parent``: every reservation of every session (main turns, sub-calls, retries,
synthesis, child sessions) is also reserved here, under this ledger's lock, before the
call is sent, and settled here to the real usage afterwards. That is the session
ledger's own rule, one level up, so sessions running in parallel can never jointly pass
the run's limits.

Once this ledger has refused a reservation, or a limit is reached, ``admit`` starts no
new session: the batch marks the remaining traces as not run (skipped for budget).
Sessions already running end through their own endings (the synthesis when it still
fits, else the timeout reflection). A resumed run first ``charge``-s what its journal
says was spent, so the limits hold over the run as a whole.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from typing import Any

from ace.errors import BudgetExceededError, UsageError
from ace.prompting import render_prompt
from ace.rr.ledger import CallKind, ModelUsage, Reservation


class RunLedger:
    """Thread-safe budget of a whole run: calls, tokens and cost; None = no limit.

    Satisfies ``ace.rr.ledger.BudgetParent``: pass it as a session's budget
    (``RRStep.analyse(trace, budget=run)``) and every call of that session is charged
    here too.
    """

    def __init__(
        self,
        *,
        max_calls: int | None = None,
        max_tokens: int | None = None,
        max_cost_usd: float | None = None,
    ) -> None:
        for name, value in (("max_calls", max_calls), ("max_tokens", max_tokens)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise UsageError(f"RunLedger {name} must be a whole number or None, got {value!r}")
            if value is not None and value < 1:
                raise UsageError(f"RunLedger {name} must be >= 1 or None, got {value}")
        if max_cost_usd is not None and not max_cost_usd > 0:
            raise UsageError(f"RunLedger max_cost_usd must be > 0 or None, got {max_cost_usd}")
        self.max_calls = max_calls
        """Model calls of all sessions together."""
        self.max_tokens = max_tokens
        """Tokens (prompt + completion) of all sessions together."""
        self._max_cost_usd = max_cost_usd
        self._lock = threading.Lock()
        self._calls = 0
        self._tokens = 0
        self._cost = 0.0
        self._sessions = 0
        self._refusal: BudgetExceededError | None = None
        self._by_model: dict[str, ModelUsage] = defaultdict(ModelUsage)

    @property
    def max_cost_usd(self) -> float | None:
        """US dollars of all sessions together."""
        return self._max_cost_usd

    @property
    def prices_calls(self) -> bool:
        """With a cost limit, every session's reservations carry a price."""
        return self._max_cost_usd is not None

    # ------------------------------------------------------------------ BudgetParent
    def reserve(
        self, kind: CallKind, model: str, *, tokens: int = 0, cost_usd: float = 0.0
    ) -> Reservation:
        """Claim one call and its worst-case tokens and cost for some session, or raise
        ``BudgetExceededError`` (and admit no new session from then on)."""
        with self._lock:
            refusal = self._check(tokens, cost_usd)
            if refusal is not None:
                self._refusal = self._refusal or refusal
                raise refusal
            self._calls += 1
            self._tokens += tokens
            self._cost += cost_usd
            return Reservation(kind, model, tokens, cost_usd)

    def settle(
        self,
        reservation: Reservation,
        *,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        cost_usd: float | None = None,
    ) -> None:
        """Replace a reservation's worst case by what the call really used (once)."""
        with self._lock:
            if reservation.settled:
                return
            reservation.settled = True
            self._tokens += prompt_tokens + completion_tokens - reservation.tokens
            self._cost += (cost_usd or 0.0) - reservation.cost_usd
            usage = self._by_model[reservation.model]
            usage.calls += 1
            usage.prompt_tokens += prompt_tokens
            usage.completion_tokens += completion_tokens
            if cost_usd is None or usage.cost_usd is None:
                usage.cost_usd = None
            else:
                usage.cost_usd += cost_usd

    # ------------------------------------------------------------------ the run's side
    def admit(self) -> str | None:
        """Count a new session in, or say why the run can start none (a limit is reached,
        or a reservation was refused already): the reason, for the trace's skip entry."""
        with self._lock:
            reason = self._exhausted()
            if reason is None:
                self._sessions += 1
            return reason

    def charge(self, *, calls: int = 0, tokens: int = 0, cost_usd: float | None = 0.0) -> None:
        """Count usage spent before this ledger existed (the results a resumed run's
        journal holds), settled at once; it may leave the run with nothing to spend."""
        with self._lock:
            self._calls += calls
            self._tokens += tokens
            self._cost += cost_usd or 0.0

    @property
    def stop_reason(self) -> str | None:
        """Why no new session may start, or None while the run has budget left."""
        with self._lock:
            return self._exhausted()

    @property
    def calls_used(self) -> int:
        """Calls reserved so far by every session (settled or in flight)."""
        with self._lock:
            return self._calls

    @property
    def cost_usd(self) -> float:
        """Cost reserved or spent so far (in-flight reservations at their worst case)."""
        with self._lock:
            return self._cost

    def snapshot(self) -> dict[str, Any]:
        """Totals, limits and per-model usage, JSON-ready."""
        with self._lock:
            return {
                "calls": self._calls,
                "max_calls": self.max_calls,
                "tokens": self._tokens,
                "max_tokens": self.max_tokens,
                "cost_usd": round(self._cost, 6),
                "max_cost_usd": self._max_cost_usd,
                "sessions": self._sessions,
                "stopped": self._exhausted(),
                "by_model": {m: vars(u).copy() for m, u in self._by_model.items()},
            }

    # ------------------------------------------------------------------ internals
    def _check(self, tokens: int, cost_usd: float) -> BudgetExceededError | None:
        if self.max_calls is not None and self._calls + 1 > self.max_calls:
            return BudgetExceededError(
                _refusal("run_calls", spent=self._calls, limit=self.max_calls),
                resource="run_calls",
                spent=self._calls,
                limit=self.max_calls,
            )
        if self.max_tokens is not None and self._tokens + tokens > self.max_tokens:
            return BudgetExceededError(
                _refusal("run_tokens", spent=self._tokens, reserved=tokens, limit=self.max_tokens),
                resource="run_tokens",
                spent=self._tokens,
                limit=self.max_tokens,
            )
        limit = self._max_cost_usd
        if limit is not None and self._cost + cost_usd > limit:
            return BudgetExceededError(
                _refusal("run_cost", spent=self._cost, reserved=cost_usd, limit=limit),
                resource="run_cost_usd",
                spent=self._cost,
                limit=limit,
            )
        return None

    def _exhausted(self) -> str | None:
        if self._refusal is not None:
            return f"not run: {self._refusal}"
        if self.max_calls is not None and self._calls >= self.max_calls:
            return f"not run: {_refusal('run_calls', spent=self._calls, limit=self.max_calls)}"
        if self.max_tokens is not None and self._tokens >= self.max_tokens:
            return (
                f"not run: the batch's token budget is spent ({self._tokens} of {self.max_tokens})"
            )
        if self._max_cost_usd is not None and self._cost >= self._max_cost_usd:
            return (
                f"not run: the batch's cost budget is spent (${self._cost:.4f} of "
                f"${self._max_cost_usd:.4f})"
            )
        return None


def _refusal(part: str, **variables: Any) -> str:
    """Why the run refused a reservation (``prompts/rr/budget.j2``; the model may read it)."""
    return render_prompt("rr/budget.j2", part=part, **variables)
