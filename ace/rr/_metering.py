"""Charging model calls to the ledger: an ``ace.llm`` observer that reserves, then settles."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any

from ace.errors import ConfigurationError
from ace.llm import LLMResponse, RequestInfo
from ace.rr.ledger import CallKind, Ledger, Reservation

CHARS_PER_TOKEN = 3
"""Conservative: real text averages ~4 characters per token, so reservations over-estimate."""
TOKENS_PER_MESSAGE = 8
"""What a reservation adds per message for the chat format's own tokens."""


def estimate_tokens(
    messages: Iterable[Mapping[str, Any]], *, chars_per_token: int = 4, per_message: int = 0
) -> int:
    """Prompt tokens of ``messages`` estimated from the characters of their contents:
    ``chars // chars_per_token + per_message * len(messages)``. The ledger reserves with
    ``CHARS_PER_TOKEN`` and ``TOKENS_PER_MESSAGE`` (an over-estimate); scripted models
    (``ace.testing``) report the plain estimate (4 characters a token)."""
    contents = [str(m.get("content") or "") for m in messages]
    return sum(len(c) for c in contents) // chars_per_token + per_message * len(contents)


def price(model: str, prompt_tokens: int, completion_tokens: int) -> float:
    """What litellm says the tokens cost; raises ``ConfigurationError`` for unpriced models."""
    from ace.llm._litellm import load

    litellm = load()
    try:
        prompt_cost, completion_cost = litellm.cost_per_token(
            model=model, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens
        )
    except Exception as exc:
        raise ConfigurationError(
            f"max_cost_usd is set but litellm cannot price model {model!r} ({exc}); register "
            "a price with litellm.register_model or drop the cost limit"
        ) from exc
    return float(prompt_cost + completion_cost)


class LedgerObserver:
    """Reserves each attempt's worst case before it is sent and settles it afterwards."""

    def __init__(self, ledger: Ledger, kind: CallKind) -> None:
        self.ledger = ledger
        self.kind = kind
        self._open: dict[tuple[str, int, int], Reservation] = {}
        self._lock = threading.Lock()

    def before_attempt(self, info: RequestInfo) -> None:
        """Reserve; raises ``BudgetExceededError`` to refuse the request."""
        completion = info.max_tokens or 0
        prompt = estimate_tokens(
            info.messages, chars_per_token=CHARS_PER_TOKEN, per_message=TOKENS_PER_MESSAGE
        )
        tokens = prompt + completion
        cost = 0.0
        if self.ledger.prices_calls:
            cost = price(info.model, tokens - completion, completion)
        reservation = self.ledger.reserve(self.kind, info.model, tokens=tokens, cost_usd=cost)
        with self._lock:
            self._open[(info.call_id, info.validation_round, info.attempt)] = reservation

    def after_attempt(self, info: RequestInfo, outcome: LLMResponse | BaseException) -> None:
        """Settle to the real usage (a failed attempt still counts as a call)."""
        with self._lock:
            reservation = self._open.pop((info.call_id, info.validation_round, info.attempt), None)
        if reservation is None:
            return
        if isinstance(outcome, LLMResponse):
            self.ledger.settle(
                reservation,
                prompt_tokens=outcome.usage.prompt_tokens,
                completion_tokens=outcome.usage.completion_tokens,
                cost_usd=outcome.cost_usd,
            )
        else:
            self.ledger.settle(reservation, cost_usd=0.0)
