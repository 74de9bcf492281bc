"""The single-pass Reflector: one model call over the task, the answer and the trace."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from pydantic import BaseModel, Field

from ace.outputs import AgentOutput, Attribution, ExtractedLearning, ReflectorOutput, SkillTag
from ace.roles._common import SkillbookLike, render, resolve_client, usage_of

if TYPE_CHECKING:
    from ace.llm import LLMClient

DEFAULT_MAX_TRACE_CHARS = 100_000


class _ReflectorReply(BaseModel):
    reasoning: str = ""
    error_identification: str = ""
    root_cause_analysis: str = ""
    correct_approach: str = ""
    key_insight: str = ""
    extracted_learnings: list[ExtractedLearning] = Field(default_factory=list)
    skill_tags: list[SkillTag] = Field(default_factory=list)
    attribution: Attribution | None = None


class ReflectorMode(StrEnum):
    """Which reflector a runner builds from a model string (``ACELiteLLM(reflector_mode=...)``)."""

    SIMPLE = "simple"
    """The single-pass ``Reflector``: one structured call per reflection."""
    RECURSIVE = "recursive"
    """The Recursive Reflector (``ace.rr.RRStep``): code over the trace in a sandbox."""


class Reflector:
    """Analyses one attempt in a single model call and proposes reusable learnings.

    The trace may be in any shape the loaders accept; it is normalised (evaluation
    labels removed) and rendered with step numbers. A trace longer than
    ``max_trace_chars`` is cut with an explicit marker saying how much was left out.
    """

    def __init__(
        self,
        model: str | LLMClient,
        *,
        prompt_template: str | Path | None = None,
        max_trace_chars: int = DEFAULT_MAX_TRACE_CHARS,
        max_retries: int | None = None,
        model_settings: Mapping[str, Any] | None = None,
    ) -> None:
        """``model`` is a litellm model string or an ``LLMClient``; ``model_settings``
        (``temperature``, ``max_tokens``, ``stop_sequences``, ...) and ``max_retries``
        configure the client built from a string."""
        self.client = resolve_client(model, model_settings, max_retries)
        self.prompt_template = prompt_template
        self.max_trace_chars = max_trace_chars

    def reflect(
        self,
        *,
        question: str,
        agent_output: AgentOutput,
        skillbook: SkillbookLike,
        ground_truth: str | None = None,
        feedback: str | None = None,
        trace: Any = None,
    ) -> ReflectorOutput:
        """Return the analysis; raises ``LLMError`` when the model keeps failing."""
        trace_text = render_trace(trace, self.max_trace_chars) if trace is not None else ""
        prompt = render(
            "reflector.j2",
            self.prompt_template,
            question=question,
            reasoning=agent_output.reasoning or "(none recorded)",
            final_answer=agent_output.final_answer or "(none recorded)",
            ground_truth=ground_truth,
            feedback=feedback or "",
            trace_text=trace_text,
            cited_skills=_cited_skills(agent_output, skillbook),
        )
        result = self.client.structured(prompt, _ReflectorReply)
        known = set(agent_output.skill_ids)
        reply = result.value
        return ReflectorOutput(
            **reply.model_dump(exclude={"skill_tags"}),
            skill_tags=[t for t in reply.skill_tags if t.id in known],
            raw={"usage": usage_of(result), "trace_chars": len(trace_text)},
        )


def render_trace(trace: Any, max_chars: int) -> str:
    """The trace as numbered text within ``max_chars``, labels removed, cut with a marker."""
    from ace.traces import Trace, load_trace

    normalised = trace if isinstance(trace, Trace) else load_trace(trace)
    return normalised.render(max_chars=max_chars)


def _cited_skills(agent_output: AgentOutput, skillbook: SkillbookLike) -> str:
    if not agent_output.skill_ids:
        return "(none)"
    lines = [
        line
        for line in skillbook.as_prompt().splitlines()
        if any(f"[{skill_id}]" in line for skill_id in agent_output.skill_ids)
    ]
    return "\n".join(lines) or orjson.dumps(agent_output.skill_ids).decode()
