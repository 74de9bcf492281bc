"""What the three roles share: turning a model argument into a client, and prompts."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from pydantic import BaseModel

from ace.prompting import render_file, render_prompt

if TYPE_CHECKING:
    from ace.llm import LLMClient

T = TypeVar("T", bound=BaseModel)


class SkillbookLike(Protocol):
    """What roles read from a skillbook (a ``Skillbook`` or a read-only ``SkillbookView``)."""

    def as_prompt(self) -> str: ...

    def cited_ids(self, text: str) -> list[str]: ...


def resolve_client(
    model: str | LLMClient,
    model_settings: Mapping[str, Any] | None = None,
    max_retries: int | None = None,
) -> LLMClient:
    """Accept a model name (any litellm model string) or a ready ``LLMClient``.

    ``model_settings`` (pydantic-ai style: ``temperature``, ``max_tokens``,
    ``stop_sequences``, ...) and ``max_retries`` configure a client built from a name;
    see ``ace.llm.settings.client_from_settings``.
    """
    from ace.llm.settings import client_from_settings

    return client_from_settings(model, model_settings, max_retries=max_retries)


def render(default_name: str, template: str | Path | None, **variables: Any) -> str:
    """Render the role's shipped template, or a user template file when one is given."""
    if template is None:
        return render_prompt(default_name, **variables)
    return render_file(template, **variables)


def usage_of(result: Any) -> dict[str, Any]:
    """Token usage and cost of a structured call, summed over its attempts, for ``raw``."""
    responses = getattr(result, "responses", [])
    return {
        "model_calls": len(responses),
        "prompt_tokens": sum(r.usage.prompt_tokens for r in responses),
        "completion_tokens": sum(r.usage.completion_tokens for r in responses),
        "cost_usd": (
            sum(r.cost_usd for r in responses)
            if responses and all(r.cost_usd is not None for r in responses)
            else None
        ),
    }
