"""ACERunner: a pipeline plus the skillbook it learns into, run epoch by epoch."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ace.pipeline import ACEStepContext, Pipeline, SampleResult, SkillbookView
from ace.skillbook import Skillbook


class ACERunner:
    """Runs a pipeline over contexts for some epochs and keeps its background work in view.

    Every pipeline started through the runner is remembered until its background
    learning has finished, so ``wait_for_background`` covers all of them.
    """

    def __init__(self, pipeline: Pipeline | None, skillbook: Skillbook) -> None:
        self.pipeline = pipeline
        self.skillbook = skillbook
        self._running: list[Pipeline] = []

    def run_epochs(
        self,
        make_contexts: Callable[[int, int], Sequence[ACEStepContext]],
        epochs: int = 1,
        *,
        pipeline: Pipeline | None = None,
        wait: bool = True,
    ) -> list[SampleResult[ACEStepContext]]:
        """Run ``pipeline`` (default: the runner's) for ``epochs``; results of all epochs.

        ``make_contexts(epoch, total_epochs)`` builds each epoch's contexts. With
        ``wait=False`` the call returns while background learning goes on; call
        ``wait_for_background`` before relying on the skillbook.
        """
        chosen = pipeline or self.pipeline
        if chosen is None:
            raise ValueError("ACERunner.run_epochs: no pipeline given")
        self._running.append(chosen)
        results: list[SampleResult[ACEStepContext]] = []
        for epoch in range(1, epochs + 1):
            results.extend(chosen.run(make_contexts(epoch, epochs)))
            if chosen.background_steps and epoch < epochs:
                chosen.wait_for_background()  # the next epoch must see this one's skills
        if wait:
            self.wait_for_background()
        return results

    def view(self) -> SkillbookView:
        """A read-only view of the live skillbook."""
        return SkillbookView(self.skillbook)

    def wait_for_background(self, timeout: float | None = None) -> bool:
        """Wait for all background learning; False when ``timeout`` elapsed first."""
        import time

        deadline = None if timeout is None else time.monotonic() + timeout
        for pipeline in list(self._running):
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not pipeline.wait_for_background(left):
                return False
        self._running = [p for p in self._running if p is self.pipeline]
        return True

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Save the skillbook atomically (see ``Skillbook.save``)."""
        return self.skillbook.save(path)

    def close(self) -> None:
        """Finish background learning and stop the worker threads."""
        for pipeline in self._running:
            pipeline.close()
        self._running.clear()

    def __enter__(self) -> ACERunner:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
