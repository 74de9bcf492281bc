"""CheckpointStep: save the skillbook every N samples."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from ace.errors import UsageError
from ace.pipeline.context import ACEStepContext
from ace.skillbook import Skillbook

logger = logging.getLogger("ace.steps")


class CheckpointStep:
    """Every ``every`` samples, saves ``skillbook_epoch{e}_sample{n}.json`` and ``latest.json``.

    ``n`` is the sample's 1-based position in its epoch when the context knows it
    (``step_index``), else the number of samples this step has seen. Saves are atomic
    (``Skillbook.save``). Put it after ``ApplyStep`` so a checkpoint holds that
    sample's learning. Built with the real Skillbook, like ``ApplyStep``.
    """

    requires: frozenset[str] = frozenset()
    provides: frozenset[str] = frozenset()

    def __init__(
        self, skillbook: Skillbook, directory: str | os.PathLike[str], *, every: int = 1
    ) -> None:
        if every < 1:
            raise UsageError(f"CheckpointStep: every must be >= 1, got {every}")
        self.skillbook = skillbook
        self.directory = Path(directory)
        self.every = every
        self._seen = 0
        self._lock = threading.Lock()

    def __call__(self, ctx: ACEStepContext) -> ACEStepContext:
        """Count the sample and save when the count reaches a multiple of ``every``."""
        with self._lock:
            self._seen += 1
            seen = self._seen
        if seen % self.every == 0:
            number = ctx.step_index + 1 if ctx.step_index is not None else seen
            path = self.directory / f"skillbook_epoch{ctx.epoch}_sample{number}.json"
            self.skillbook.save(path)
            self.skillbook.save(self.directory / "latest.json")
            logger.info("checkpoint saved to %s", path)
        return ctx
