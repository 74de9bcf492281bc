"""DeduplicateStep: merge near-duplicate skills every N samples."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from ace.pipeline.context import ACEStepContext
from ace.skillbook import Skillbook
from ace.steps._order import interval_of
from ace.steps.apply import provenance

if TYPE_CHECKING:
    from ace.dedup import DeduplicationManager

logger = logging.getLogger("ace.steps")

REPORT_KEY = "dedup_report"
"""The metadata key under which a run's ``DedupReport`` is put on the context."""


class DeduplicateStep:
    """Every ``interval`` samples, runs ``manager.deduplicate`` on the real skillbook.

    Put it after ``ApplyStep`` (``learning_tail`` does). Survivors of a merge record
    the sample's provenance. When it runs, the ``DedupReport`` is added to the context's
    metadata under ``"dedup_report"``, and when the context has a
    ``skill_manager_output``, that output is replaced by a copy whose
    ``consolidation_ops`` also lists the run's merges and keeps. Otherwise the context
    passes through. With ``manager.config.enabled`` False every context passes through
    untouched and nothing is counted or computed.

    ``interval`` is the established ACE keyword, ``every`` the older name here; pass
    either (both must agree). The default is 1, every sample (the established
    ``DeduplicateStep`` defaults to ``interval=10``); ``manager.as_step(skillbook)``
    uses ``config.every``. ``self.interval`` and ``self.every`` hold the same value.
    """

    requires: frozenset[str] = frozenset()
    provides: frozenset[str] = frozenset()

    def __init__(
        self,
        manager: DeduplicationManager,
        skillbook: Skillbook,
        *,
        interval: int | None = None,
        every: int | None = None,
    ) -> None:
        value = interval_of(interval, every, "DeduplicateStep")
        self.manager = manager
        self.skillbook = skillbook
        self.every = value
        self._seen = 0
        self._lock = threading.Lock()

    @property
    def interval(self) -> int:
        """The established ACE name of ``every`` (same value)."""
        return self.every

    def __call__(self, ctx: ACEStepContext) -> ACEStepContext:
        """Count the sample; deduplicate when the count reaches a multiple of ``every``."""
        if not self.manager.enabled:
            return ctx
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
        changes: dict[str, object] = {"metadata": {**ctx.metadata, REPORT_KEY: report}}
        output = ctx.skill_manager_output
        if output is not None and report.consolidation_ops:
            ops = [*output.consolidation_ops, *report.consolidation_ops]
            changes["skill_manager_output"] = output.model_copy(
                update={"consolidation_ops": ops}, deep=True
            )
        return ctx.replace(**changes)
