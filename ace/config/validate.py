"""``validate_connection``: one cheap call that says whether a model answers, and how fast."""

from __future__ import annotations

import time
from dataclasses import dataclass

PROBE = "Reply with the single word OK."


@dataclass(frozen=True)
class ValidationResult:
    """The outcome of one probe call."""

    model: str
    success: bool
    answer: str = ""
    latency_s: float = 0.0
    error: str | None = None
    """``"ErrorType: message"`` when the call failed."""


def validate_connection(model: str, *, timeout: float = 30.0) -> ValidationResult:
    """Send one short prompt (at most 8 reply tokens, no retries); never raises for the
    model's failure, which is returned in ``error``."""
    from ace.llm import LLMClient

    client = LLMClient(model, max_tokens=8, timeout=timeout, max_retries=0)
    started = time.monotonic()
    try:
        reply = client.complete(PROBE)
    except Exception as exc:  # the caller reports it; nothing is retried or lost
        cause = exc.__cause__ or exc
        message = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
        return ValidationResult(
            model, False, latency_s=time.monotonic() - started,
            error=f"{type(cause).__name__}: {message}"[:500],
        )  # fmt: skip
    return ValidationResult(model, True, reply.text.strip(), time.monotonic() - started)
