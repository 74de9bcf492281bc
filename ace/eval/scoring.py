"""Scoring failure attribution against Who&When-style labels.

Agent accuracy compares names case-insensitively (surrounding spaces ignored); a step
is right when it equals the labelled index, or within ``k`` of it for the ``±k``
figures. A missing prediction is wrong. A trace whose label lacks the agent (or the
step) is left out of that figure's denominator, never counted as right.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pydantic import BaseModel, Field

from ace.outputs import Attribution
from ace.traces import TraceLabels

DEFAULT_TOLERANCES: tuple[int, ...] = (1, 2, 3)
"""The ``k`` of the "step within ±k" figures reported by default."""


def same_agent(predicted: str | None, label: str | None) -> bool:
    """Whether a predicted agent names the labelled one (case-insensitive)."""
    if predicted is None or label is None:
        return False
    return predicted.strip().casefold() == label.strip().casefold()


def step_distance(predicted: int | None, label: int | None) -> int | None:
    """How far the predicted step is from the labelled one; None when either is missing."""
    if predicted is None or label is None:
        return None
    return abs(predicted - label)


class TraceResult(BaseModel):
    """One trace's prediction, its label, the verdict and what the reflector spent."""

    trace_id: str
    source: str | None = None
    """The file the trace came from."""
    predicted_agent: str | None = None
    predicted_step: int | None = None
    reason: str | None = None
    """The reflector's stated reason for its attribution."""
    label_agent: str | None = None
    label_step: int | None = None
    steps: int = 0
    """Number of steps in the trace."""
    agent_correct: bool = False
    step_distance: int | None = None
    """``|predicted - label|``; None when no step was predicted or labelled."""
    calls: int = 0
    """Model calls made for this trace."""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = 0.0
    """None when a call could not be priced."""
    duration_s: float = 0.0
    outcome: str | None = None
    """How the reflector ended (an RR session's outcome, e.g. ``final`` or ``timeout``)."""
    error: str | None = None
    """Why the reflector failed on this trace; the trace then scores as wrong."""

    @property
    def tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens


def score(
    trace_id: str,
    attribution: Attribution | None,
    labels: TraceLabels,
    *,
    steps: int = 0,
    source: str | None = None,
) -> TraceResult:
    """Compare one attribution with its labels (usage fields are left for the caller)."""
    agent = attribution.agent if attribution else None
    step = attribution.step if attribution else None
    return TraceResult(
        trace_id=trace_id,
        source=source,
        predicted_agent=agent,
        predicted_step=step,
        reason=attribution.reason if attribution else None,
        label_agent=labels.mistake_agent,
        label_step=labels.mistake_step,
        steps=steps,
        agent_correct=same_agent(agent, labels.mistake_agent),
        step_distance=step_distance(step, labels.mistake_step),
    )


class EvalSummary(BaseModel):
    """The figures of one evaluation run."""

    traces: int
    agent_labelled: int
    """Traces whose label names an agent (agent accuracy's denominator)."""
    step_labelled: int
    """Traces whose label names a step (the step figures' denominator)."""
    agent_accuracy: float | None
    step_accuracy: float | None
    """Exact-step accuracy."""
    step_within: dict[int, float | None] = Field(default_factory=dict)
    """Step accuracy within ``±k``, by ``k``."""
    errors: int = 0
    """Traces on which the reflector failed (scored as wrong)."""
    calls_per_trace: float = 0.0
    tokens_per_trace: float = 0.0
    cost_usd_per_trace: float | None = 0.0
    """None when some call could not be priced."""
    total_cost_usd: float | None = 0.0
    seconds_per_trace: float = 0.0
    total_seconds: float = 0.0


def summarise(
    results: Sequence[TraceResult], tolerances: Iterable[int] = DEFAULT_TOLERANCES
) -> EvalSummary:
    """Accuracy figures and per-trace means over ``results``."""
    n = len(results)
    agent_pool = [r for r in results if r.label_agent is not None]
    step_pool = [r for r in results if r.label_step is not None]

    def within(k: int) -> float | None:
        hits = sum(r.step_distance is not None and r.step_distance <= k for r in step_pool)
        return _ratio(hits, len(step_pool))

    costs = [r.cost_usd for r in results]
    total_cost = None if any(c is None for c in costs) else sum(c or 0.0 for c in costs)
    total_seconds = sum(r.duration_s for r in results)
    return EvalSummary(
        traces=n,
        agent_labelled=len(agent_pool),
        step_labelled=len(step_pool),
        agent_accuracy=_ratio(sum(r.agent_correct for r in agent_pool), len(agent_pool)),
        step_accuracy=within(0),
        step_within={k: within(k) for k in sorted(set(tolerances)) if k > 0},
        errors=sum(r.error is not None for r in results),
        calls_per_trace=_mean(sum(r.calls for r in results), n),
        tokens_per_trace=_mean(sum(r.tokens for r in results), n),
        cost_usd_per_trace=None if total_cost is None else _mean(total_cost, n),
        total_cost_usd=total_cost,
        seconds_per_trace=_mean(total_seconds, n),
        total_seconds=total_seconds,
    )


def _ratio(hits: int, total: int) -> float | None:
    return hits / total if total else None


def _mean(total: float, n: int) -> float:
    return total / n if n else 0.0
