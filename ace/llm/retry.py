"""Which failures are worth retrying, and how long to wait between tries.

Retried: rate limits, timeouts, server errors (5xx) and network-level connection
failures. Never retried: ACE's own errors (``NonRetryableError``, ``BudgetExceededError``,
...), authentication and bad-request errors, and anything a custom provider raised that is
not a litellm error (litellm reports those as ``APIConnectionError``; retrying a bug or an
exhausted script cannot help).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any

from ace.errors import ACEError

NON_RETRYABLE_MARK = "[ace:non-retryable]"
"""Put in an error message raised inside a provider to forbid retries even when litellm
has dropped the exception's type (e.g. across a process boundary)."""


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """Bounded exponential backoff with jitter."""

    max_retries: int = 3
    """Retries after the first attempt; 0 disables retrying."""
    initial_delay_s: float = 0.5
    """Wait before the first retry."""
    multiplier: float = 2.0
    """Each further wait is this many times the previous one."""
    max_delay_s: float = 20.0
    """Upper bound of one wait."""
    jitter: float = 0.1
    """Random fraction added to each wait so concurrent callers do not retry in step."""

    def delay_s(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1-based)."""
        base = min(self.max_delay_s, self.initial_delay_s * self.multiplier ** (retry - 1))
        return base * (1.0 + self.jitter * random.random())


def find_ace_error(exc: BaseException) -> ACEError | None:
    """The ACE error ``exc`` is, or that litellm wrapped into it (via ``__cause__``/``__context__``)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ACEError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def is_retryable(exc: BaseException, litellm: Any) -> bool:
    """Whether a failed attempt that raised ``exc`` may be tried again."""
    if find_ace_error(exc) is not None or NON_RETRYABLE_MARK in str(exc):
        return False
    # litellm.Timeout subclasses APIConnectionError, so it is checked first.
    if isinstance(exc, litellm.Timeout):
        return True
    if isinstance(exc, litellm.APIConnectionError):
        return _caused_by_network(exc)
    if isinstance(exc, litellm.InternalServerError) and missing_key_error(exc):
        return False
    if isinstance(exc, litellm.RateLimitError | litellm.InternalServerError):
        return True
    if isinstance(exc, litellm.ServiceUnavailableError | litellm.BadGatewayError):
        return True
    if isinstance(exc, litellm.APIError):
        status = getattr(exc, "status_code", None)
        return isinstance(status, int) and (status in (408, 429) or status >= 500)
    return False


_MISSING_KEY = re.compile(
    r"api[_ ]key\b.{0,80}\b(must be set|is missing|not set|not found|required)|missing api[_ ]key|no api[_ ]key",
    re.IGNORECASE | re.DOTALL,
)


def missing_key_error(exc: BaseException) -> bool:
    """Whether ``exc`` says the provider's API key is absent: litellm reports that as an
    internal server error for some providers, but no retry can fix it."""
    return bool(_MISSING_KEY.search(str(exc)))


def _caused_by_network(exc: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc.__cause__ or exc.__context__
    while current is not None and id(current) not in seen:
        if _is_network_error(current):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def _is_network_error(exc: BaseException) -> bool:
    import httpx  # a litellm dependency, so already imported when this runs

    # OSError covers ConnectionError and socket errors; httpx wraps them in TransportError.
    return isinstance(exc, httpx.TransportError | OSError)
