"""The learning loop's numbers, defined once: outcome, importance, priority, confidence.

Every score is in [0, 1]. Pure functions of their inputs (no database, no model), so the
rules can be read, tested and changed here alone.

**Outcome of a trajectory** (`effective_score`): what we believe about how a run went.
The base is its ``success_score`` (``execute_with_learning`` gives 1.0 to a task that
returned and 0.0 to one that raised; without a score, status ``success`` is 1.0,
``failure`` 0.0, ``partial`` 0.5, ``running``/``unknown`` no base). Feedback scores
(1 = fully right, 0 = fully wrong) arrive later and know more, so each weighs
`FEEDBACK_WEIGHT` times the base::

    outcome = (base + FEEDBACK_WEIGHT * sum(feedback)) / (1 + FEEDBACK_WEIGHT * n)

(the mean of the feedback alone without a base; None without either).

**Importance of a memory** (`importance`)::

    importance = 0.25 + 0.35 * decisiveness + 0.20 * feedback + 0.20 * reuse

- ``decisiveness = |2 * outcome - 1|``: a clear success or a clear failure teaches more
  than a run nobody can judge (0.5 when the outcome is unknown);
- ``feedback = min(1, feedback_count / 2)``: someone cared enough to give feedback;
- ``reuse = reuse_count / (reuse_count + 2)``: how often the strategies this memory
  led to were handed out again (``get_playbook_strategies``).

A fresh reflection on a clear success or failure scores 0.60; one on a run later
contradicted by feedback (outcome 1 -> 1/3) scores ~0.47, so it is among the first that
`consolidate_memories` (``importance_max=0.5``) merges.

**Re-learning priority of feedback** (`relearn_priority`)::

    priority = 0.7 * |feedback - outcome_before| + 0.3 * (1 - feedback)

Surprise (feedback disagreeing with what was believed) dominates; negative feedback adds
to it. A trajectory is queued when the priority reaches `MIN_RELEARN_PRIORITY`; further
feedback keeps the highest priority. Examples: a success contradicted (1 -> 0): 1.0; a
failure confirmed (0 -> 0): 0.3; a failure that was in fact fine (0 -> 1): 0.7; a success
confirmed (1 -> 1): 0.0 (not queued).

**Confidence of a strategy** (`confidence`): the mean of a Beta posterior with the uniform
prior Beta(1, 1) (Laplace's rule), so one lucky success scores 2/3, not 1::

    confidence = (1 + helpful) / (2 + helpful + harmful)

with evidence from the trajectories behind the strategy (`StrategyEvidence`): each
trajectory whose reflection added, updated or tagged it helpful *supports* it and adds
``outcome`` to ``helpful`` and ``1 - outcome`` to ``harmful`` (a trajectory without a
known outcome counts as a full helpful vote); each whose reflection tagged it harmful
*opposes* it and adds 1 to ``harmful``; tags from outside the loop (imported skillbooks,
the skill's counters beyond what the loop's trajectories account for) add one each.
``evidence_count`` is the number of distinct supporting trajectories. The category is
``helpful`` from `HELPFUL_FROM`, ``harmful`` up to `HARMFUL_UP_TO`, else ``neutral``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

FEEDBACK_WEIGHT = 2.0
"""How many base observations one feedback score is worth in `effective_score`."""
IMPORTANCE_BASE = 0.25
"""Every memory's importance starts here."""
IMPORTANCE_WEIGHTS = {"decisiveness": 0.35, "feedback": 0.20, "reuse": 0.20}
"""The weight of each input of `importance` (they sum, with the base, to 1)."""
FEEDBACK_SATURATION = 2
"""Feedback count at which the feedback input of `importance` is full."""
REUSE_HALF = 2
"""Reuse count at which the reuse input of `importance` is one half."""
PRIORITY_SURPRISE_WEIGHT = 0.7
"""Weight of ``|feedback - outcome_before|`` in `relearn_priority`."""
PRIORITY_NEGATIVE_WEIGHT = 0.3
"""Weight of ``1 - feedback`` in `relearn_priority`."""
MIN_RELEARN_PRIORITY = 0.1
"""Feedback whose priority is below this updates the scores but queues no re-learning."""
PRIOR_HELPFUL = 1.0
"""Beta prior pseudo-count for helpful evidence (with `PRIOR_HARMFUL`: uniform)."""
PRIOR_HARMFUL = 1.0
"""Beta prior pseudo-count for harmful evidence."""
HELPFUL_FROM = 0.55
"""Confidence from which a strategy's category is ``helpful``."""
HARMFUL_UP_TO = 0.45
"""Confidence up to which a strategy's category is ``harmful``."""

Category = Literal["helpful", "harmful", "neutral"]
CATEGORIES: tuple[Category, ...] = ("helpful", "harmful", "neutral")
"""The strategy categories (``strategy_type`` of ``get_playbook_strategies``)."""
Stance = Literal["supports", "opposes", "neutral"]

_STATUS_BASE = {"success": 1.0, "failure": 0.0, "partial": 0.5}


def _check_unit(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value!r}")
    return float(value)


def base_score(status: str, success_score: float | None) -> float | None:
    """The outcome before feedback: the success score, else what the status says."""
    if success_score is not None:
        return float(success_score)
    return _STATUS_BASE.get(status)


def effective_score(
    status: str, success_score: float | None, feedback: Sequence[float] = ()
) -> float | None:
    """The trajectory's outcome in [0, 1] from its base and its feedback (None: unknown)."""
    base = base_score(status, success_score)
    scores = [float(f) for f in feedback]
    if not scores:
        return base
    if base is None:
        return sum(scores) / len(scores)
    return (base + FEEDBACK_WEIGHT * sum(scores)) / (1 + FEEDBACK_WEIGHT * len(scores))


def importance(outcome: float | None, feedback_count: int = 0, reuse_count: int = 0) -> float:
    """A memory's importance in [0, 1]; see the module's docstring."""
    decisiveness = 0.5 if outcome is None else abs(2 * _check_unit("outcome", outcome) - 1)
    feedback = min(1.0, max(feedback_count, 0) / FEEDBACK_SATURATION)
    reuse = max(reuse_count, 0) / (max(reuse_count, 0) + REUSE_HALF)
    value = (
        IMPORTANCE_BASE
        + IMPORTANCE_WEIGHTS["decisiveness"] * decisiveness
        + IMPORTANCE_WEIGHTS["feedback"] * feedback
        + IMPORTANCE_WEIGHTS["reuse"] * reuse
    )
    return round(min(1.0, max(0.0, value)), 6)


def relearn_priority(feedback: float, outcome_before: float | None) -> float:
    """How urgently feedback ``feedback`` on a trajectory believed to score
    ``outcome_before`` (None: unknown, taken as 0.5) asks for re-learning, in [0, 1]."""
    feedback = _check_unit("feedback score", feedback)
    before = 0.5 if outcome_before is None else outcome_before
    value = PRIORITY_SURPRISE_WEIGHT * abs(feedback - before) + PRIORITY_NEGATIVE_WEIGHT * (
        1 - feedback
    )
    return round(min(1.0, max(0.0, value)), 6)


@dataclass(frozen=True)
class Evidence:
    """One trajectory's evidence about a strategy: its stance and its outcome."""

    trajectory_id: str
    stance: Stance
    outcome: float | None


@dataclass(frozen=True)
class Confidence:
    """A strategy's confidence and what it was computed from."""

    confidence: float
    helpful: float
    """Helpful evidence (without the prior)."""
    harmful: float
    """Harmful evidence (without the prior)."""
    evidence_count: int
    """Distinct supporting trajectories."""
    category: Category


def category_of(confidence_value: float) -> Category:
    """``helpful``, ``harmful`` or ``neutral`` from a confidence."""
    if confidence_value >= HELPFUL_FROM:
        return "helpful"
    if confidence_value <= HARMFUL_UP_TO:
        return "harmful"
    return "neutral"


def confidence(
    evidence: Iterable[Evidence], *, outside_helpful: int = 0, outside_harmful: int = 0
) -> Confidence:
    """A strategy's confidence from its trajectories' evidence and the tags from outside
    the loop; see the module's docstring."""
    helpful = float(max(outside_helpful, 0))
    harmful = float(max(outside_harmful, 0))
    supporters: set[str] = set()
    for item in evidence:
        if item.stance == "supports":
            supporters.add(item.trajectory_id)
            outcome = 1.0 if item.outcome is None else item.outcome
            helpful += outcome
            harmful += 1 - outcome
        elif item.stance == "opposes":
            harmful += 1.0
    value = (PRIOR_HELPFUL + helpful) / (PRIOR_HELPFUL + PRIOR_HARMFUL + helpful + harmful)
    value = round(value, 6)
    return Confidence(
        value, round(helpful, 6), round(harmful, 6), len(supporters), category_of(value)
    )


__all__ = [
    "CATEGORIES",
    "FEEDBACK_WEIGHT",
    "HARMFUL_UP_TO",
    "HELPFUL_FROM",
    "MIN_RELEARN_PRIORITY",
    "PRIOR_HARMFUL",
    "PRIOR_HELPFUL",
    "Category",
    "Confidence",
    "Evidence",
    "Stance",
    "base_score",
    "category_of",
    "confidence",
    "effective_score",
    "importance",
    "relearn_priority",
]
