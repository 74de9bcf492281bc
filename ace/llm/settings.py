"""``client_from_settings``: an ``LLMClient`` from a model and pydantic-ai style settings.

The established ACE package takes ``model_settings`` (pydantic-ai's ``ModelSettings``: a
mapping such as ``{"temperature": 0.2, "max_tokens": 500, "stop_sequences": ["END"]}``)
wherever a role or the Recursive Reflector is given a model. This module turns such a
mapping into the one thing ACE calls models with: an ``LLMClient``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ace.errors import UsageError

if TYPE_CHECKING:
    from ace.llm.client import LLMClient

_RESERVED = frozenset(
    {"model", "messages", "observers", "retry_policy", "structured_mode", "stream", "stop"}
)
"""Keys that are not model settings (or that have a settings name, ``stop_sequences``)."""


def client_from_settings(
    model: Any,
    model_settings: Mapping[str, Any] | None = None,
    *,
    max_retries: int | None = None,
) -> LLMClient:
    """An ``LLMClient`` for ``model`` configured by ``model_settings``.

    ``model`` is a litellm model string, an object with a model ``name`` (e.g.
    ``ace.testing.ScriptedModel``), or an ``LLMClient``, returned unchanged when there are
    no settings (``None`` or an empty mapping); a client *with* settings is a
    ``UsageError``: configure the client itself instead.

    Mapping: ``temperature``, ``max_tokens`` and ``timeout`` become the client's parameters
    of those names, ``stop_sequences`` becomes litellm's ``stop``, ``max_retries`` (if
    present) the client's transport retries, and every other key (``top_p``, ``seed``,
    ``presence_penalty``, ``extra_headers``, ``extra_body``, ``api_base``, ...) is passed to
    litellm on every call. A key whose value is ``None`` counts as not set. The
    ``max_retries`` argument applies when the settings do not name it (else the client's
    default, 3). A non-mapping, a non-string key, ``stop`` (use ``stop_sequences``), a key
    that is not a model setting (``model``, ``messages``, ``stream``, ...) or a malformed
    ``temperature``/``max_tokens``/``timeout``/``stop_sequences`` raises ``UsageError``
    before any model call.
    """
    from ace.llm.client import LLMClient, get_client

    if model_settings is not None and not isinstance(model_settings, Mapping):
        raise UsageError(
            "model_settings must be a mapping such as {'temperature': 0.2, 'max_tokens': 500}, "
            f"got {type(model_settings).__name__}"
        )
    settings = {k: v for k, v in (model_settings or {}).items() if v is not None}
    for key in settings:
        if not isinstance(key, str):
            raise UsageError(f"model_settings keys must be strings, got {key!r}")
    if isinstance(model, LLMClient):
        if settings:
            raise UsageError(
                "model_settings cannot be applied to an existing LLMClient; configure the "
                "client instead (LLMClient(model, temperature=..., max_tokens=..., **litellm_kwargs))"
            )
        return model
    reserved = sorted(_RESERVED & settings.keys())
    if reserved:
        hint = " (use 'stop_sequences')" if "stop" in reserved else ""
        raise UsageError(f"model_settings: {', '.join(reserved)} is not a model setting{hint}")
    options: dict[str, Any] = {}
    if "temperature" in settings:
        options["temperature"] = _number(settings.pop("temperature"), "temperature", low=0.0)
    if "max_tokens" in settings:
        options["max_tokens"] = _count(settings.pop("max_tokens"), "max_tokens", low=1)
    if "timeout" in settings:
        options["timeout"] = _number(settings.pop("timeout"), "timeout", low=0.0, open_low=True)
    if "max_retries" in settings:
        options["max_retries"] = _count(settings.pop("max_retries"), "max_retries", low=0)
    elif max_retries is not None:
        options["max_retries"] = max_retries
    if "stop_sequences" in settings:
        stop = settings.pop("stop_sequences")
        if not isinstance(stop, list | tuple) or not all(isinstance(s, str) for s in stop):
            raise UsageError(
                f"model_settings: stop_sequences must be a list of strings, got {stop!r}"
            )
        options["stop"] = list(stop)
    return get_client(model, **options, **settings)


def _number(value: Any, key: str, *, low: float, open_low: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UsageError(f"model_settings: {key} must be a number, got {value!r}")
    if value < low or (open_low and value == low):
        bound = ">" if open_low else ">="
        raise UsageError(f"model_settings: {key} must be {bound} {low:g}, got {value!r}")
    return float(value)


def _count(value: Any, key: str, *, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise UsageError(f"model_settings: {key} must be an integer >= {low}, got {value!r}")
    return value
