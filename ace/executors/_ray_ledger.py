"""The run ledger on a Ray cluster: one actor holds the budget, every node reserves there.

``LedgerActor`` wraps an ordinary ``RunLedger`` in one sequential actor on the driver's
node, so the reserve-then-settle rule holds across machines exactly as it holds across
threads: every reservation of every session, on whatever node, is taken there under the
ledger's lock before the call is sent. ``RayRunLedger`` is the handle sessions use: a
``RunLedger`` whose methods are remote calls to that actor; it pickles as the actor
handle, so a reflector shipped to a node keeps charging the same budget.

A node that dies mid-call leaves its open reservations counted at their worst case
(never settled): the run can end having spent less than its limit, never more.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ace.errors import BudgetExceededError
from ace.rr.ledger import CallKind, Reservation
from ace.rr.run_ledger import RunLedger

if TYPE_CHECKING:
    from collections.abc import Callable


@dataclass
class RemoteReservation(Reservation):
    """A reservation held by the ledger actor; ``rid`` names it there."""

    rid: int = -1


class LedgerState:
    """What the ledger actor runs: a ``RunLedger`` and its open reservations by id."""

    def __init__(
        self, max_calls: int | None, max_tokens: int | None, max_cost_usd: float | None
    ) -> None:
        self.ledger = RunLedger(
            max_calls=max_calls, max_tokens=max_tokens, max_cost_usd=max_cost_usd
        )
        self._open: dict[int, Reservation] = {}
        self._ids = itertools.count(1)

    def reserve(
        self, kind: CallKind, model: str, tokens: int, cost_usd: float
    ) -> tuple[int, Reservation] | tuple[str, str, Any, Any]:
        """``(rid, reservation)``, or the refusal as ``(resource, message, spent, limit)``
        (rebuilt into ``BudgetExceededError`` by the caller: its constructor takes
        keywords, which an exception crossing Ray's boundary would lose)."""
        try:
            held = self.ledger.reserve(kind, model, tokens=tokens, cost_usd=cost_usd)
        except BudgetExceededError as refusal:
            return str(refusal.resource), str(refusal), refusal.spent, refusal.limit
        rid = next(self._ids)
        self._open[rid] = held
        return rid, held

    def settle(
        self, rid: int, prompt_tokens: int, completion_tokens: int, cost_usd: float | None
    ) -> None:
        """Settle reservation ``rid`` once."""
        held = self._open.pop(rid, None)
        if held is not None:
            self.ledger.settle(
                held,
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                cost_usd=cost_usd,
            )

    def admit(self) -> str | None:
        """``RunLedger.admit``."""
        return self.ledger.admit()

    def charge(self, calls: int, tokens: int, cost_usd: float | None) -> None:
        """``RunLedger.charge``."""
        self.ledger.charge(calls=calls, tokens=tokens, cost_usd=cost_usd)

    def read(self, name: str) -> Any:
        """One of ``stop_reason``, ``calls_used``, ``cost_usd``."""
        if name not in ("stop_reason", "calls_used", "cost_usd"):
            raise AttributeError(name)
        return getattr(self.ledger, name)

    def snapshot(self) -> dict[str, Any]:
        """``RunLedger.snapshot``, plus the reservations still open (nodes that died)."""
        return {**self.ledger.snapshot(), "open_reservations": len(self._open)}


class RayRunLedger(RunLedger):
    """A ``RunLedger`` kept by an actor of the cluster; every method is a remote call.

    Made by ``RayExecutor.share_budget``; pass it where a ``RunLedger`` goes (the
    ``RRReflector``'s ``budget``, ``evaluate(..., budget=)``). It pickles as its actor
    handle, so copies on every node charge the one budget.
    """

    def __init__(
        self,
        handle: Any,
        *,
        max_calls: int | None = None,
        max_tokens: int | None = None,
        max_cost_usd: float | None = None,
    ) -> None:
        super().__init__(max_calls=max_calls, max_tokens=max_tokens, max_cost_usd=max_cost_usd)
        self.handle = handle
        """The ``LedgerActor`` handle."""

    def __reduce__(self) -> tuple[Callable[..., RayRunLedger], tuple[Any, ...]]:
        return (_attach, (self.handle, self.max_calls, self.max_tokens, self.max_cost_usd))

    def _call(self, method: str, *args: Any) -> Any:
        import ray

        return ray.get(getattr(self.handle, method).remote(*args))

    def reserve(
        self, kind: CallKind, model: str, *, tokens: int = 0, cost_usd: float = 0.0
    ) -> Reservation:
        """Claim one call's worst case at the ledger actor, or raise
        ``BudgetExceededError``."""
        answer = self._call("reserve", kind, model, tokens, cost_usd)
        if isinstance(answer[0], str):
            resource, message, spent, limit = answer
            raise BudgetExceededError(message, resource=resource, spent=spent, limit=limit)
        rid, held = answer
        return RemoteReservation(held.kind, held.model, held.tokens, held.cost_usd, rid=rid)

    def settle(
        self,
        reservation: Reservation,
        *,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        cost_usd: float | None = None,
    ) -> None:
        """Settle at the actor (synchronously: the run's totals include it afterwards)."""
        if reservation.settled or not isinstance(reservation, RemoteReservation):
            return
        reservation.settled = True
        self._call("settle", reservation.rid, prompt_tokens, completion_tokens, cost_usd)

    def admit(self) -> str | None:
        """Count a session in at the actor, or the reason none may start."""
        result: str | None = self._call("admit")
        return result

    def charge(self, *, calls: int = 0, tokens: int = 0, cost_usd: float | None = 0.0) -> None:
        """Count usage spent before the run (a resumed journal) at the actor."""
        self._call("charge", calls, tokens, cost_usd)

    @property
    def stop_reason(self) -> str | None:
        """Why no new session may start, or None."""
        result: str | None = self._call("read", "stop_reason")
        return result

    @property
    def calls_used(self) -> int:
        """Calls reserved so far on every node."""
        return int(self._call("read", "calls_used"))

    @property
    def cost_usd(self) -> float:
        """Cost reserved or spent so far on every node."""
        return float(self._call("read", "cost_usd"))

    def snapshot(self) -> dict[str, Any]:
        """The actor's totals, limits and per-model usage, JSON-ready."""
        result: dict[str, Any] = self._call("snapshot")
        return result


def _attach(
    handle: Any, max_calls: int | None, max_tokens: int | None, max_cost_usd: float | None
) -> RayRunLedger:
    return RayRunLedger(
        handle, max_calls=max_calls, max_tokens=max_tokens, max_cost_usd=max_cost_usd
    )


def start_ledger_actor(budget: RunLedger) -> RayRunLedger:
    """A ledger actor on this (the driver's) node with ``budget``'s limits and what it has
    counted so far; the handle to use instead of ``budget`` from now on."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    actor_class = ray.remote(num_cpus=0, max_restarts=0)(LedgerState)
    here = ray.get_runtime_context().get_node_id()
    handle = actor_class.options(
        scheduling_strategy=NodeAffinitySchedulingStrategy(here, soft=False)
    ).remote(budget.max_calls, budget.max_tokens, budget.max_cost_usd)
    shared = RayRunLedger(
        handle,
        max_calls=budget.max_calls,
        max_tokens=budget.max_tokens,
        max_cost_usd=budget.max_cost_usd,
    )
    counted = budget.snapshot()
    if counted["calls"] or counted["tokens"] or counted["cost_usd"]:
        shared.charge(
            calls=int(counted["calls"]),
            tokens=int(counted["tokens"]),
            cost_usd=float(counted["cost_usd"]),
        )
    return shared
