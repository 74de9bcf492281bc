"""Skill deduplication: find near-duplicate skills and merge them with normal updates.

``DeduplicationManager(DeduplicationConfig(...))`` does the work; ``DeduplicateStep``
(``manager.as_step(skillbook)``, or ``learning_tail(..., dedup_manager=manager)``) runs
it every N samples inside a pipeline.
"""

from __future__ import annotations

from ace.dedup.judge import DedupVerdict, LLMJudge, PairJudge, ThresholdJudge
from ace.dedup.manager import DeduplicationConfig, DeduplicationManager, DedupReport, MergeRecord
from ace.dedup.similarity import PairScorer, cosine, lexical_similarity

__all__ = [
    "DedupReport",
    "DedupVerdict",
    "DeduplicationConfig",
    "DeduplicationManager",
    "LLMJudge",
    "MergeRecord",
    "PairJudge",
    "PairScorer",
    "ThresholdJudge",
    "cosine",
    "lexical_similarity",
]
