"""The learning loop's documented rules (``ace.learning_loop.formulas``), tested by changing
one input at a time. (``test_learning_loop_core`` checks the stored values follow them.)"""

from __future__ import annotations

import pytest

from ace.learning_loop import formulas as f
from ace.learning_loop.formulas import Evidence


def supports(n: int, outcome: float | None, prefix: str = "t") -> list[Evidence]:
    return [Evidence(f"{prefix}{i}", "supports", outcome) for i in range(n)]


def test_the_outcome_of_a_run_is_its_score_then_its_feedback_weighs_double() -> None:
    assert f.effective_score("success", None) == 1.0
    assert f.effective_score("failure", None) == 0.0
    assert f.effective_score("partial", None) == 0.5
    assert f.effective_score("unknown", None) is None
    assert f.effective_score("success", 0.95) == 0.95  # the score outranks the status
    assert f.effective_score("success", 1.0, [0.0]) == pytest.approx(1 / 3)
    assert f.effective_score("success", 1.0, [0.0, 0.0]) == pytest.approx(1 / 5)
    assert f.effective_score("failure", 0.0, [1.0]) == pytest.approx(2 / 3)
    assert f.effective_score("unknown", None, [0.2, 0.4]) == pytest.approx(0.3)


def test_importance_moves_with_each_of_its_inputs() -> None:
    assert f.importance(1.0) == f.importance(0.0) == pytest.approx(0.6)  # decisive either way
    assert f.importance(0.5) == pytest.approx(0.25)  # a coin flip teaches least
    assert f.importance(None) == pytest.approx(0.425)  # unknown: half decisive
    assert f.importance(1 / 3, 1) == pytest.approx(0.25 + 0.35 / 3 + 0.1)
    # more feedback, up to two; more reuse, saturating
    assert f.importance(0.5, 0) < f.importance(0.5, 1) < f.importance(0.5, 2)
    assert f.importance(0.5, 2) == f.importance(0.5, 5)
    reuse = [f.importance(0.5, 0, n) for n in (0, 1, 2, 10, 1000)]
    assert reuse == sorted(reuse) and len(set(reuse)) == 5
    assert reuse[2] == pytest.approx(0.25 + 0.2 * 0.5)
    assert f.importance(1.0, 99, 10**9) <= 1.0
    with pytest.raises(ValueError, match="outcome"):
        f.importance(1.5)


def test_relearning_priority_is_surprise_plus_negativity() -> None:
    assert f.relearn_priority(0.0, 1.0) == 1.0  # a success contradicted
    assert f.relearn_priority(0.0, 0.0) == pytest.approx(0.3)  # a failure confirmed
    assert f.relearn_priority(1.0, 0.0) == pytest.approx(0.7)  # a "failure" that was fine
    assert f.relearn_priority(1.0, 1.0) == 0.0  # a success confirmed: not queued
    assert f.relearn_priority(1.0, 1.0) < f.MIN_RELEARN_PRIORITY <= f.relearn_priority(0.0, 0.0)
    assert f.relearn_priority(0.5, None) == pytest.approx(0.15)  # unknown counts as 0.5
    ladder = [f.relearn_priority(score, 1.0) for score in (1.0, 0.75, 0.5, 0.25, 0.0)]
    assert ladder == sorted(ladder) and len(set(ladder)) == 5
    with pytest.raises(ValueError, match="feedback score"):
        f.relearn_priority(-0.1, 0.5)


def test_one_lucky_success_is_not_a_confident_strategy() -> None:
    assert f.confidence([]).confidence == 0.5 and f.confidence([]).category == "neutral"
    one = f.confidence(supports(1, 1.0))
    assert one.confidence == pytest.approx(2 / 3) and one.confidence < 0.95
    twelve = f.confidence(supports(12, 1.0))
    assert twelve.confidence == pytest.approx(13 / 14) and twelve.evidence_count == 12
    assert f.confidence(supports(12, 1.0) + supports(3, 0.0, "u")).confidence == pytest.approx(
        13 / 17
    )


def test_confidence_follows_outcomes_stances_and_outside_tags() -> None:
    base = f.confidence(supports(10, 1.0))
    # the same supporters with worse outcomes (negative feedback): lower
    worse = f.confidence(supports(5, 1.0) + supports(5, 1 / 3, "u"))
    assert worse.confidence < base.confidence and worse.evidence_count == 10
    assert worse.helpful == pytest.approx(5 + 5 / 3) and worse.harmful == pytest.approx(10 / 3)
    # a trajectory that opposes it adds harm and is not a supporter
    opposed = f.confidence([*supports(10, 1.0), Evidence("x", "opposes", 1.0)])
    assert opposed.confidence == pytest.approx(11 / 13) and opposed.evidence_count == 10
    # a neutral verdict changes nothing
    assert f.confidence([*supports(10, 1.0), Evidence("n", "neutral", 0.0)]) == base
    # an unknown outcome (a learn job) is a full helpful vote
    assert f.confidence(supports(1, None)).confidence == pytest.approx(2 / 3)
    # tags from outside the loop count one each
    outside = f.confidence([], outside_helpful=3, outside_harmful=1)
    assert outside.confidence == pytest.approx(4 / 6) and outside.evidence_count == 0
    assert f.confidence([], outside_helpful=-2).confidence == 0.5  # never negative


def test_the_category_follows_the_confidence() -> None:
    assert f.category_of(f.HELPFUL_FROM) == "helpful"
    assert f.category_of(f.HARMFUL_UP_TO) == "harmful"
    assert f.category_of(0.5) == "neutral"
    assert f.confidence(supports(3, 0.0)).category == "harmful"
    assert f.confidence(supports(3, 1.0)).category == "helpful"
