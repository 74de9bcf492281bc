"""The litellm custom provider behind ``replay/...`` models (imported only after litellm;
registered by ``ace.replay._register``)."""

from __future__ import annotations

from typing import Any

from ace.llm import _litellm
from ace.replay.cassette import RecordedReply
from ace.replay.replayer import PROVIDER, ReplayMismatchError, lookup

litellm: Any = _litellm.load()


class ReplayProvider(litellm.CustomLLM):  # type: ignore[misc]
    """Answers ``replay/<cassette>/<model>`` calls from the registered cassette."""

    def completion(self, *args: Any, **kwargs: Any) -> Any:
        """Sync path."""
        return _fill(kwargs["model_response"], kwargs["model"], _answer(kwargs))

    async def acompletion(self, *args: Any, **kwargs: Any) -> Any:
        """Async path (answers at once: replay has no latency)."""
        return _fill(kwargs["model_response"], kwargs["model"], _answer(kwargs))


def _answer(kwargs: dict[str, Any]) -> RecordedReply:
    found = lookup(kwargs["model"])
    if found is None:
        raise ReplayMismatchError(
            f"replay: no cassette is loaded for {PROVIDER}/{kwargs['model']}; model strings "
            "come from ace.replay.Replayer(...).model_name()",
            model=f"{PROVIDER}/{kwargs['model']}",
        )
    replayer, original = found
    return replayer.answer(original, kwargs.get("messages") or [])


def _fill(response: Any, model: str, reply: RecordedReply) -> Any:
    response.choices[0].message.content = reply.text
    response.choices[0].finish_reason = reply.finish_reason or "stop"
    response.model = f"{PROVIDER}/{model}"
    response.usage = litellm.Usage(
        prompt_tokens=reply.prompt_tokens,
        completion_tokens=reply.completion_tokens,
        total_tokens=reply.prompt_tokens + reply.completion_tokens,
    )
    if reply.cost_usd is not None:
        response._hidden_params["response_cost"] = reply.cost_usd
    return response
