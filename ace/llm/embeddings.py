"""Text embeddings through litellm (imported on first use), with the client's retry rules.

``embed(texts, model=...)`` returns one vector per text, in input order. Transient
failures (rate limits, timeouts, server errors) are retried with backoff like
``LLMClient`` calls; anything else raises ``LLMError`` (or the ACE error a provider
raised) at once.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from ace.errors import LLMError, NonRetryableError, UsageError
from ace.llm import _litellm
from ace.llm.retry import RetryPolicy, find_ace_error, is_retryable

DEFAULT_BATCH_SIZE = 128
"""Texts sent per request; providers cap the inputs of one call (OpenAI: 2048)."""


def embed(
    texts: Sequence[str],
    *,
    model: str,
    batch_size: int = DEFAULT_BATCH_SIZE,
    retry_policy: RetryPolicy | None = None,
    **litellm_kwargs: Any,
) -> list[list[float]]:
    """Embed ``texts`` with ``model`` (any litellm embedding model string).

    Extra keyword arguments (``api_base``, ``api_key``, ``dimensions``, ...) go to
    ``litellm.embedding`` on every request.
    """
    if not isinstance(model, str) or not model.strip():
        raise UsageError(f"embed: model must be a non-empty litellm model string, got {model!r}")
    if batch_size < 1:
        raise UsageError(f"embed: batch_size must be >= 1, got {batch_size}")
    policy = retry_policy or RetryPolicy()
    vectors: list[list[float]] = []
    items = list(texts)
    for start in range(0, len(items), batch_size):
        batch = items[start : start + batch_size]
        vectors.extend(_embed_batch(batch, model, policy, litellm_kwargs))
    return vectors


def _embed_batch(
    batch: list[str], model: str, policy: RetryPolicy, kwargs: dict[str, Any]
) -> list[list[float]]:
    litellm = _litellm.load()
    attempt = 0
    while True:
        attempt += 1
        try:
            response = litellm.embedding(model=model, input=batch, **kwargs)
        except Exception as exc:
            time.sleep(_retry_delay(exc, model, attempt, policy, litellm))
            continue
        return _vectors(response, model, len(batch))


def _retry_delay(
    exc: Exception, model: str, attempt: int, policy: RetryPolicy, litellm: Any
) -> float:
    ace_error = find_ace_error(exc)
    if ace_error is not None:
        if ace_error is not exc:
            ace_error.__suppress_context__ = True
        raise ace_error
    summary = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:500]
    if not is_retryable(exc, litellm):
        raise NonRetryableError(
            f"{model}: embedding failed with {summary} (not retried)", model=model, attempts=attempt
        ) from exc
    if attempt > policy.max_retries:
        raise LLMError(
            f"{model}: embedding gave up after {attempt} attempts; last error {summary}",
            model=model,
            attempts=attempt,
        ) from exc
    return policy.delay_s(attempt)


def _vectors(response: Any, model: str, expected: int) -> list[list[float]]:
    data = list(getattr(response, "data", None) or [])
    items = sorted((_field(d, "index"), _field(d, "embedding")) for d in data)
    if len(items) != expected:
        raise LLMError(
            f"{model}: embedding returned {len(items)} vectors for {expected} texts", model=model
        )
    return [[float(x) for x in vector] for _, vector in items]


def _field(item: Any, name: str) -> Any:
    return item[name] if isinstance(item, dict) else getattr(item, name)
