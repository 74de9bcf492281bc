"""Samples and the environments that judge answers to them."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, Field

from ace.outputs import AgentOutput


class Sample(BaseModel):
    """One task for the Agent, with its ground truth when known."""

    question: str
    context: str = ""
    ground_truth: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    id: str | None = None


class EnvironmentResult(BaseModel):
    """An environment's judgement of one answer."""

    feedback: str
    ground_truth: str | None = None
    metrics: dict[str, float] = Field(default_factory=dict)


@runtime_checkable
class TaskEnvironment(Protocol):
    """Anything that can judge an Agent's answer to a sample."""

    def evaluate(self, sample: Sample, agent_output: AgentOutput) -> EnvironmentResult:
        """Return feedback (and metrics) for ``agent_output`` on ``sample``."""
        ...


class SimpleEnvironment:
    """Judges by comparing the final answer with the ground truth.

    Comparison ignores case and surrounding whitespace; an answer that contains the
    ground truth as a whole word also counts (``"The answer is 4."`` for ``"4"``).
    """

    def evaluate(self, sample: Sample, agent_output: AgentOutput) -> EnvironmentResult:
        """Return ``correct``/``incorrect`` feedback and an ``accuracy`` metric."""
        truth = sample.ground_truth
        if truth is None:
            return EnvironmentResult(feedback="No ground truth available for this sample.")
        answer = agent_output.final_answer.strip().lower()
        expected = truth.strip().lower()
        correct = answer == expected or _contains_word(answer, expected)
        verdict = "correct" if correct else "incorrect"
        return EnvironmentResult(
            feedback=f"The answer is {verdict}. Expected: {truth}. Got: {agent_output.final_answer}",
            ground_truth=truth,
            metrics={"accuracy": 1.0 if correct else 0.0},
        )


def _contains_word(text: str, word: str) -> bool:
    import re

    return bool(word) and re.search(rf"(?<!\w){re.escape(word)}(?!\w)", text) is not None
