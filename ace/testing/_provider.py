"""The litellm custom provider behind ``scripted/...`` models (imported only after litellm)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from ace.errors import ACEError
from ace.llm import _litellm
from ace.testing.models import (
    PROVIDER,
    Fail,
    RecordedRequest,
    Reply,
    ScriptError,
    _ScriptedBase,
    lookup,
)

litellm: Any = _litellm.load()

_NAMED_PARAMS = ("max_tokens", "temperature", "response_format")


class ScriptedProvider(litellm.CustomLLM):  # type: ignore[misc]
    """Routes ``scripted/<name>`` calls to the registered scripted model."""

    def completion(self, *args: Any, **kwargs: Any) -> Any:
        """Sync path: sleeps for the reply's simulated latency."""
        model, request, reply = _answer(kwargs)
        if reply.delay_s:
            time.sleep(reply.delay_s)
        return _fill(kwargs["model_response"], model, request, reply)

    async def acompletion(self, *args: Any, **kwargs: Any) -> Any:
        """Async path: awaits the simulated latency, so concurrent calls overlap."""
        model, request, reply = _answer(kwargs)
        if reply.delay_s:
            await asyncio.sleep(reply.delay_s)
        return _fill(kwargs["model_response"], model, request, reply)


def _answer(kwargs: dict[str, Any]) -> tuple[_ScriptedBase, RecordedRequest, Reply]:
    short = kwargs["model"]
    model = lookup(short)
    if model is None:
        raise ScriptError(
            f"no scripted model named {PROVIDER}/{short}: create it with "
            "ace.testing.ScriptedModel/FunctionModel and use its .name",
            model=f"{PROVIDER}/{short}",
        )
    params = dict(kwargs.get("optional_params") or {})
    request = RecordedRequest(
        messages=[dict(m) for m in kwargs.get("messages") or []],
        max_tokens=params.pop("max_tokens", None),
        temperature=params.pop("temperature", None),
        response_format=params.pop("response_format", None),
        kwargs=params,
    )
    outcome = model.respond(request)
    if isinstance(outcome, Fail):
        raise _litellm_error(outcome, model.name)
    if isinstance(outcome, BaseException):
        if isinstance(outcome, (ACEError, *litellm.LITELLM_EXCEPTION_TYPES)):
            raise outcome
        raise ScriptError(
            f"scripted model {model.name!r} raised {type(outcome).__name__}: {outcome}",
            model=model.name,
        ) from outcome
    if outcome.delay_s is None:
        outcome = Reply(
            outcome.text,
            prompt_tokens=outcome.prompt_tokens,
            completion_tokens=outcome.completion_tokens,
            delay_s=model.delay_s,
            finish_reason=outcome.finish_reason,
        )
    return model, request, outcome


def _fill(response: Any, model: _ScriptedBase, request: RecordedRequest, reply: Reply) -> Any:
    from ace.rr._metering import estimate_tokens

    prompt = (
        reply.prompt_tokens
        if reply.prompt_tokens is not None
        else estimate_tokens(request.messages)
    )
    completion = (
        reply.completion_tokens if reply.completion_tokens is not None else len(reply.text) // 4
    )
    response.choices[0].message.content = reply.text
    response.choices[0].finish_reason = reply.finish_reason
    response.model = model.name
    response.usage = litellm.Usage(
        prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
    )
    return response


def _litellm_error(fail: Fail, model: str) -> Exception:
    kinds = {
        "rate_limit": litellm.RateLimitError,
        "timeout": litellm.Timeout,
        "server_error": litellm.InternalServerError,
        "auth": litellm.AuthenticationError,
        "bad_request": litellm.BadRequestError,
    }
    error: Exception = kinds[fail.kind](message=fail.message, model=model, llm_provider=PROVIDER)
    return error
