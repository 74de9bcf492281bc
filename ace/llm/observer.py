"""The hook through which a budget ledger (or a tracer) sees every attempt.

An *attempt* is one request sent to litellm. One ``complete`` call makes one attempt plus
one per transport retry; one ``structured`` call repeats that for each validation round.
Observers see all of them, so a ledger charges for every request a provider could bill.

Protocol, per attempt and per observer, in the order the observers were given:

1. ``before_attempt(info)``: may raise (``BudgetExceededError`` to refuse). The request is
   then not sent; observers whose ``before_attempt`` already returned get
   ``after_attempt(info, error)`` with that error, so a reservation can be released.
   The error propagates to the caller and is never retried.
2. ``after_attempt(info, outcome)``: ``outcome`` is the :class:`LLMResponse`, or the
   exception the attempt failed with (before retry classification). Called exactly once
   for every successful ``before_attempt``.

Observers are called synchronously, also from ``acomplete`` and from several threads at
once: they must be thread-safe and fast (no I/O).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

from ace.llm.response import LLMResponse


@dataclass(frozen=True, kw_only=True)
class RequestInfo:
    """What is about to be sent, for size estimation and accounting."""

    call_id: str
    """Shared by every attempt of one ``complete``/``structured`` call."""
    model: str
    """The model string."""
    messages: Sequence[Mapping[str, Any]]
    """The chat messages of this attempt (do not mutate)."""
    max_tokens: int | None
    """The completion-token cap sent, or None for the provider default."""
    attempt: int
    """1 for the first request of a validation round, 2+ for transport retries."""
    validation_round: int = 1
    """1 for the first structured-output request, 2+ after a reply failed validation."""
    kind: Literal["complete", "structured"] = "complete"
    """Which client method started the call."""


@runtime_checkable
class CallObserver(Protocol):
    """Sees every attempt; ``before_attempt`` may refuse it by raising."""

    def before_attempt(self, info: RequestInfo) -> None:
        """Called before each request is sent; raise to refuse it."""

    def after_attempt(self, info: RequestInfo, outcome: LLMResponse | BaseException) -> None:
        """Called after each attempt that ``before_attempt`` let through."""
