"""Skill deduplication: find near-duplicate skills and merge them with normal updates.

``DeduplicationManager(DeduplicationConfig(...))`` does the work; ``DeduplicateStep``
(``manager.as_step(skillbook)``, or ``learning_tail(..., dedup_manager=manager)``) runs
it every N samples inside a pipeline. The config also accepts the established ACE
package's keyword names (``similarity_threshold``, ``within_section_only``, ``enabled``,
``embedding_provider``, ``local_model_name``, ``min_pairs_to_report``); merges and keeps
of a step's run also appear on ``SkillManagerOutput.consolidation_ops``.
"""

from __future__ import annotations

from ace.dedup.judge import DedupVerdict, LLMJudge, PairJudge, ThresholdJudge
from ace.dedup.manager import (
    EMBEDDING_PROVIDERS,
    DeduplicationConfig,
    DeduplicationManager,
    DedupReport,
    EmbeddingProvider,
    MergeRecord,
)
from ace.dedup.similarity import PairScorer, cosine, lexical_similarity

__all__ = [
    "EMBEDDING_PROVIDERS",
    "DedupReport",
    "DedupVerdict",
    "DeduplicationConfig",
    "DeduplicationManager",
    "EmbeddingProvider",
    "LLMJudge",
    "MergeRecord",
    "PairJudge",
    "PairScorer",
    "ThresholdJudge",
    "cosine",
    "lexical_similarity",
]
