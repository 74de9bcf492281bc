"""``LLMClient``: the one door through which ACE calls a model.

Every call goes through litellm (sync or async), is retried with backoff only when a
retry can help (see ``retry``), is shown to the observers attempt by attempt (see
``observer``) and comes back as an ``LLMResponse`` with usage and cost. Tracing is left to
the observers; the client itself emits no logfire spans.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, Protocol, TypeVar

from ace._text import clean_text
from ace.errors import LLMError, NonRetryableError, StructuredOutputError, UsageError
from ace.llm import _litellm, local
from ace.llm.observer import CallObserver, RequestInfo
from ace.llm.response import LLMResponse, StructuredResult, Usage
from ace.llm.retry import RetryPolicy, find_ace_error, is_retryable
from ace.llm.structured import (
    feedback_message,
    parse_structured,
    response_format_for,
    schema_instruction,
)

T = TypeVar("T")

Message = Mapping[str, Any]
Prompt = str | Sequence[Message]
"""A user prompt as a string, or a list of chat messages (``{"role": ..., "content": ...}``)."""
StructuredMode = Literal["auto", "json_schema", "text"]


@dataclass(frozen=True)
class _Call:
    call_id: str
    kind: Literal["complete", "structured"]
    kwargs: dict[str, Any]

    def info(self, attempt: int, validation_round: int) -> RequestInfo:
        return RequestInfo(
            call_id=self.call_id,
            model=self.kwargs["model"],
            messages=self.kwargs["messages"],
            max_tokens=self.kwargs.get("max_tokens"),
            attempt=attempt,
            validation_round=validation_round,
            kind=self.kind,
        )


class LLMClient:
    """A configured model: ``complete``/``acomplete`` for text, ``structured`` for typed values.

    ``max_retries`` bounds transport retries (rate limits, timeouts, server errors);
    ``retry_policy`` replaces it with full control over the backoff. ``observers`` see
    every attempt (see ``ace.llm.observer``). ``structured_mode`` picks how typed output
    is requested: "auto" uses the provider's JSON-schema mode when litellm says the model
    supports it, else asks for JSON in the prompt and extracts it from the text.
    Remaining keyword arguments are passed to litellm on every call.
    """

    def __init__(
        self,
        model: str,
        *,
        temperature: float = 0.0,
        max_tokens: int | None = None,
        timeout: float | None = None,
        max_retries: int = 3,
        api_base: str | None = None,
        api_key: str | None = None,
        retry_policy: RetryPolicy | None = None,
        observers: Sequence[CallObserver] = (),
        structured_mode: StructuredMode = "auto",
        **extra_litellm_kwargs: Any,
    ) -> None:
        if not isinstance(model, str) or not model.strip():
            raise UsageError(f"model must be a non-empty litellm model string, got {model!r}")
        if max_retries < 0:
            raise UsageError(f"max_retries must be >= 0, got {max_retries}")
        self.model = model
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.timeout = timeout
        self.retry_policy = retry_policy or RetryPolicy(max_retries=max_retries)
        self.observers: tuple[CallObserver, ...] = tuple(observers)
        self.structured_mode: StructuredMode = structured_mode
        self._api_base = api_base
        self._api_key = api_key
        self._extra = dict(extra_litellm_kwargs)
        self._schema_support: bool | None = None

    def __repr__(self) -> str:
        return f"LLMClient(model={self.model!r})"

    def with_observers(self, *observers: CallObserver) -> LLMClient:
        """A copy of this client that also reports to ``observers``."""
        clone = object.__new__(LLMClient)
        clone.__dict__.update(self.__dict__)
        clone.observers = (*self.observers, *observers)
        return clone

    # -- text -------------------------------------------------------------------------

    def complete(
        self,
        prompt: Prompt,
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        response_format: Mapping[str, Any] | None = None,
    ) -> LLMResponse:
        """Send ``prompt`` and return the reply; raises ``LLMError`` once retries are spent."""
        call = self._prepare(prompt, max_tokens, temperature, response_format, "complete")
        return self._run(call, 1)

    async def acomplete(
        self,
        prompt: Prompt,
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        response_format: Mapping[str, Any] | None = None,
    ) -> LLMResponse:
        """Async ``complete``: backoff waits with ``asyncio.sleep``."""
        call = self._prepare(prompt, max_tokens, temperature, response_format, "complete")
        return await self._arun(call, 1)

    # -- typed values -----------------------------------------------------------------

    def structured(
        self,
        prompt: Prompt,
        output_type: type[T],
        *,
        max_validation_retries: int = 2,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> StructuredResult[T]:
        """Ask for a value of ``output_type``; a reply that fails validation is shown its
        errors and asked again, up to ``max_validation_retries`` times.

        Raises ``StructuredOutputError`` when no round validates.
        """
        messages, response_format = self._structured_start(prompt, output_type)
        responses: list[LLMResponse] = []
        call_id = uuid.uuid4().hex
        for round_ in range(1, max_validation_retries + 2):
            call = self._prepare(messages, max_tokens, temperature, response_format, "structured")
            response = self._run(replace(call, call_id=call_id), round_)
            responses.append(response)
            outcome = self._validate(response, output_type, messages, responses)
            if isinstance(outcome, StructuredResult):
                return outcome
            messages = outcome
        raise self._structured_failure(output_type, responses)

    async def astructured(
        self,
        prompt: Prompt,
        output_type: type[T],
        *,
        max_validation_retries: int = 2,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> StructuredResult[T]:
        """Async ``structured``."""
        messages, response_format = self._structured_start(prompt, output_type)
        responses: list[LLMResponse] = []
        call_id = uuid.uuid4().hex
        for round_ in range(1, max_validation_retries + 2):
            call = self._prepare(messages, max_tokens, temperature, response_format, "structured")
            response = await self._arun(replace(call, call_id=call_id), round_)
            responses.append(response)
            outcome = self._validate(response, output_type, messages, responses)
            if isinstance(outcome, StructuredResult):
                return outcome
            messages = outcome
        raise self._structured_failure(output_type, responses)

    def supports_json_schema(self) -> bool:
        """Whether structured calls will use the provider's JSON-schema mode."""
        if self.structured_mode != "auto":
            return self.structured_mode == "json_schema"
        if self._schema_support is None:
            litellm = _litellm.load()
            try:
                self._schema_support = bool(litellm.supports_response_schema(model=self.model))
            except Exception:
                self._schema_support = False
        return self._schema_support

    # -- the attempt loop ---------------------------------------------------------------

    def _run(self, call: _Call, validation_round: int) -> LLMResponse:
        litellm = _litellm.load()
        attempt = 0
        last: BaseException | None = None
        while True:
            attempt += 1
            info = call.info(attempt, validation_round)
            self._admit(info, last)
            started = time.perf_counter()
            try:
                raw = litellm.completion(**local.route(call.kwargs))
            except BaseException as exc:
                time.sleep(self._failed(info, exc, litellm))
                last = exc
                continue
            return self._succeeded(info, raw, started, litellm)

    async def _arun(self, call: _Call, validation_round: int) -> LLMResponse:
        litellm = _litellm.load()
        attempt = 0
        last: BaseException | None = None
        while True:
            attempt += 1
            info = call.info(attempt, validation_round)
            self._admit(info, last)
            started = time.perf_counter()
            try:
                raw = await litellm.acompletion(**local.route(call.kwargs))
            except BaseException as exc:
                await asyncio.sleep(self._failed(info, exc, litellm))
                last = exc
                continue
            return self._succeeded(info, raw, started, litellm)

    def _admit(self, info: RequestInfo, last_failure: BaseException | None) -> None:
        """Ask every observer (the budget) to admit the attempt. When a retry is refused,
        the call failed because of the attempts before it: that error is the cause, and
        the refusal says only why there was no further try."""
        admitted: list[CallObserver] = []
        for observer in self.observers:
            try:
                observer.before_attempt(info)
            except BaseException as refusal:
                for earlier in admitted:
                    earlier.after_attempt(info, refusal)
                if last_failure is None or not isinstance(refusal, Exception):
                    raise
                raise LLMError(
                    f"{self.model}: gave up after {info.attempt - 1} attempt(s); last error "
                    f"{_describe(last_failure)}; no retry: {_first_line(refusal)}",
                    model=self.model,
                    attempts=info.attempt - 1,
                ) from last_failure
            admitted.append(observer)

    def _notify(self, info: RequestInfo, outcome: LLMResponse | BaseException) -> None:
        for observer in self.observers:
            observer.after_attempt(info, outcome)

    def _failed(self, info: RequestInfo, exc: BaseException, litellm: Any) -> float:
        """Report a failed attempt; return the wait before retrying, or raise."""
        self._notify(info, find_ace_error(exc) or exc)
        if not isinstance(exc, Exception):
            raise exc
        ace_error = find_ace_error(exc)
        if ace_error is exc:
            raise exc
        if ace_error is not None:
            # Unwrap what litellm wrapped: callers catch our types, not APIConnectionError.
            # Its own __cause__ (e.g. a script's exception) stays; litellm's wrapper is hidden.
            ace_error.__suppress_context__ = True
            raise ace_error
        if not isinstance(exc, tuple(litellm.LITELLM_EXCEPTION_TYPES)):
            raise exc
        summary = _describe(exc)
        cause = local.failure_cause(self.model)
        if cause is not None:
            summary = f"{summary}; cause: {cause}"
        if not is_retryable(exc, litellm):
            raise NonRetryableError(
                f"{self.model}: {summary} (not retried: retrying cannot fix this)",
                model=self.model,
                attempts=info.attempt,
            ) from exc
        if info.attempt > self.retry_policy.max_retries:
            raise LLMError(
                f"{self.model}: gave up after {info.attempt} attempts; last error {summary}",
                model=self.model,
                attempts=info.attempt,
            ) from exc
        return self.retry_policy.delay_s(info.attempt)

    def _succeeded(self, info: RequestInfo, raw: Any, started: float, litellm: Any) -> LLMResponse:
        response = _to_response(
            raw, self.model, time.perf_counter() - started, info.attempt, litellm
        )
        self._notify(info, response)
        return response

    # -- request building -----------------------------------------------------------------

    def _prepare(
        self,
        prompt: Prompt,
        max_tokens: int | None,
        temperature: float | None,
        response_format: Mapping[str, Any] | None,
        kind: Literal["complete", "structured"],
    ) -> _Call:
        # Our loop is the only retry loop; litellm and the OpenAI SDK would otherwise retry
        # underneath it, multiplying attempts the observers never see.
        kwargs: dict[str, Any] = {"max_retries": 0, **self._extra}
        kwargs["model"] = self.model
        kwargs["messages"] = _as_messages(prompt)
        kwargs["temperature"] = self.temperature if temperature is None else temperature
        tokens = self.max_tokens if max_tokens is None else max_tokens
        if tokens is not None:
            kwargs["max_tokens"] = tokens
        if response_format is not None:
            kwargs["response_format"] = dict(response_format)
        if self.timeout is not None:
            kwargs["timeout"] = self.timeout
        if self._api_base is not None:
            kwargs["api_base"] = self._api_base
        if self._api_key is not None:
            kwargs["api_key"] = self._api_key
        return _Call(call_id=uuid.uuid4().hex, kind=kind, kwargs=kwargs)

    def _structured_start(
        self, prompt: Prompt, output_type: type[Any]
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        messages = _as_messages(prompt)
        if self.supports_json_schema():
            return messages, response_format_for(output_type)
        return _with_instruction(messages, schema_instruction(output_type)), None

    def _validate(
        self,
        response: LLMResponse,
        output_type: type[T],
        messages: list[dict[str, Any]],
        responses: list[LLMResponse],
    ) -> StructuredResult[T] | list[dict[str, Any]]:
        """The result, or the messages for the next round with the error fed back."""
        try:
            value = parse_structured(response.text, output_type, model=self.model)
        except StructuredOutputError as error:
            return [
                *messages,
                {"role": "assistant", "content": response.text},
                {"role": "user", "content": feedback_message(error, output_type)},
            ]
        return StructuredResult(value=value, responses=list(responses))

    def _structured_failure(
        self, output_type: type[Any], responses: list[LLMResponse]
    ) -> StructuredOutputError:
        last = responses[-1].text
        try:
            parse_structured(last, output_type, model=self.model)
            problem = "unknown"
        except StructuredOutputError as error:
            problem = str(error)
        name = getattr(output_type, "__name__", repr(output_type))
        return StructuredOutputError(
            f"{self.model}: no reply validated into {name} in {len(responses)} round(s); "
            f"last problem: {problem}",
            model=self.model,
            attempts=len(responses),
            last_text=last,
        )


class _Named(Protocol):
    @property
    def name(self) -> str: ...


def get_client(model: str | LLMClient | _Named, **options: Any) -> LLMClient:
    """An ``LLMClient`` for ``model``: a model string, an object with a model ``name``
    (e.g. ``ace.testing.ScriptedModel``), or a client (returned as is if no options)."""
    if isinstance(model, LLMClient):
        if options:
            raise UsageError("get_client: options cannot be applied to an existing LLMClient")
        return model
    if isinstance(model, str):
        return LLMClient(model, **options)
    return LLMClient(model.name, **options)


def _as_messages(prompt: Prompt) -> list[dict[str, Any]]:
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    messages = [dict(message) for message in prompt]
    for index, message in enumerate(messages):
        if "role" not in message:
            raise UsageError(f"message {index} has no 'role': {message!r:.200}")
    if not messages:
        raise UsageError("cannot call a model with an empty message list")
    return messages


def _with_instruction(messages: list[dict[str, Any]], instruction: str) -> list[dict[str, Any]]:
    last = messages[-1]
    if last.get("role") == "user" and isinstance(last.get("content"), str):
        return [*messages[:-1], {**last, "content": f"{last['content']}\n\n{instruction}"}]
    return [*messages, {"role": "user", "content": instruction}]


def _first_line(exc: BaseException) -> str:
    # litellm appends the wrapped exception's traceback to APIConnectionError messages.
    text = str(exc).split("\nTraceback", 1)[0].strip().split("\n", 1)[0]
    return text.removeprefix(f"litellm.{type(exc).__name__}: ")[:500]


def _describe(exc: BaseException) -> str:
    """``Type: first line``, and the innermost cause when there is one under it."""
    text = f"{type(exc).__name__}: {_first_line(exc)}"
    root = _root_exception(exc)
    if root is not exc:
        text += f" (caused by {type(root).__name__}: {_first_line(root)})"
    return text


def _root_exception(exc: BaseException) -> BaseException:
    """The innermost exception behind `exc` (``__cause__``, else ``__context__``): for a
    connection failure, the ``ConnectionRefusedError`` under litellm's wrappers."""
    seen = {id(exc)}
    current = exc
    while True:
        inner = current.__cause__ or current.__context__
        if inner is None or id(inner) in seen:
            return current
        seen.add(id(inner))
        current = inner


def _to_response(raw: Any, model: str, duration: float, attempt: int, litellm: Any) -> LLMResponse:
    choice = raw.choices[0]
    message = getattr(choice, "message", None)
    raw_usage = getattr(raw, "usage", None)
    usage = Usage(
        prompt_tokens=getattr(raw_usage, "prompt_tokens", 0) or 0,
        completion_tokens=getattr(raw_usage, "completion_tokens", 0) or 0,
        total_tokens=getattr(raw_usage, "total_tokens", 0) or 0,
    )
    return LLMResponse(
        text=clean_text(getattr(message, "content", None) or ""),
        model=model,
        usage=usage,
        cost_usd=_cost(raw, model, litellm),
        duration_s=duration,
        finish_reason=getattr(choice, "finish_reason", None),
        attempts=attempt,
        raw=raw,
    )


def _cost(raw: Any, model: str, litellm: Any) -> float | None:
    hidden = getattr(raw, "_hidden_params", None) or {}
    if "response_cost" in hidden:
        cost = hidden["response_cost"]
    else:
        try:
            cost = litellm.completion_cost(completion_response=raw, model=model)
        except Exception:
            # litellm raises for models missing from its price map: unknown, not free.
            return None
    if cost is None:
        return None
    if cost == 0 and not _has_token_prices(model, litellm):
        # Registered for its capabilities only (e.g. JSON-schema support): litellm says
        # 0.0, but nothing was priced.
        return None
    return float(cost)


def _has_token_prices(model: str, litellm: Any) -> bool:
    # get_model_info fills missing prices with 0, so read the raw entry instead.
    for key in (model, model.split("/", 1)[-1]):
        entry = litellm.model_cost.get(key)
        if entry is not None:
            return any("cost" in name and value is not None for name, value in entry.items())
    return True
