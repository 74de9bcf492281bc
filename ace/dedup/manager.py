"""``DeduplicationManager``: finds near-duplicate skills and merges them with normal updates.

Decision rule (the default, deterministic): skills of the same section whose similarity
is at least ``merge_threshold`` are merged, most similar pair first, each skill in at
most one merge per pass, passes repeated until nothing merges. With a judge (e.g.
``judge_model=`` the SkillManager's model), pairs at or above ``candidate_threshold``
are asked about instead; a KEEP verdict is recorded in ``similarity_decisions`` and that
pair is never proposed again, whatever later similarity it reaches.

A merge is one ``UpdateBatch`` applied with ``Skillbook.apply_update``: UPDATE the
survivor (merged content; justification naming the merged id), TAG it with the removed
skill's counters, REMOVE the other. The survivor's ``sources`` gain the removed skill's
sources, and the MERGE is recorded in ``similarity_decisions``. The survivor is the
judge's ``keep_id``, else the skill with the better helpful-minus-harmful score, else
the older one; its content becomes the longer of the two texts unless the judge wrote one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ace.dedup.judge import DedupVerdict, PairJudge, judge_for
from ace.dedup.similarity import PairScorer, words
from ace.errors import UsageError
from ace.skillbook import Skill, Skillbook, pair_key
from ace.updates import UpdateBatch, UpdateOperation

if TYPE_CHECKING:
    from ace.llm import LLMClient
    from ace.steps.deduplicate import DeduplicateStep


@dataclass(kw_only=True)
class DeduplicationConfig:
    """Settings of a ``DeduplicationManager``; defaults live here only."""

    merge_threshold: float = 0.9
    """Similarity at or above which the threshold rule merges a pair."""
    candidate_threshold: float | None = None
    """Similarity from which pairs go to the judge; None means ``merge_threshold``."""
    embedding_model: str | None = None
    """A litellm embedding model; None uses the lexical similarity (no model calls)."""
    embedding_kwargs: Mapping[str, Any] = field(default_factory=dict)
    """Extra arguments for ``litellm.embedding`` (``api_base``, ``dimensions``, ...)."""
    judge_model: str | LLMClient | None = None
    """A chat model that decides MERGE or KEEP per candidate pair; None uses the rule."""
    same_section_only: bool = True
    """Compare only skills of the same section (also keeps the pair count down)."""
    every: int = 1
    """``DeduplicateStep`` runs every this many samples."""
    max_passes: int = 5
    """Merge passes per run; a pass merges each skill at most once."""

    def __post_init__(self) -> None:
        for name in ("merge_threshold", "candidate_threshold"):
            value = getattr(self, name)
            if value is not None and not 0.0 < value <= 1.0:
                raise UsageError(f"DeduplicationConfig: {name} must be in (0, 1], got {value}")
        if self.every < 1 or self.max_passes < 1:
            raise UsageError("DeduplicationConfig: every and max_passes must be >= 1")


@dataclass(frozen=True)
class MergeRecord:
    """One applied merge."""

    kept_id: str
    removed_id: str
    similarity: float
    reasoning: str


@dataclass
class DedupReport:
    """What one ``deduplicate`` run did."""

    similarity: str
    """``"embedding"`` or ``"lexical"``."""
    merged: list[MergeRecord] = field(default_factory=list)
    kept: list[tuple[str, str, float]] = field(default_factory=list)
    """Pairs the judge decided to KEEP in this run (ids and similarity)."""
    skipped_decided: int = 0
    """Candidate pairs left alone because a KEEP decision was recorded earlier."""
    passes: int = 0

    @property
    def removed_ids(self) -> list[str]:
        """Ids removed by merges, in order."""
        return [m.removed_id for m in self.merged]


class DeduplicationManager:
    """Finds and merges near-duplicate skills; ``as_step`` plugs it into ``learning_tail``."""

    def __init__(
        self, config: DeduplicationConfig | None = None, *, judge: PairJudge | None = None
    ) -> None:
        self.config = config or DeduplicationConfig()
        self.judge = judge_for(self.config.merge_threshold, self.config.judge_model, judge)
        self._scorer = PairScorer(self._embedder() if self.config.embedding_model else None)

    def __repr__(self) -> str:
        return f"DeduplicationManager({self.config!r})"

    def as_step(self, skillbook: Skillbook) -> DeduplicateStep:
        """A ``DeduplicateStep`` for ``skillbook`` running every ``config.every`` samples."""
        from ace.steps.deduplicate import DeduplicateStep

        return DeduplicateStep(self, skillbook, every=self.config.every)

    def find_candidates(self, skillbook: Skillbook) -> list[tuple[Skill, Skill, float]]:
        """Undecided pairs (copies of the skills) at or above the candidate threshold, best first."""
        decided = skillbook.similarity_decisions
        return [
            (a, b, s)
            for a, b, s in self._candidates(skillbook)
            if not _is_keep(decided.get(pair_key(a.id, b.id)))
        ]

    def deduplicate(
        self, skillbook: Skillbook, *, source: Mapping[str, Any] | None = None
    ) -> DedupReport:
        """Merge duplicates until none is left (or ``max_passes``); ``source`` is the
        provenance recorded on the survivors (e.g. the sample that triggered the run)."""
        report = DedupReport(similarity=self._scorer.kind)
        for _ in range(self.config.max_passes):
            report.passes += 1
            if not self._pass(skillbook, report, dict(source or {})):
                break
        return report

    def _pass(self, book: Skillbook, report: DedupReport, source: dict[str, Any]) -> bool:
        decided = book.similarity_decisions
        touched: set[str] = set()
        merged_any = False
        for a, b, similarity in self._candidates(book):
            if a.id in touched or b.id in touched:
                continue
            if _is_keep(decided.get(pair_key(a.id, b.id))):
                report.skipped_decided += 1
                continue
            verdict = self.judge.decide(a, b, similarity)
            if verdict is None:
                continue
            if verdict.decision == "KEEP":
                _record(book, a.id, b.id, "KEEP", similarity, verdict.reasoning)
                report.kept.append((a.id, b.id, similarity))
            elif (record := _merge(book, a, b, similarity, verdict, source)) is not None:
                touched |= {a.id, b.id}
                report.merged.append(record)
                merged_any = True
        return merged_any

    def _candidates(self, book: Skillbook) -> list[tuple[Skill, Skill, float]]:
        with book.lock:
            skills = [s.model_copy(deep=True) for s in book.skills()]
        floor = self.config.candidate_threshold or self.config.merge_threshold
        return self._scorer.pairs(skills, floor, self.config.same_section_only)

    def _embedder(self) -> Any:
        from ace.llm.embeddings import embed

        model = self.config.embedding_model
        assert model is not None
        kwargs = dict(self.config.embedding_kwargs)
        return lambda texts: embed(texts, model=model, **kwargs)


def _is_keep(decision: Any) -> bool:
    return isinstance(decision, Mapping) and str(decision.get("decision", "")).upper() == "KEEP"


def _record(
    book: Skillbook, id_a: str, id_b: str, decision: str, similarity: float, why: str, **extra: Any
) -> None:
    book.record_similarity_decision(
        id_a,
        id_b,
        {
            "decision": decision,
            "similarity_at_decision": round(similarity, 6),
            "reasoning": why,
            "decided_at": datetime.now(UTC).isoformat(),
            **extra,
        },
    )


def _merge(
    book: Skillbook,
    a: Skill,
    b: Skill,
    similarity: float,
    verdict: DedupVerdict,
    source: dict[str, Any],
) -> MergeRecord | None:
    keep, drop = _survivor(a, b, verdict.keep_id)
    content = verdict.merged_content or max(
        (keep.content, drop.content), key=lambda text: len(words(text))
    )
    note = f"Merged duplicate skill {drop.id} into {keep.id} (similarity {similarity:.3f})."
    operations = [
        UpdateOperation(
            type="UPDATE",
            skill_id=keep.id,
            content=content if content != keep.content else None,
            justification=f"{keep.justification} {note}" if keep.justification else note,
        )
    ]
    counts = {tag: getattr(drop, tag) for tag in ("helpful", "harmful", "neutral")}
    if any(counts.values()):
        operations.append(UpdateOperation(type="TAG", skill_id=keep.id, metadata=counts))
    operations.append(UpdateOperation(type="REMOVE", skill_id=drop.id, justification=note))
    batch = UpdateBatch(reasoning=verdict.reasoning or note, operations=operations)
    with book.lock:
        live_keep, live_drop = book.get_skill(keep.id), book.get_skill(drop.id)
        if not _unchanged(live_keep, keep) or not _unchanged(live_drop, drop):
            return None  # edited since the snapshot: judge it afresh next run
        assert live_drop is not None
        dropped_sources = [s.model_copy() for s in live_drop.sources]
        book.apply_update(batch, source={**source, "merged_from": drop.id})
        survivor = book.get_skill(keep.id)
        assert survivor is not None
        survivor.sources = sorted(
            [*survivor.sources, *dropped_sources], key=lambda s: s.recorded_at or ""
        )
        _record(
            book,
            keep.id,
            drop.id,
            "MERGE",
            similarity,
            verdict.reasoning,
            kept=keep.id,
            removed=drop.id,
        )
    return MergeRecord(keep.id, drop.id, similarity, verdict.reasoning)


def _survivor(a: Skill, b: Skill, keep_id: str | None) -> tuple[Skill, Skill]:
    if keep_id == b.id:
        return b, a
    if keep_id == a.id:
        return a, b
    score_a, score_b = a.helpful - a.harmful, b.helpful - b.harmful
    if score_a != score_b:
        return (a, b) if score_a > score_b else (b, a)
    return (a, b) if (a.created_at, a.id) <= (b.created_at, b.id) else (b, a)


def _unchanged(live: Skill | None, snapshot: Skill) -> bool:
    return (
        live is not None
        and live.status == "active"
        and live.content == snapshot.content
        and live.updated_at == snapshot.updated_at
    )
