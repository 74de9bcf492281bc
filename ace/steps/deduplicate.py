"""DeduplicateStep: merge near-duplicate skills every N samples."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from ace.errors import UsageError
from ace.pipeline.context import ACEStepContext
from ace.skillbook import Skillbook
from ace.steps.apply import provenance

if TYPE_CHECKING:
    from ace.dedup import DeduplicationManager

logger = logging.getLogger("ace.steps")

REPORT_KEY = "dedup_report"
"""The metadata key under which a run's ``DedupReport`` is put on the context."""


class DeduplicateStep:
    """Every ``every`` samples, runs ``manager.deduplicate`` on the real skillbook.

    Put it after ``ApplyStep`` (``learning_tail`` does). Survivors of a merge record
    the sample's provenance. When it runs, the ``DedupReport`` is added to the context's
    metadata under ``"dedup_report"``; otherwise the context passes through.
    """

    requires: frozenset[str] = frozenset()
    provides: frozenset[str] = frozenset()

    def __init__(
        self, manager: DeduplicationManager, skillbook: Skillbook, *, every: int = 1
    ) -> None:
        if every < 1:
            raise UsageError(f"DeduplicateStep: every must be >= 1, got {every}")
        self.manager = manager
        self.skillbook = skillbook
        self.every = every
        self._seen = 0
        self._lock = threading.Lock()

    def __call__(self, ctx: ACEStepContext) -> ACEStepContext:
        """Count the sample; deduplicate when the count reaches a multiple of ``every``."""
        with self._lock:
            self._seen += 1
            due = self._seen % self.every == 0
        if not due:
            return ctx
        report = self.manager.deduplicate(self.skillbook, source=provenance(ctx))
        if report.merged or report.kept:
            logger.info(
                "deduplication merged %d and kept %d pairs", len(report.merged), len(report.kept)
            )
        return ctx.replace(metadata={**ctx.metadata, REPORT_KEY: report})
