"""ACERunner: a pipeline plus the skillbook it learns into, run epoch by epoch."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from ace.environments import Sample
from ace.errors import UsageError
from ace.pipeline import ACEStepContext, CancellationToken, Pipeline, SampleResult, SkillbookView
from ace.pipeline.context import StepContext
from ace.skillbook import Skillbook


class LearningStats(dict[str, int]):
    """Background learning progress: ``{"active": n, "completed": m}``.

    Read it as the established property (``runner.learning_stats["active"]``) or call it
    (``runner.learning_stats()``): calling returns the same mapping.
    """

    def __call__(self) -> LearningStats:
        return self


class ACERunner:
    """Runs a pipeline over samples for some epochs and keeps its background work in view.

    ``ACERunner(pipeline=pipe, skillbook=book).run(samples)`` runs any pipeline you
    composed. Every pipeline started through the runner is remembered until its
    background learning has finished, so ``wait_for_background`` covers all of them.
    """

    def __init__(
        self, pipeline: Pipeline | None = None, skillbook: Skillbook | None = None
    ) -> None:
        self.pipeline = pipeline
        self.skillbook = skillbook if skillbook is not None else Skillbook()
        self._running: list[Pipeline] = []

    def run(
        self,
        samples: Iterable[Any],
        epochs: int = 1,
        *,
        wait: bool = True,
        cancel_token: CancellationToken | None = None,
    ) -> list[SampleResult[ACEStepContext]]:
        """Run the runner's pipeline over ``samples`` for ``epochs``; one result per sample
        per epoch.

        A ``Sample`` becomes a context with the sample, a view of the skillbook and its
        progress fields; a ready ``StepContext`` is used as it is; anything else (a trace
        file path, a raw trace) is put in ``sample`` for a first step such as
        ``LoadTracesStep`` to read. ``epochs > 1`` needs a sequence (it is read again).
        """
        items = _as_items(samples, epochs)
        return self.run_epochs(
            lambda epoch, total: item_contexts(items, self.skillbook, epoch, total),
            epochs,
            wait=wait,
            cancel_token=cancel_token,
        )

    def run_epochs(
        self,
        make_contexts: Callable[[int, int], Sequence[StepContext]],
        epochs: int = 1,
        *,
        pipeline: Pipeline | None = None,
        wait: bool = True,
        cancel_token: CancellationToken | None = None,
    ) -> list[SampleResult[Any]]:
        """Run ``pipeline`` (default: the runner's) for ``epochs``; results of all epochs.

        ``make_contexts(epoch, total_epochs)`` builds each epoch's contexts. With
        ``wait=False`` the call returns while background learning goes on; call
        ``wait_for_background`` before relying on the skillbook. A cancelled
        ``cancel_token`` stops new steps and skips the remaining epochs.
        """
        chosen = pipeline or self.pipeline
        if chosen is None:
            raise UsageError(f"{type(self).__name__}.run: no pipeline given")
        if not isinstance(epochs, int) or epochs < 1:
            raise UsageError(
                f"{type(self).__name__}.run: epochs must be an int >= 1, got {epochs!r}"
            )
        self._running.append(chosen)
        results: list[SampleResult[Any]] = []
        for epoch in range(1, epochs + 1):
            if cancel_token is not None and cancel_token.cancelled:
                break
            results.extend(chosen.run(make_contexts(epoch, epochs), cancel_token=cancel_token))
            if chosen.background_steps and epoch < epochs:
                chosen.wait_for_background()  # the next epoch must see this one's skills
        if wait:
            self.wait_for_background()
        return results

    def view(self) -> SkillbookView:
        """A read-only view of the live skillbook."""
        return SkillbookView(self.skillbook)

    def wait_for_background(self, timeout: float | None = None) -> bool:
        """Wait for all background learning; True then. Raises ``TimeoutError`` when
        ``timeout`` (seconds) elapsed first; the learning goes on."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for pipeline in list(self._running):
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            pipeline.wait_for_background(left)
        self._running = [p for p in self._running if p is self.pipeline]
        return True

    wait_for_learning = wait_for_background
    """The established package's other name for ``wait_for_background``."""

    @property
    def learning_stats(self) -> LearningStats:
        """Background learning progress over the runner's pipelines (see ``LearningStats``)."""
        stats = LearningStats(active=0, completed=0)
        pipelines = {
            id(p): p for p in [*self._running, *([self.pipeline] if self.pipeline else [])]
        }
        for pipeline in pipelines.values():
            for key, value in pipeline.background_stats().items():
                stats[key] += value
        return stats

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


def _as_items(samples: Iterable[Any], epochs: int) -> Sequence[Any]:
    if isinstance(samples, str | os.PathLike | StepContext | Sample):
        raise UsageError(
            f"run() takes a list of samples, got one {type(samples).__name__}; wrap it in a list"
        )
    if isinstance(samples, Sequence):
        return samples
    if epochs > 1:
        raise UsageError("run(): several epochs need a sequence (a list), not a one-shot iterable")
    return list(samples)


def item_contexts(
    items: Sequence[Any], skillbook: Skillbook, epoch: int, total_epochs: int
) -> list[StepContext]:
    """One context per item (see ``ACERunner.run``), numbered within the epoch and run."""
    view = SkillbookView(skillbook)
    contexts: list[StepContext] = []
    for i, item in enumerate(items):
        if isinstance(item, StepContext):
            contexts.append(item)
            continue
        if isinstance(item, Sample) and item.id is None:
            item = item.model_copy(update={"id": f"sample-{i}"})
        contexts.append(
            ACEStepContext(
                sample=item,
                skillbook=view,
                epoch=epoch,
                total_epochs=total_epochs,
                step_index=i,
                total_steps=len(items),
                global_sample_index=(epoch - 1) * len(items) + i,
            )
        )
    return contexts
