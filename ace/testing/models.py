"""Scripted stand-ins for real models, reached through litellm like any provider.

A ``ScriptedModel`` answers with a fixed list of replies (the conversation, in order); a
``FunctionModel`` computes each reply from the request. Both have a ``name`` such as
``"scripted/model-3"`` that works wherever ACE accepts a model string, because litellm
routes it to ``ace.testing``'s custom provider. Every request is recorded.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import KW_ONLY, dataclass, field
from typing import Any, Literal

from ace.errors import NonRetryableError, UsageError

PROVIDER = "scripted"
"""The litellm provider name under which scripted models are registered."""

FailureKind = Literal["rate_limit", "timeout", "server_error", "auth", "bad_request"]


@dataclass(frozen=True)
class Reply:
    """One scripted reply with optional usage and simulated latency."""

    text: str
    """The reply's content."""
    _: KW_ONLY
    prompt_tokens: int | None = None
    """Reported prompt tokens; default: characters of the request's messages // 4
    (``ace.rr._metering.estimate_tokens``)."""
    completion_tokens: int | None = None
    """Reported completion tokens; default: ``len(text) // 4``."""
    delay_s: float | None = None
    """Simulated latency; None means the model's default ``delay_s``."""
    finish_reason: str = "stop"
    """Reported finish reason."""


@dataclass(frozen=True)
class Fail:
    """A scripted failure, raised as the matching litellm error (so retry rules apply).

    ``rate_limit``, ``timeout`` and ``server_error`` are retried by ``LLMClient``;
    ``auth`` and ``bad_request`` are not.
    """

    kind: FailureKind
    """Which litellm error to raise."""
    message: str = "simulated failure"
    """The error message."""


@dataclass(frozen=True)
class RecordedRequest:
    """What the scripted model was asked."""

    messages: list[dict[str, Any]]
    """The chat messages as litellm passed them."""
    max_tokens: int | None = None
    """The completion-token cap, if any."""
    temperature: float | None = None
    """The sampling temperature, if any."""
    response_format: dict[str, Any] | None = None
    """The requested response format (e.g. a ``json_schema``), if any."""
    kwargs: dict[str, Any] = field(default_factory=dict)
    """Every other parameter litellm passed on."""

    @property
    def last_user_text(self) -> str:
        """The content of the last user message ("" if none is a string)."""
        for message in reversed(self.messages):
            if message.get("role") == "user" and isinstance(message.get("content"), str):
                return str(message["content"])
        return ""


ScriptItem = str | Reply | Fail | BaseException
"""A scripted reply: text, a ``Reply``, a ``Fail``, or an exception instance to raise."""


class ScriptExhausted(NonRetryableError):
    """A scripted model was asked for more replies than it was given."""


class ScriptError(NonRetryableError):
    """A scripted model's own exception (or a ``FunctionModel``'s function raising); the
    original is the ``__cause__``. Not retried, so a broken script fails once."""


_registry: dict[str, _ScriptedBase] = {}
_registry_lock = threading.Lock()
_counter = itertools.count(1)


def lookup(name: str) -> _ScriptedBase | None:
    """The scripted model registered as ``name`` (without the provider prefix)."""
    return _registry.get(name)


class _ScriptedBase:
    def __init__(self, *, name: str | None, delay_s: float, kind: str) -> None:
        if delay_s < 0:
            raise UsageError(f"delay_s must be >= 0, got {delay_s}")
        with _registry_lock:
            short = name if name is not None else f"{kind}-{next(_counter)}"
            if "/" in short or not short:
                raise UsageError(f"scripted model name must be non-empty without '/': {short!r}")
            if short in _registry:
                raise UsageError(f"a scripted model named {short!r} already exists")
            _registry[short] = self
        self._short = short
        self.delay_s = delay_s
        self.requests: list[RecordedRequest] = []
        """Every request received, in arrival order."""
        self._lock = threading.Lock()
        self._model_info: dict[str, Any] = {}
        _register_provider_when_litellm_loads()

    @property
    def name(self) -> str:
        """The model string to pass to ``LLMClient``/litellm, e.g. ``"scripted/model-3"``."""
        _register_provider_when_litellm_loads()
        return f"{PROVIDER}/{self._short}"

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"

    def set_price(self, *, input_per_token: float, output_per_token: float) -> None:
        """Give this model a price (US dollars per token) so calls report a cost."""
        self._model_info["input_cost_per_token"] = input_per_token
        self._model_info["output_cost_per_token"] = output_per_token
        self._register_model_info()

    def enable_json_schema(self) -> None:
        """Declare JSON-schema support, so ``LLMClient.structured`` sends ``response_format``."""
        self._model_info["supports_response_schema"] = True
        self._register_model_info()

    def _register_model_info(self) -> None:
        from ace.llm import _litellm

        litellm = _litellm.load()
        info = {"litellm_provider": PROVIDER, "mode": "chat", **self._model_info}
        litellm.register_model({self.name: info})

    def _record(self, request: RecordedRequest) -> int:
        with self._lock:
            self.requests.append(request)
            return len(self.requests)

    def respond(self, request: RecordedRequest) -> Reply | Fail | BaseException:
        """Record ``request`` and produce the reply (called by the provider, any thread)."""
        raise NotImplementedError


class ScriptedModel(_ScriptedBase):
    """Answers with ``replies`` in order; asking once more raises ``ScriptExhausted``.

    Thread-safe: concurrent callers each get a distinct reply.
    """

    def __init__(
        self,
        replies: Iterable[ScriptItem],
        *,
        name: str | None = None,
        delay_s: float = 0.0,
    ) -> None:
        self._replies: deque[ScriptItem] = deque(replies)
        self._given = len(self._replies)
        super().__init__(name=name, delay_s=delay_s, kind="model")

    @property
    def remaining(self) -> int:
        """Replies not yet used."""
        with self._lock:
            return len(self._replies)

    def respond(self, request: RecordedRequest) -> Reply | Fail | BaseException:
        """Record ``request`` and pop the next reply."""
        with self._lock:
            self.requests.append(request)
            number = len(self.requests)
            item = self._replies.popleft() if self._replies else None
        if item is None:
            return ScriptExhausted(
                f"scripted model {self.name!r} ran out of replies: it was given "
                f"{self._given} and received request #{number}. Add replies to the script.",
                model=self.name,
            )
        return Reply(item) if isinstance(item, str) else item


class FunctionModel(_ScriptedBase):
    """Answers with ``fn(request)``: text, a ``Reply`` or a ``Fail``; may raise.

    ``fn`` may be called from several threads at once.
    """

    def __init__(
        self,
        fn: Callable[[RecordedRequest], str | Reply | Fail],
        *,
        name: str | None = None,
        delay_s: float = 0.0,
    ) -> None:
        self._fn = fn
        super().__init__(name=name, delay_s=delay_s, kind="function")

    def respond(self, request: RecordedRequest) -> Reply | Fail | BaseException:
        """Record ``request`` and call the function."""
        self._record(request)
        try:
            result = self._fn(request)
        except Exception as exc:
            return exc
        return Reply(result) if isinstance(result, str) else result


def _register_provider_when_litellm_loads() -> None:
    from ace.replay._register import register_provider

    register_provider(PROVIDER, _scripted_handler)


def _scripted_handler(litellm: Any) -> Any:
    from ace.testing._provider import ScriptedProvider

    return ScriptedProvider()
