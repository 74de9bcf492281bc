"""What one model call returns: text, token usage, cost and timing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


class Usage(BaseModel):
    """Token counts reported by the provider (zeros when it reported none)."""

    model_config = ConfigDict(frozen=True)

    prompt_tokens: int = 0
    """Tokens in the request."""
    completion_tokens: int = 0
    """Tokens the model generated."""
    total_tokens: int = 0
    """Their sum, as the provider reported it."""

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            total_tokens=self.total_tokens + other.total_tokens,
        )


class LLMResponse(BaseModel):
    """One successful model reply and what it cost."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    text: str
    """The reply's text content ("" when the model returned none)."""
    model: str
    """The model string the call was made with."""
    usage: Usage = Usage()
    """Token counts of this attempt."""
    cost_usd: float | None = None
    """Cost of this attempt in US dollars; None when litellm cannot price the model."""
    duration_s: float = 0.0
    """Wall-clock time of the successful attempt."""
    finish_reason: str | None = None
    """Why generation stopped ("stop", "length", ...), as the provider said."""
    attempts: int = 1
    """Transport attempts this call took; ``attempts - 1`` were retried failures."""
    raw: Any = Field(default=None, exclude=True, repr=False)
    """litellm's ``ModelResponse``, for anything not copied here."""


@dataclass(frozen=True)
class StructuredResult(Generic[T]):
    """A validated value and every reply it took to get it (one per validation round)."""

    value: T
    """The reply parsed and validated into the requested type."""
    responses: list[LLMResponse] = field(default_factory=list)
    """The successful replies in order; the last one produced ``value``."""

    @property
    def usage(self) -> Usage:
        """Tokens summed over all rounds."""
        total = Usage()
        for response in self.responses:
            total = total + response.usage
        return total

    @property
    def cost_usd(self) -> float | None:
        """Cost summed over all rounds; None if any round could not be priced."""
        costs = [r.cost_usd for r in self.responses]
        if any(c is None for c in costs):
            return None
        return sum(c for c in costs if c is not None)
