"""CheckpointStep: save the skillbook every N samples."""

from __future__ import annotations

import logging
import os
import threading

from ace.pipeline.context import ACEStepContext
from ace.skillbook import Skillbook
from ace.steps._order import interval_of, path_and_skillbook

logger = logging.getLogger("ace.steps")


class CheckpointStep:
    """Every ``interval`` samples, saves ``skillbook_epoch{e}_sample{n}.json`` and ``latest.json``.

    ``CheckpointStep(directory, skillbook, interval=10)`` as in the established package;
    this package's first order ``CheckpointStep(skillbook, directory, every=10)`` is also
    accepted. The period defaults to 1 (every sample): a lost checkpoint costs more than a
    small atomic write.

    ``n`` is the sample's 1-based position in its epoch when the context knows it
    (``step_index``), else the number of samples this step has seen. Saves are atomic
    (``Skillbook.save``). Put it after ``ApplyStep`` so a checkpoint holds that
    sample's learning. Built with the real Skillbook, like ``ApplyStep``.
    """

    requires: frozenset[str] = frozenset()
    provides: frozenset[str] = frozenset()

    def __init__(
        self,
        directory: str | os.PathLike[str] | Skillbook,
        skillbook: Skillbook | str | os.PathLike[str],
        *,
        interval: int | None = None,
        every: int | None = None,
    ) -> None:
        self.directory, self.skillbook = path_and_skillbook(directory, skillbook, "CheckpointStep")
        self.every = self.interval = interval_of(interval, every, "CheckpointStep")
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
