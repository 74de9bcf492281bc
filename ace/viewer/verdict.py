"""The verdict of an RR session in one card: who erred where, why, and what it cost.

Built from a transcript's FINAL value and its usage; when the trace carried an
evaluation label (Who&When's ``mistake_agent`` / ``mistake_step``) the card also shows
the label and whether the attribution matches it (scored as ``ace rr eval`` scores).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ace.eval.scoring import same_agent, step_distance
from ace.outputs import step_number
from ace.rr.transcript import Transcript
from ace.traces import TraceLabels
from ace.viewer._facts import money, session_facts
from ace.viewer._sanitize import clean_text


@dataclass(frozen=True)
class Verdict:
    """What the verdict card shows; text fields are already cleaned of control codes."""

    agent: str | None
    """The agent of the decisive error, as the reflector named it."""
    step: int | None
    """The step of the decisive error (an index into the trace's steps)."""
    reason: str | None
    key_insight: str | None
    outcome: str
    """How the session ended (``final``, ``timeout``, ...)."""
    calls: int | None
    max_calls: int | None
    tokens: int
    cost_usd: float | None
    duration_s: float
    label_agent: str | None = None
    label_step: int | None = None

    @property
    def labelled(self) -> bool:
        """Whether the trace carried a label to compare with."""
        return self.label_agent is not None or self.label_step is not None

    @property
    def agent_match(self) -> bool | None:
        """The named agent is the labelled one; None without an agent label."""
        return None if self.label_agent is None else same_agent(self.agent, self.label_agent)

    @property
    def step_distance(self) -> int | None:
        """How far the step is from the labelled one; None when either is missing."""
        return step_distance(self.step, self.label_step)

    @property
    def step_match(self) -> bool | None:
        """The step is the labelled one; None without a step label."""
        return None if self.label_step is None else self.step_distance == 0

    def usage_line(self) -> str:
        """``5/30 calls · 1,234 tokens · $0.0110 · 1.5 s``."""
        calls = f"{self.calls or 0}" + (f"/{self.max_calls}" if self.max_calls else "")
        return (
            f"{calls} calls · {self.tokens:,} tokens · {money(self.cost_usd)} · "
            f"{self.duration_s:.1f} s"
        )


def verdict_of(transcript: Transcript, labels: TraceLabels | None = None) -> Verdict:
    """The card of ``transcript``; ``labels`` are the trace's evaluation labels, if any."""
    final: dict[str, Any] = transcript.final if isinstance(transcript.final, dict) else {}
    attribution = final.get("attribution")
    attribution = attribution if isinstance(attribution, dict) else {}
    step = step_number(attribution.get("step"))
    facts = session_facts(transcript)
    return Verdict(
        agent=_text(attribution.get("agent")),
        step=step if isinstance(step, int) and not isinstance(step, bool) else None,
        reason=_text(attribution.get("reason")),
        key_insight=_text(final.get("key_insight")),
        outcome=transcript.outcome,
        calls=facts.calls,
        max_calls=facts.max_calls,
        tokens=facts.tokens,
        cost_usd=facts.cost_usd,
        duration_s=transcript.duration_s,
        label_agent=_text(labels.mistake_agent) if labels else None,
        label_step=labels.mistake_step if labels else None,
    )


def _text(value: object) -> str | None:
    if value is None:
        return None
    text = clean_text(value if isinstance(value, str) else str(value)).strip()
    return text or None
