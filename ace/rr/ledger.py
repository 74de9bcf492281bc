"""The ledger: one budget for every model call of an RR session.

Every call (main turn, sub-call, retry, synthesis) first *reserves* its worst case:
one call, the estimated prompt tokens plus the call's ``max_tokens``, and the cost of
that. A reservation that would pass a limit is refused with ``BudgetExceededError``
before anything is sent; after the call, the reservation is *settled* to the real
usage. Because reservations are taken under one lock, concurrent sub-calls can never
jointly pass a limit. One call can be held back for the final synthesis. Sub-agent
requests (kind ``"sub"``) may have a cap of their own, checked under the same lock.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from ace.errors import BudgetExceededError
from ace.prompting import render_prompt

CallKind = Literal["main", "sub", "synthesis", "child"]
"""``sub`` is a sub-agent request from kernel code; ``child`` is a charge passed up by a
child session's ledger (other than its sub-agent requests) or the start of a child."""


def _refusal(part: str, **variables: Any) -> str:
    """Why a reservation was refused (``prompts/rr/budget.j2``): callers and, through
    sub-call errors and the synthesis request, the model read it."""
    return render_prompt("rr/budget.j2", part=part, **variables)


class BudgetParent(Protocol):
    """What a ledger charges besides itself: another ``Ledger`` (a child session's parent)
    or a ``RunLedger`` (the budget of a whole batch). Every reservation is taken there
    too, inside the child's lock (child first, then parent: one order, no deadlock)."""

    @property
    def max_cost_usd(self) -> float | None:
        """The parent's own cost limit; a limit anywhere up the chain makes calls priced."""

    @property
    def prices_calls(self) -> bool:
        """Whether this budget or one above it limits cost (so reservations need a price)."""

    def reserve(
        self, kind: CallKind, model: str, *, tokens: int = 0, cost_usd: float = 0.0
    ) -> Reservation:
        """Claim one call's worst case, or raise ``BudgetExceededError``."""

    def settle(
        self,
        reservation: Reservation,
        *,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        cost_usd: float | None = None,
    ) -> None:
        """Replace a reservation by the call's real usage (once)."""


@dataclass
class Reservation:
    """A call's claim on the budget, open until settled."""

    kind: CallKind
    model: str
    tokens: int
    cost_usd: float
    settled: bool = False
    parent: Reservation | None = None
    """The matching claim on the parent ledger, for a child session's calls."""


@dataclass
class ModelUsage:
    """What one model consumed in a session."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = 0.0


@dataclass
class Ledger:
    """Thread-safe budget shared by a session and all its sub-calls (and child sessions)."""

    max_calls: int
    max_tokens: int | None = None
    max_cost_usd: float | None = None
    reserve_synthesis: bool = True
    parent: BudgetParent | None = None
    """A child session's ledger charges its parent too, so the session tree shares one
    budget; a batch's sessions charge the run's ``RunLedger`` the same way."""
    _calls: int = 0
    _tokens: int = 0
    _cost: float = 0.0
    _synthesis_used: bool = False
    _by_model: dict[str, ModelUsage] = field(default_factory=lambda: defaultdict(ModelUsage))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    # Added after 0.1's fields so positional construction keeps its meaning.
    max_sub_calls: int | None = None
    """Cap on sub-agent requests (kind ``"sub"``); None = only ``max_calls`` bounds them."""
    _sub_calls: int = 0

    def reserve(
        self, kind: CallKind, model: str, *, tokens: int = 0, cost_usd: float = 0.0
    ) -> Reservation:
        """Claim one call and its worst-case tokens and cost, or raise ``BudgetExceededError``."""
        with self._lock:
            held_back = 1 if self.reserve_synthesis and not self._synthesis_used else 0
            call_limit = self.max_calls if kind == "synthesis" else self.max_calls - held_back
            if kind == "synthesis" and self._synthesis_used:
                raise BudgetExceededError(
                    _refusal("synthesis_used"),
                    resource="calls",
                    spent=self._calls,
                    limit=self.max_calls,
                )
            if self._calls + 1 > call_limit:
                raise BudgetExceededError(
                    _refusal(
                        "calls",
                        spent=self._calls,
                        limit=self.max_calls,
                        held_back=bool(held_back) and kind != "synthesis",
                    ),
                    resource="calls",
                    spent=self._calls,
                    limit=self.max_calls,
                )
            if (
                kind == "sub"
                and self.max_sub_calls is not None
                and self._sub_calls + 1 > self.max_sub_calls
            ):
                raise BudgetExceededError(
                    _refusal("sub_calls", spent=self._sub_calls, limit=self.max_sub_calls),
                    resource="subagent_requests",
                    spent=self._sub_calls,
                    limit=self.max_sub_calls,
                )
            if self.max_tokens is not None and self._tokens + tokens > self.max_tokens:
                raise BudgetExceededError(
                    _refusal("tokens", spent=self._tokens, reserved=tokens, limit=self.max_tokens),
                    resource="tokens",
                    spent=self._tokens,
                    limit=self.max_tokens,
                )
            if self.max_cost_usd is not None and self._cost + cost_usd > self.max_cost_usd:
                raise BudgetExceededError(
                    _refusal("cost", spent=self._cost, reserved=cost_usd, limit=self.max_cost_usd),
                    resource="cost_usd",
                    spent=self._cost,
                    limit=self.max_cost_usd,
                )
            # Child before parent, always: one lock order, no deadlock. A child's sub-agent
            # requests stay "sub" upstream, so a cap on them holds for the whole tree.
            upstream = (
                self.parent.reserve(
                    "sub" if kind == "sub" else "child", model, tokens=tokens, cost_usd=cost_usd
                )
                if self.parent is not None
                else None
            )
            self._calls += 1
            if kind == "sub":
                self._sub_calls += 1
            self._tokens += tokens
            self._cost += cost_usd
            if kind == "synthesis":
                self._synthesis_used = True
            return Reservation(kind, model, tokens, cost_usd, parent=upstream)

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
            used = prompt_tokens + completion_tokens
            self._tokens += used - reservation.tokens
            self._cost += (cost_usd or 0.0) - reservation.cost_usd
            usage = self._by_model[reservation.model]
            usage.calls += 1
            usage.prompt_tokens += prompt_tokens
            usage.completion_tokens += completion_tokens
            if cost_usd is None or usage.cost_usd is None:
                usage.cost_usd = None
            else:
                usage.cost_usd += cost_usd
        if reservation.parent is not None and self.parent is not None:
            self.parent.settle(
                reservation.parent,
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                cost_usd=cost_usd,
            )

    def child(self, share: float) -> Ledger:
        """A ledger for a child session: ``share`` of the calls, tokens and cost left here.

        The child keeps its own synthesis reserve inside that share; every call it makes
        is also charged here, so the tree never passes this ledger's limits.
        """
        with self._lock:
            held_back = 1 if self.reserve_synthesis and not self._synthesis_used else 0
            calls_left = self.max_calls - held_back - self._calls
            tokens_left = None if self.max_tokens is None else self.max_tokens - self._tokens
            cost_left = None if self.max_cost_usd is None else self.max_cost_usd - self._cost
        return Ledger(
            max_calls=max(1, int(calls_left * share)),
            max_tokens=None if tokens_left is None else max(1, int(tokens_left * share)),
            max_cost_usd=None if cost_left is None else max(1e-9, cost_left * share),
            reserve_synthesis=int(calls_left * share) >= 2,
            parent=self,
        )

    @property
    def prices_calls(self) -> bool:
        """Whether a cost limit applies here or up the chain, so calls must be priced."""
        return self.max_cost_usd is not None or (
            self.parent is not None and self.parent.prices_calls
        )

    @property
    def calls_used(self) -> int:
        """Calls reserved so far (settled or in flight)."""
        with self._lock:
            return self._calls

    @property
    def sub_calls_used(self) -> int:
        """Sub-agent requests reserved so far (this session and its children)."""
        with self._lock:
            return self._sub_calls

    @property
    def calls_left(self) -> int:
        """Calls still available to ordinary (non-synthesis) work."""
        with self._lock:
            held_back = 1 if self.reserve_synthesis and not self._synthesis_used else 0
            return max(0, self.max_calls - held_back - self._calls)

    def snapshot(self) -> dict[str, Any]:
        """Totals and per-model usage, JSON-ready.

        Besides our own keys, it carries the names the established ACE package reports:
        ``requests`` (= ``calls``), ``input_tokens``, ``output_tokens`` and ``total_tokens``
        (summed over the settled calls of every model).
        """
        with self._lock:
            input_tokens = sum(u.prompt_tokens for u in self._by_model.values())
            output_tokens = sum(u.completion_tokens for u in self._by_model.values())
            return {
                "calls": self._calls,
                "max_calls": self.max_calls,
                "tokens": self._tokens,
                "max_tokens": self.max_tokens,
                "cost_usd": round(self._cost, 6),
                "max_cost_usd": self.max_cost_usd,
                "subagent_calls": self._sub_calls,
                "max_subagent_calls": self.max_sub_calls,
                "by_model": {m: vars(u).copy() for m, u in self._by_model.items()},
                "requests": self._calls,
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "total_tokens": input_tokens + output_tokens,
            }
