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

import importlib
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, get_args

from ace.dedup.judge import DedupVerdict, PairJudge, judge_for
from ace.dedup.similarity import Embedder, PairScorer, words
from ace.errors import ConfigurationError, UsageError
from ace.outputs import ConsolidationOp
from ace.skillbook import Skill, Skillbook, pair_key
from ace.updates import UpdateBatch, UpdateOperation

if TYPE_CHECKING:
    from ace.llm import LLMClient
    from ace.steps.deduplicate import DeduplicateStep

logger = logging.getLogger("ace.dedup")

EmbeddingProvider = Literal["litellm", "sentence_transformers"]
EMBEDDING_PROVIDERS: tuple[str, ...] = get_args(EmbeddingProvider)

_UNSET: Any = type("_Unset", (), {"__repr__": lambda self: "<unset>"})()
"""Marks an alias pair member that was not passed (so a conflict can be detected)."""


@dataclass(kw_only=True, init=False)
class DeduplicationConfig:
    """Settings of a ``DeduplicationManager``; defaults live here only.

    Compatible with the established ACE package's ``DeduplicationConfig``: its keyword
    names are accepted as aliases, and both names read (and set) the same value.

    * ``similarity_threshold`` is ``merge_threshold``;
    * ``within_section_only`` is ``same_section_only``.

    Passing both names of a pair with different values raises ``UsageError``. The
    established fields ``enabled``, ``embedding_provider``, ``local_model_name`` and
    ``min_pairs_to_report`` are real fields here. Deliberate differences:

    * ``embedding_model`` defaults to None, meaning the lexical similarity with no model
      calls (the established default is ``"text-embedding-3-small"``, a paid API).
      Pass ``embedding_model="text-embedding-3-small"`` for the established behaviour.
    * ``merge_threshold`` defaults to 0.9 (the established ``similarity_threshold`` is
      0.85): here the threshold merges pairs directly unless a judge is configured.
    * ``min_pairs_to_report`` only gates logging (``"found N similar skill pairs"`` at
      INFO when N reaches it, DEBUG otherwise); it never stops a merge. The count is in
      ``DedupReport.candidates``.

    ``enabled=False`` turns deduplication off: ``DeduplicationManager.deduplicate``
    returns an empty report and the step from ``as_step`` passes every context through
    unchanged, computing nothing; no embedding model is set up or checked.
    """

    merge_threshold: float = 0.9
    """Similarity at or above which the threshold rule merges a pair.
    Alias: ``similarity_threshold``."""
    candidate_threshold: float | None = None
    """Similarity from which pairs go to the judge; None means ``merge_threshold``."""
    enabled: bool = True
    """False: no deduplication at all (see the class docstring)."""
    embedding_provider: EmbeddingProvider = "litellm"
    """Who embeds: ``"litellm"`` (``embedding_model``, through ``litellm.embedding``) or
    ``"sentence_transformers"`` (``local_model_name``, a local model; needs
    ``pip install sentence-transformers``)."""
    embedding_model: str | None = None
    """A litellm embedding model; None (with the litellm provider) uses the lexical
    similarity, with no model calls. Must be None with ``"sentence_transformers"``."""
    local_model_name: str = "all-MiniLM-L6-v2"
    """The ``SentenceTransformer`` model used by the ``"sentence_transformers"`` provider."""
    embedding_kwargs: Mapping[str, Any] = field(default_factory=dict)
    """Extra arguments for ``litellm.embedding`` (``api_base``, ``dimensions``, ...), or
    for ``SentenceTransformer.encode`` with the ``"sentence_transformers"`` provider."""
    judge_model: str | LLMClient | None = None
    """A chat model that decides MERGE or KEEP per candidate pair; None uses the rule."""
    same_section_only: bool = True
    """Compare only skills of the same section (also keeps the pair count down).
    Alias: ``within_section_only``."""
    min_pairs_to_report: int = 1
    """Log the similar pairs a run finds at INFO only when there are at least this many."""
    every: int = 1
    """``DeduplicateStep`` runs every this many samples."""
    max_passes: int = 5
    """Merge passes per run; a pass merges each skill at most once."""

    def __init__(
        self,
        *,
        merge_threshold: float = _UNSET,
        candidate_threshold: float | None = None,
        enabled: bool = True,
        embedding_provider: EmbeddingProvider = "litellm",
        embedding_model: str | None = None,
        local_model_name: str = "all-MiniLM-L6-v2",
        embedding_kwargs: Mapping[str, Any] | None = None,
        judge_model: str | LLMClient | None = None,
        same_section_only: bool = _UNSET,
        min_pairs_to_report: int = 1,
        every: int = 1,
        max_passes: int = 5,
        similarity_threshold: float = _UNSET,
        within_section_only: bool = _UNSET,
    ) -> None:
        """Keyword-only; the defaults are the field defaults above. ``<unset>`` marks the
        aliased pairs: ``merge_threshold``/``similarity_threshold`` default to 0.9 and
        ``same_section_only``/``within_section_only`` to True; give either name."""
        self.merge_threshold = _resolve(
            "merge_threshold", merge_threshold, "similarity_threshold", similarity_threshold, 0.9
        )
        self.same_section_only = _resolve(
            "same_section_only", same_section_only, "within_section_only", within_section_only, True
        )
        self.candidate_threshold = candidate_threshold
        self.enabled = enabled
        self.embedding_provider = embedding_provider
        self.embedding_model = embedding_model
        self.local_model_name = local_model_name
        self.embedding_kwargs = dict(embedding_kwargs or {})
        self.judge_model = judge_model
        self.min_pairs_to_report = min_pairs_to_report
        self.every = every
        self.max_passes = max_passes
        self._validate()

    def _validate(self) -> None:
        for name in ("merge_threshold", "candidate_threshold"):
            value = getattr(self, name)
            if value is None and name == "candidate_threshold":
                continue
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not 0.0 < value <= 1.0
            ):
                raise UsageError(f"DeduplicationConfig: {name} must be in (0, 1], got {value!r}")
        for name in ("min_pairs_to_report", "every", "max_passes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise UsageError(
                    f"DeduplicationConfig: {name} must be an integer >= 1, got {value!r}"
                )
        if self.embedding_provider not in EMBEDDING_PROVIDERS:
            valid = ", ".join(repr(p) for p in EMBEDDING_PROVIDERS)
            raise UsageError(
                f"DeduplicationConfig: embedding_provider must be one of {valid}, "
                f"got {self.embedding_provider!r}"
            )
        if self.embedding_provider == "sentence_transformers":
            if self.embedding_model is not None:
                raise UsageError(
                    "DeduplicationConfig: embedding_model is the litellm model; with "
                    "embedding_provider='sentence_transformers' name the model in "
                    f"local_model_name instead (got embedding_model={self.embedding_model!r})"
                )
            if not self.local_model_name:
                raise UsageError(
                    "DeduplicationConfig: local_model_name must name a SentenceTransformer "
                    "model when embedding_provider='sentence_transformers'"
                )

    @property
    def similarity_threshold(self) -> float:
        """The established ACE name of ``merge_threshold`` (same value)."""
        return self.merge_threshold

    @similarity_threshold.setter
    def similarity_threshold(self, value: float) -> None:
        self.merge_threshold = value

    @property
    def within_section_only(self) -> bool:
        """The established ACE name of ``same_section_only`` (same value)."""
        return self.same_section_only

    @within_section_only.setter
    def within_section_only(self, value: bool) -> None:
        self.same_section_only = value

    @property
    def uses_embeddings(self) -> bool:
        """True when similarity comes from an embedding model (not the lexical measure)."""
        return self.embedding_provider == "sentence_transformers" or bool(self.embedding_model)


def _resolve(ours: str, value: Any, alias: str, alias_value: Any, default: Any) -> Any:
    if value is _UNSET and alias_value is _UNSET:
        return default
    if value is _UNSET:
        return alias_value
    if alias_value is not _UNSET and alias_value != value:
        raise UsageError(
            f"DeduplicationConfig: {ours}={value!r} and {alias}={alias_value!r} disagree; "
            f"{alias} is the established ACE name of {ours}, pass one of them"
        )
    return value


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
    candidates: int = 0
    """Undecided pairs at or above the candidate threshold when the run started."""
    consolidation_ops: list[ConsolidationOp] = field(default_factory=list)
    """Every MERGE and KEEP of this run, in decision order (what ``DeduplicateStep``
    puts on ``SkillManagerOutput.consolidation_ops``)."""

    @property
    def removed_ids(self) -> list[str]:
        """Ids removed by merges, in order."""
        return [m.removed_id for m in self.merged]


class DeduplicationManager:
    """Finds and merges near-duplicate skills; ``as_step`` plugs it into ``learning_tail``.

    With ``embedding_provider="sentence_transformers"`` the package is imported here, so
    a missing install raises ``ConfigurationError`` before any model call (the model
    itself is loaded on the first embedding). Nothing is set up when ``enabled`` is False.
    """

    def __init__(
        self, config: DeduplicationConfig | None = None, *, judge: PairJudge | None = None
    ) -> None:
        self.config = config or DeduplicationConfig()
        self.judge = judge_for(self.config.merge_threshold, self.config.judge_model, judge)
        embedder = self._embedder() if self.config.enabled and self.config.uses_embeddings else None
        self._scorer = PairScorer(embedder)

    def __repr__(self) -> str:
        return f"DeduplicationManager({self.config!r})"

    @property
    def enabled(self) -> bool:
        """``config.enabled``: False makes ``deduplicate`` and the step do nothing."""
        return self.config.enabled

    def as_step(self, skillbook: Skillbook, *, interval: int | None = None) -> DeduplicateStep:
        """A ``DeduplicateStep`` for ``skillbook`` running every ``interval`` samples
        (None: ``config.every``). With ``enabled=False`` the step passes contexts through."""
        from ace.steps.deduplicate import DeduplicateStep

        return DeduplicateStep(
            self, skillbook, interval=self.config.every if interval is None else interval
        )

    def find_candidates(self, skillbook: Skillbook) -> list[tuple[Skill, Skill, float]]:
        """Undecided pairs (copies of the skills) at or above the candidate threshold, best first.

        Empty when deduplication is disabled."""
        if not self.enabled:
            return []
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
        provenance recorded on the survivors (e.g. the sample that triggered the run).

        With ``enabled=False`` nothing is computed and the report is empty."""
        report = DedupReport(similarity=self._scorer.kind)
        if not self.enabled:
            return report
        for _ in range(self.config.max_passes):
            report.passes += 1
            if not self._pass(skillbook, report, dict(source or {})):
                break
        return report

    def _pass(self, book: Skillbook, report: DedupReport, source: dict[str, Any]) -> bool:
        decided = book.similarity_decisions
        touched: set[str] = set()
        merged_any = False
        candidates = self._candidates(book)
        if report.passes == 1:
            self._log_candidates(report, candidates, decided)
        for a, b, similarity in candidates:
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
                report.consolidation_ops.append(
                    ConsolidationOp(
                        type="KEEP",
                        skill_ids=[a.id, b.id],
                        similarity=similarity,
                        reasoning=verdict.reasoning,
                    )
                )
            elif (merged := _merge(book, a, b, similarity, verdict, source)) is not None:
                record, content = merged
                touched |= {a.id, b.id}
                report.merged.append(record)
                report.consolidation_ops.append(
                    ConsolidationOp(
                        type="MERGE",
                        skill_ids=[a.id, b.id],
                        kept_id=record.kept_id,
                        removed_id=record.removed_id,
                        merged_content=content,
                        similarity=similarity,
                        reasoning=record.reasoning,
                    )
                )
                merged_any = True
        return merged_any

    def _log_candidates(
        self,
        report: DedupReport,
        candidates: list[tuple[Skill, Skill, float]],
        decided: Mapping[str, Any],
    ) -> None:
        undecided = [
            (a, b, s) for a, b, s in candidates if not _is_keep(decided.get(pair_key(a.id, b.id)))
        ]
        report.candidates = len(undecided)
        if not undecided:
            return
        level = logging.INFO if len(undecided) >= self.config.min_pairs_to_report else logging.DEBUG
        logger.log(
            level,
            "found %d similar skill pairs (%s similarity; min_pairs_to_report=%d)",
            len(undecided),
            report.similarity,
            self.config.min_pairs_to_report,
        )
        for a, b, similarity in undecided:
            logger.log(level, "  %s ~ %s: %.3f", a.id, b.id, similarity)

    def _candidates(self, book: Skillbook) -> list[tuple[Skill, Skill, float]]:
        with book.lock:
            skills = [s.model_copy(deep=True) for s in book.skills()]
        floor = self.config.candidate_threshold or self.config.merge_threshold
        return self._scorer.pairs(skills, floor, self.config.same_section_only)

    def _embedder(self) -> Embedder:
        kwargs = dict(self.config.embedding_kwargs)
        if self.config.embedding_provider == "sentence_transformers":
            return _sentence_transformers_embedder(self.config.local_model_name, kwargs)
        from ace.llm.embeddings import embed

        model = self.config.embedding_model
        assert model is not None
        return lambda texts: embed(texts, model=model, **kwargs)


def _sentence_transformers_embedder(model_name: str, kwargs: dict[str, Any]) -> Embedder:
    """Imports ``sentence_transformers`` now; loads ``model_name`` on the first call."""
    try:
        module = importlib.import_module("sentence_transformers")
    except ImportError as exc:
        raise ConfigurationError(
            "DeduplicationConfig(embedding_provider='sentence_transformers') needs the "
            "sentence-transformers package, which is not installed: "
            "pip install sentence-transformers (or use embedding_provider='litellm')"
        ) from exc
    lock = threading.Lock()
    loaded: list[Any] = []

    def embed(texts: list[str]) -> list[list[float]]:
        with lock:
            if not loaded:
                loaded.append(module.SentenceTransformer(model_name))
            model = loaded[0]
        vectors = model.encode(list(texts), **kwargs)
        return [[float(x) for x in vector] for vector in vectors]

    return embed


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
) -> tuple[MergeRecord, str] | None:
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
    return MergeRecord(keep.id, drop.id, similarity, verdict.reasoning), survivor.content


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
