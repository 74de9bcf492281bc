"""The Agent: answers a question with the skillbook in its prompt."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from ace.outputs import AgentOutput
from ace.roles._common import SkillbookLike, render, resolve_client, usage_of

if TYPE_CHECKING:
    from ace.llm import LLMClient


class _AgentReply(BaseModel):
    reasoning: str = ""
    final_answer: str
    skill_ids: list[str] = Field(default_factory=list)


class Agent:
    """Answers tasks using the skillbook and reports which skills it cited.

    ``skill_ids`` in the output holds only ids that exist in the skillbook: those the
    model listed plus those it cited as ``[id]`` in its reasoning.
    """

    def __init__(
        self,
        model: str | LLMClient,
        *,
        prompt_template: str | Path | None = None,
        max_retries: int | None = None,
        model_settings: Mapping[str, Any] | None = None,
    ) -> None:
        """``model`` is a litellm model string or an ``LLMClient``; ``model_settings``
        (``temperature``, ``max_tokens``, ``stop_sequences``, ...) and ``max_retries``
        configure the client built from a string."""
        self.client = resolve_client(model, model_settings, max_retries)
        self.prompt_template = prompt_template

    def generate(
        self,
        *,
        question: str,
        context: str = "",
        skillbook: SkillbookLike,
        reflection: str | None = None,
    ) -> AgentOutput:
        """Answer ``question``; raises ``LLMError`` when the model keeps failing."""
        prompt = render(
            "agent.j2",
            self.prompt_template,
            question=question,
            context=context,
            skillbook=skillbook.as_prompt(),
            reflection=reflection or "",
        )
        result = self.client.structured(prompt, _AgentReply)
        reply = result.value
        listed = skillbook.cited_ids(" ".join(f"[{i}]" for i in reply.skill_ids))
        cited = skillbook.cited_ids(reply.reasoning)
        return AgentOutput(
            reasoning=reply.reasoning,
            final_answer=reply.final_answer,
            skill_ids=list(dict.fromkeys(listed + cited)),
            raw={"reply": reply.model_dump(), "usage": usage_of(result)},
        )
