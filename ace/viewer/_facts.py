"""The figures both views show, computed once from a transcript."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ace.rr.transcript import Iteration, Transcript


@dataclass(frozen=True)
class SessionFacts:
    """Totals of a session for its header."""

    iterations: int
    calls: int | None
    max_calls: int | None
    tokens: int
    cost_usd: float | None
    subcalls: int


def session_facts(transcript: Transcript) -> SessionFacts:
    """Totals from the ledger snapshot, falling back to the iterations' own counts."""
    usage: dict[str, Any] = transcript.usage or {}
    by_model: dict[str, dict[str, Any]] = usage.get("by_model") or {}
    if by_model:
        tokens = sum(
            int(m.get("prompt_tokens") or 0) + int(m.get("completion_tokens") or 0)
            for m in by_model.values()
        )
    else:
        tokens = sum(iteration_tokens(it) for it in transcript.iterations)
    costs = [m.get("cost_usd") for m in by_model.values()]
    if not by_model:
        cost = usage.get("cost_usd")
    elif any(c is None for c in costs):
        cost = None  # the ledger counts an unpriced call as 0.0; say "unpriced" instead
    else:
        cost = sum(float(c) for c in costs if c is not None)
    return SessionFacts(
        iterations=len(transcript.iterations),
        calls=usage.get("calls"),
        max_calls=usage.get("max_calls"),
        tokens=tokens,
        cost_usd=cost if isinstance(cost, int | float) else None,
        subcalls=sum(len(it.subcalls) for it in transcript.iterations),
    )


def iteration_tokens(iteration: Iteration) -> int:
    """Main-turn plus sub-call tokens of one iteration."""
    sub = sum(s.prompt_tokens + s.completion_tokens for s in iteration.subcalls)
    return iteration.prompt_tokens + iteration.completion_tokens + sub


def iteration_cost(iteration: Iteration) -> float | None:
    """Cost of the iteration's sub-calls (the main turn's cost is not recorded per turn)."""
    costs = [s.cost_usd for s in iteration.subcalls]
    if not costs or any(c is None for c in costs):
        return None
    return float(sum(c for c in costs if c is not None))


def money(value: float | None) -> str:
    """``$0.0123``, or ``unpriced`` when unknown."""
    return "unpriced" if value is None else f"${value:.4f}"


def final_status(iteration: Iteration) -> str | None:
    """What happened to a FINAL in this iteration, if it held one."""
    if iteration.final_accepted:
        return "FINAL accepted"
    if iteration.final_accepted is False:
        return f"FINAL refused: {iteration.final_rejection or 'no reason given'}"
    return None
