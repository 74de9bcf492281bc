"""Recording every model request and reply made through litellm while active.

The recorder wraps ``litellm.completion`` and ``litellm.acompletion`` (the functions
``ace.llm`` calls), so it sees main turns and concurrent sub-calls alike, synchronously,
in the order they complete. Failed attempts are not recorded: a replay answers every
request on its first attempt.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from ace.replay.cassette import Cassette, Interaction, RecordedReply

_WRAPPED = ("completion", "acompletion")


class Recorder:
    """Context manager: while inside, every litellm completion is added to ``cassette``."""

    def __init__(self, *, model: str | None = None, subagent_model: str | None = None) -> None:
        self.cassette = Cassette(model=model, subagent_model=subagent_model)
        self._lock = threading.Lock()
        self._active = False
        self._originals: dict[str, Any] = {}
        self._litellm: Any = None

    def __enter__(self) -> Recorder:
        from ace.llm import _litellm

        self._litellm = _litellm.load()
        for name in _WRAPPED:
            original = getattr(self._litellm, name)
            self._originals[name] = original
            wrap = self._wrap_async if name == "acompletion" else self._wrap_sync
            setattr(self._litellm, name, wrap(original))
        self._active = True
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._active = False
        for name, original in self._originals.items():
            setattr(self._litellm, name, original)
        self._originals.clear()

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write what was recorded so far."""
        with self._lock:
            snapshot = self.cassette.model_copy(deep=True)
        return snapshot.save(path)

    def _wrap_sync(self, original: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(original)
        def completion(*args: Any, **kwargs: Any) -> Any:
            response = original(*args, **kwargs)
            self._add(args, kwargs, response)
            return response

        return completion

    def _wrap_async(self, original: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(original)
        async def acompletion(*args: Any, **kwargs: Any) -> Any:
            response = await original(*args, **kwargs)
            self._add(args, kwargs, response)
            return response

        return acompletion

    def _add(self, args: tuple[Any, ...], kwargs: dict[str, Any], response: Any) -> None:
        if not self._active or kwargs.get("stream"):
            return
        model = kwargs.get("model", args[0] if args else None)
        messages = kwargs.get("messages", args[1] if len(args) > 1 else [])
        interaction = Interaction(
            model=str(model),
            messages=[dict(m) for m in messages],
            reply=_reply_of(response),
        )
        with self._lock:
            self.cassette.interactions.append(interaction)


def _reply_of(response: Any) -> RecordedReply:
    choice = response.choices[0]
    usage = getattr(response, "usage", None)
    hidden = getattr(response, "_hidden_params", None) or {}
    cost = hidden.get("response_cost")
    return RecordedReply(
        text=getattr(choice.message, "content", None) or "",
        prompt_tokens=getattr(usage, "prompt_tokens", 0) or 0,
        completion_tokens=getattr(usage, "completion_tokens", 0) or 0,
        finish_reason=getattr(choice, "finish_reason", None),
        cost_usd=float(cost) if isinstance(cost, int | float) else None,
    )
