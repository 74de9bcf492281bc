"""Reflection on an executor, learning on the caller's side in input order.

``TraceAnalyser.run(traces, executor=...)`` splits its pipeline after the step that
provides ``reflections``. The head (load, reflect) runs on the executor, ``jobs``
traces at a time; every reflection of an epoch reads the skillbook as it was when the
epoch began (a copy), so what a reflector sees does not depend on timing. The tail
(SkillManager, apply, deduplicate, checkpoint, extra steps) runs in the caller's thread
in input order, each trace as soon as every trace before it is done, on the live
skillbook: the same skillbook whatever order the reflections finish in.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from typing import Any

from ace.errors import UsageError
from ace.executors import Completed, Executor, in_order, stream
from ace.pipeline import ACEStepContext, CancellationToken, Pipeline, SampleResult, SkillbookView
from ace.pipeline.context import StepContext
from ace.runners.base import ACERunner, item_contexts
from ace.skillbook import Skillbook


def run_on_executor(
    runner: ACERunner,
    items: Sequence[Any],
    epochs: int,
    executor: Executor,
    cancel_token: CancellationToken | None = None,
) -> list[SampleResult[ACEStepContext]]:
    """Run ``runner``'s pipeline with its reflecting head on ``executor`` (see module)."""
    pipeline = runner.pipeline
    if pipeline is None:
        raise UsageError(f"{type(runner).__name__}.run: no pipeline given")
    if not isinstance(epochs, int) or epochs < 1:
        raise UsageError(f"{type(runner).__name__}.run: epochs must be an int >= 1, got {epochs!r}")
    steps = pipeline.steps
    split = next((i for i, s in enumerate(steps) if "reflections" in s.provides), None)
    if split is None:
        raise UsageError(
            f"{type(runner).__name__}.run(executor=...): the pipeline has no step providing "
            "'reflections' to run on the executor"
        )
    head = Pipeline(steps[: split + 1], name=f"{pipeline.name} (reflect)")
    tail = Pipeline(steps[split + 1 :], name=f"{pipeline.name} (learn)")
    work = functools.partial(_reflect, head, cancel_token)
    results: list[SampleResult[ACEStepContext]] = []
    for epoch in range(1, epochs + 1):
        if cancel_token is not None and cancel_token.cancelled:
            break
        frozen = Skillbook.from_dict(runner.skillbook.to_dict())
        contexts = item_contexts(items, frozen, epoch, epochs)
        live = SkillbookView(runner.skillbook)
        completions = stream(executor, work, enumerate(contexts))
        for done in in_order(completions, range(len(contexts))):
            results.append(_learn(tail, done, contexts[done.key], live, cancel_token))
    return results


def _reflect(
    head: Pipeline, cancel_token: CancellationToken | None, ctx: StepContext
) -> SampleResult[Any]:
    """The executor's part: the steps up to the reflection, on one context."""
    return head.run([ctx], cancel_token=cancel_token)[0]


def _learn(
    tail: Pipeline,
    done: Completed,
    ctx: StepContext,
    live: SkillbookView,
    cancel_token: CancellationToken | None,
) -> SampleResult[Any]:
    """The caller's part: the learning steps on the live skillbook, for one trace."""
    if done.error is not None:
        error = done.error if isinstance(done.error, Exception) else RuntimeError(done.cause)
        return SampleResult(sample=ctx.sample, context=ctx, error=error, index=done.key)
    reflected: SampleResult[Any] = done.value
    if reflected.error is not None or not tail.steps:
        return dataclasses.replace(reflected, index=done.key)
    learned = tail.run([reflected.context.replace(skillbook=live)], cancel_token=cancel_token)[0]
    return dataclasses.replace(learned, index=done.key)
