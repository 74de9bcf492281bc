"""Model strings for local models: ``local`` and ``local/NAME`` (e.g. ``local/qwen2.5-coder-1.5b``).

``LLMClient`` hands each request's litellm arguments to :func:`route` just before sending.
For a local model it starts (or reuses) the llama.cpp server and rewrites the request for
litellm's OpenAI-compatible path; any other model passes through untouched. Importing this
module is cheap: it registers zero prices with litellm for when litellm loads, so cost
limits and ``completion_cost`` work, and imports nothing heavy.
"""

from __future__ import annotations

import os
import secrets
from typing import Any

from ace.llm import _litellm
from ace.local_model._spec import MODELS, spec_for

PREFIX = "local"
"""The provider prefix of local model strings."""

GRAMMAR_ENV = "ACE_LOCAL_GRAMMAR"
"""Set to 1 to have structured calls use the server's JSON-schema grammar (slower)."""

DEFAULT_TIMEOUT_S = 1_800.0
"""Per-request timeout when the caller set none: the server answers one request at a time
(~10 tokens/s on two cores), so a queued sub-call may wait for several others."""

DEFAULT_MAX_TOKENS = 1_024
"""Reply cap when the caller set none: uncapped, a rambling 1.5B model writes until the
context is full (minutes at ~10 tokens/s); 1,024 tokens holds any reflection or update."""


def is_local_model(model: object) -> bool:
    """Whether ``model`` names a local model (``local`` or ``local/NAME``)."""
    return isinstance(model, str) and (model == PREFIX or model.startswith(PREFIX + "/"))


def route(kwargs: dict[str, Any]) -> dict[str, Any]:
    """litellm arguments for this request: unchanged unless the model is local.

    For a local model: the server is started or reused (raises ``LocalModelNotInstalled``
    naming the install command when the extra or the model is missing) and the request goes
    to it as an OpenAI-compatible model on a loopback ``api_base``, with a timeout, a
    reply cap and (when sampling) a fresh seed when the caller set none.
    """
    model = kwargs.get("model")
    if not is_local_model(model):
        return kwargs
    from ace.local_model._server import ensure_server

    spec = spec_for(str(model))
    server = ensure_server(spec)
    server.requests += 1
    routed = {
        **kwargs,
        "model": f"openai/{spec.name}",
        "api_base": server.api_base,
        "api_key": "local",
    }
    if routed.get("timeout") is None:
        routed["timeout"] = DEFAULT_TIMEOUT_S
    if routed.get("max_tokens") is None:
        routed["max_tokens"] = DEFAULT_MAX_TOKENS
    if routed.get("seed") is None and (routed.get("temperature") or 0) > 0:
        # llama.cpp's server otherwise derives each seed from the one saved with the cached
        # prompt prefix it restores: turns sharing a prefix repeat their seed sequence.
        routed["seed"] = secrets.randbelow(2**31)
    if "response_format" in routed:
        routed["response_format"] = _llama_response_format(routed["response_format"])
    return routed


def failure_cause(model: str) -> str | None:
    """For a local model whose server has died: how (signal or status, log); else None.

    Lets a failed request name the cause instead of the connection error it caused.
    """
    if not is_local_model(model):
        return None
    from ace.local_model._server import server_failure

    return server_failure(spec_for(model))


def _llama_response_format(response_format: Any) -> Any:
    """OpenAI's ``json_schema`` format in the shape llama-cpp-python's server accepts
    (``{"type": "json_object", "schema": ...}``), which it turns into a grammar."""
    if isinstance(response_format, dict) and response_format.get("type") == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema")
        converted: dict[str, Any] = {"type": "json_object"}
        if schema is not None:
            converted["schema"] = schema
        return converted
    return response_format


def _register(litellm: Any) -> None:
    free = {
        "input_cost_per_token": 0.0,
        "output_cost_per_token": 0.0,
        "litellm_provider": "openai",
        "mode": "chat",
        # The server can constrain replies with a grammar built from the schema, but its
        # grammar sampler checks the whole 152k vocabulary at every token: measured 4x
        # slower (1 token/s). By default structured calls ask for JSON in the prompt and
        # validate instead; ACE_LOCAL_GRAMMAR=1 turns the grammar on.
        "supports_response_schema": os.environ.get(GRAMMAR_ENV, "") not in ("", "0"),
        "max_input_tokens": 32_768,
        "max_output_tokens": 32_768,
        "max_tokens": 32_768,
    }
    entries: dict[str, Any] = {PREFIX: free}
    for name in MODELS:
        entries[f"{PREFIX}/{name}"] = free
        entries[f"openai/{name}"] = free
    litellm.register_model(entries)


_litellm.on_load(_register)
