"""The pipeline engine: ordered steps with checked contracts, per-sample isolation,
concurrent samples, an async runner, cancellation and an optional background tail.

Contracts are checked when a pipeline is built (a step needing a field that only a
later step provides, a step without ``requires``/``provides``) and when it runs (the
initial contexts must set the fields the pipeline needs from outside; every step must
return a context with its ``provides`` set).

Every sample goes through ``_run_one`` (``_arun_one`` under ``run_async``): both drive
the same walk (see ``_engine``), so ordering, contract checks, cancellation and error
recording do not depend on how the sample was scheduled.

Background tail: the steps from the first one with ``async_boundary = True`` onward run
on one worker thread, serially and in *sample order* (also with ``workers > 1``: a
sample's tail is queued only once every earlier sample's foreground is done), so
skillbook updates happen in sample order. ``run()`` returns once the foreground steps
are done; the ``SampleResult`` objects are completed in place (``pending`` turns
False) as the tail finishes. ``wait_for_background()`` blocks until then.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from types import TracebackType
from typing import Any, Self, TypeVar, cast

from ace.errors import RunCancelled, UsageError
from ace.pipeline._background import BackgroundWorker, InOrder
from ace.pipeline._contracts import (
    Slot,
    check_initial,
    check_steps,
    checked_output,
    needed_from_outside,
)
from ace.pipeline._engine import (
    NEVER_CANCELLED,
    Composite,
    Invoke,
    StepFailure,
    Walk,
    adrive,
    drive,
    is_composite,
)
from ace.pipeline.cancel import CancellationToken, cancel_token_var
from ace.pipeline.context import StepContext
from ace.pipeline.protocol import PipelineHook, StepProtocol
from ace.pipeline.result import SampleResult

logger = logging.getLogger("ace.pipeline")

C = TypeVar("C", bound=StepContext)
SampleCallback = Callable[[SampleResult[Any]], None]
"""Called with each sample's result as soon as its foreground steps are done."""


class Pipeline:
    """An ordered list of steps; itself a step, so pipelines nest.

    ``requires`` is what the steps need from outside (the initial context), ``provides``
    everything they set. A nested pipeline runs all its steps where it sits (its own
    ``async_boundary`` markers apply only when it is run at the top level).

    A pipeline may start empty and grow with ``then(step)`` / ``branch(a, b)``; every
    addition is checked at once. ``hooks`` observe each of this pipeline's steps (see
    ``PipelineHook``).
    """

    _ace_composite = True

    def __init__(
        self,
        steps: Iterable[StepProtocol[Any]] | None = None,
        hooks: Iterable[PipelineHook] | None = None,
        *,
        name: str | None = None,
    ) -> None:
        self.name = name or "Pipeline"
        self.hooks: tuple[PipelineHook, ...] = tuple(hooks or ())
        self._worker = BackgroundWorker(self.name)
        self._background_done: list[SampleResult[Any]] = []
        self._lock = threading.Lock()
        self._closed = False
        self._set_steps(tuple(steps or ()))

    def _set_steps(self, steps: tuple[StepProtocol[Any], ...]) -> None:
        slots = check_steps(steps, f"pipeline {self.name!r}")
        first_needing = needed_from_outside(slots)
        split = next(
            (i for i, s in enumerate(slots) if getattr(s.step, "async_boundary", False)),
            len(slots),
        )
        self._slots = slots
        self._first_needing = first_needing
        self.requires: frozenset[str] = frozenset(first_needing)
        self.provides: frozenset[str] = frozenset().union(*(s.provides for s in slots))
        self._foreground = slots[:split]
        self._background = slots[split:]

    def then(self, step: StepProtocol[Any]) -> Self:
        """Append ``step`` (checked now) and return this pipeline, for chaining."""
        self._set_steps((*self.steps, step))
        return self

    def branch(
        self,
        *branches: StepProtocol[Any] | list[StepProtocol[Any]] | tuple[StepProtocol[Any], ...],
        merge: Any = None,
        name: str | None = None,
    ) -> Self:
        """Append ``Branch(*branches, merge=...)`` and return this pipeline, for chaining."""
        from ace.pipeline.branch import Branch, MergeStrategy

        return self.then(
            Branch(
                *branches,
                merge=MergeStrategy.RAISE_ON_CONFLICT if merge is None else merge,
                name=name,
            )
        )

    def __repr__(self) -> str:
        return f"Pipeline(name={self.name!r}, steps={[s.name for s in self._slots]})"

    @property
    def steps(self) -> tuple[StepProtocol[Any], ...]:
        """The steps in order, e.g. to build a new pipeline from some of them."""
        return tuple(s.step for s in self._slots)

    @property
    def background_steps(self) -> tuple[StepProtocol[Any], ...]:
        """The steps that run in the background tail (empty when there is none)."""
        return tuple(s.step for s in self._background)

    # ------------------------------------------------------------------ running
    def run(
        self,
        contexts: Iterable[C],
        workers: int = 1,
        on_sample_done: SampleCallback | None = None,
        cancel_token: CancellationToken | None = None,
        *,
        cancel: CancellationToken | None = None,
    ) -> list[SampleResult[C]]:
        """Run every context through the steps; one ``SampleResult`` per context, in input order.

        ``workers > 1`` runs that many samples at once on a thread pool (steps must then
        be thread-safe; the standard ones are). ``on_sample_done(result)`` is called in
        the calling thread, in completion order; if it raises, no new step starts, the
        running ones finish and the exception propagates. ``cancel_token`` (or ``cancel``)
        stops new work (see ``CancellationToken``); stopped samples carry a ``RunCancelled``
        error. While a step runs, ``cancel_token_var.get()`` returns the run's token.

        Async steps run on a private event loop thread, so this works even when called
        from inside a running event loop. Steps are expected to keep the context's type
        (``ctx.replace`` does). A step raising fails only its own sample. Initial
        contexts missing a field the pipeline requires raise ``PipelineContractError``
        before anything runs.
        """
        items = self._prepare(contexts, workers)
        token = CancellationToken(parent=_one_token(cancel_token, cancel))
        tails = InOrder(self._submit_tail)
        if workers == 1 or len(items) <= 1:
            results = []
            for index, ctx in enumerate(items):
                result = self._run_one(ctx, index, token, tails)
                results.append(result)
                self._notify(on_sample_done, result, token)
            return results
        with ThreadPoolExecutor(workers, thread_name_prefix=f"ace-{self.name}") as pool:
            futures = [
                pool.submit(self._run_one, ctx, index, token, tails)
                for index, ctx in enumerate(items)
            ]
            failure: BaseException | None = None
            for future in as_completed(futures):
                try:
                    self._notify(on_sample_done, future.result(), token)
                except BaseException as exc:  # re-raised once running steps have finished
                    failure = failure or exc
        if failure is not None:
            raise failure
        return [f.result() for f in futures]

    async def run_async(
        self,
        contexts: Iterable[C],
        workers: int = 1,
        on_sample_done: SampleCallback | None = None,
        cancel_token: CancellationToken | None = None,
        *,
        cancel: CancellationToken | None = None,
    ) -> list[SampleResult[C]]:
        """Like ``run``, on the caller's event loop: async steps are awaited natively.

        Sync steps run in worker threads (``asyncio.to_thread``) so a slow one never
        blocks the loop. ``workers`` bounds how many samples are in flight at once;
        ``on_sample_done`` is called on the loop. The background tail, if any, still
        runs on its worker thread.
        """
        items = self._prepare(contexts, workers)
        token = CancellationToken(parent=_one_token(cancel_token, cancel))
        tails = InOrder(self._submit_tail)
        gate = asyncio.Semaphore(workers)
        failures: list[BaseException] = []

        async def one(index: int, ctx: C) -> SampleResult[C]:
            async with gate:
                result = await self._arun_one(ctx, index, token, tails)
            try:
                self._notify(on_sample_done, result, token)
            except BaseException as exc:  # re-raised once running steps have finished
                failures.append(exc)
            return result

        results = await asyncio.gather(*(one(i, ctx) for i, ctx in enumerate(items)))
        if failures:
            raise failures[0]
        return list(results)

    def __call__(self, ctx: StepContext) -> StepContext:
        """Run all steps (background ones included) inline; re-raise a step's exception."""
        check_initial(ctx, self._first_needing, f"pipeline {self.name!r}", "the context")
        try:
            return drive(self.walk(ctx, NEVER_CANCELLED))
        except StepFailure as failure:
            cause, path = failure.cause, failure.path
        # Raised outside the handler so the step's exception keeps its own cause/context.
        cause.add_note(f"in pipeline {self.name!r} at {' > '.join(path)}")
        raise cause

    def walk(self, ctx: StepContext, token: CancellationToken) -> Walk:
        """The engine's walk over every step (see ``_engine``); used when nested."""
        return self._walk(ctx, token, self._slots)

    def _prepare(self, contexts: Iterable[C], workers: int) -> list[C]:
        if self._closed:
            raise UsageError(f"pipeline {self.name!r} is closed; build a new one to run again")
        if not isinstance(workers, int) or workers < 1:
            raise UsageError(
                f"pipeline {self.name!r}: workers must be an int >= 1, got {workers!r}"
            )
        items = list(contexts)
        for index, ctx in enumerate(items):
            check_initial(ctx, self._first_needing, f"pipeline {self.name!r}", f"context {index}")
        return items

    def _run_one(
        self, ctx: C, index: int, token: CancellationToken, tails: InOrder
    ) -> SampleResult[C]:
        result: SampleResult[C] = SampleResult(
            sample=getattr(ctx, "sample", None), context=ctx, index=index
        )
        reset = cancel_token_var.set(token)
        try:
            result.context = cast(C, drive(self._walk(ctx, token, self._foreground)))
        except StepFailure as failure:
            self._record(result, failure, "")
        finally:
            cancel_token_var.reset(reset)
        return self._settle(result, token, tails)

    async def _arun_one(
        self, ctx: C, index: int, token: CancellationToken, tails: InOrder
    ) -> SampleResult[C]:
        result: SampleResult[C] = SampleResult(
            sample=getattr(ctx, "sample", None), context=ctx, index=index
        )
        cancel_token_var.set(token)  # this task's own copy of the context
        try:
            result.context = cast(C, await adrive(self._walk(ctx, token, self._foreground)))
        except StepFailure as failure:
            self._record(result, failure, "")
        return self._settle(result, token, tails)

    def _settle(
        self, result: SampleResult[C], token: CancellationToken, tails: InOrder
    ) -> SampleResult[C]:
        needs_tail = bool(self._background) and result.error is None
        result.pending = needs_tail
        tails.done(result.index, (result, token) if needs_tail else None)
        return result

    def _walk(self, ctx: StepContext, token: CancellationToken, slots: Iterable[Slot]) -> Walk:
        for slot in slots:
            try:
                if token.cancelled:
                    raise RunCancelled(
                        f"pipeline {self.name!r}: cancelled before step {slot.name!r} "
                        f"({token.reason})",
                        reason=token.reason,
                    )
                self._fire("before_step", slot.name, ctx)
                if isinstance(slot.step, Pipeline):
                    out = yield from slot.step.walk(ctx, token)
                elif is_composite(slot.step):
                    composite = cast(Composite, slot.step)
                    out = checked_output(slot, (yield from composite.walk(ctx, token)))
                else:
                    out = checked_output(slot, (yield Invoke(slot, ctx)))
                self._fire("after_step", slot.name, out)
            except StepFailure as inner:
                raise StepFailure((slot.name, *inner.path), inner.cause, inner.context) from None
            except Exception as exc:
                raise StepFailure((slot.name,), exc, ctx) from None
            ctx = out
        return ctx

    def _fire(self, event: str, step_name: str, ctx: StepContext) -> None:
        for hook in self.hooks:
            method = getattr(hook, event, None)
            if method is None:
                continue
            try:
                method(step_name, ctx)
            except Exception:  # a broken observer must not fail the sample
                logger.exception(
                    "pipeline %r: hook %s.%s raised; ignored", self.name, type(hook).__name__, event
                )

    @staticmethod
    def _notify(
        callback: SampleCallback | None, result: SampleResult[Any], token: CancellationToken
    ) -> None:
        if callback is None:
            return
        try:
            callback(result)
        except BaseException:
            token.cancel("on_sample_done raised")
            raise

    # ------------------------------------------------------------------ background
    def _submit_tail(self, job: tuple[SampleResult[Any], CancellationToken] | None) -> None:
        if job is not None:
            result, token = job
            self._worker.submit(lambda: self._run_tail(result, token), lambda: self._cancel(result))

    def _run_tail(self, result: SampleResult[Any], token: CancellationToken) -> None:
        reset = cancel_token_var.set(token)
        try:
            result.context = drive(self._walk(result.context, token, self._background))
        except StepFailure as failure:
            self._record(result, failure, "background ")
        finally:
            cancel_token_var.reset(reset)
            result.pending = False
            with self._lock:
                self._background_done.append(result)

    def _cancel(self, result: SampleResult[Any]) -> None:
        result.error = RunCancelled(
            f"pipeline {self.name!r} was closed before the background steps ran for "
            f"sample {result.index}; its learning was skipped",
            reason="pipeline closed",
        )
        result.failed_at = self._background[0].name
        result.failed_path = (self._background[0].name,)
        result.pending = False
        with self._lock:
            self._background_done.append(result)

    def _record(self, result: SampleResult[Any], failure: StepFailure, where: str) -> None:
        result.context = failure.context
        result.error = failure.cause
        result.failed_at = failure.path[-1]
        result.failed_path = failure.path
        if isinstance(failure.cause, RunCancelled):
            logger.info(
                "pipeline %r: sample %d stopped before %sstep %s (cancelled)",
                self.name,
                result.index,
                where,
                " > ".join(failure.path),
            )
            return
        # One line: the error is in the SampleResult already; the traceback is for DEBUG.
        logger.warning(
            "pipeline %r: %sstep %s failed for sample %d: %s: %s",
            self.name,
            where,
            " > ".join(failure.path),
            result.index,
            type(failure.cause).__name__,
            str(failure.cause).splitlines()[0] if str(failure.cause) else "",
        )
        logger.debug("traceback of sample %d's failure", result.index, exc_info=failure.cause)

    def wait_for_background(self, timeout: float | None = None) -> bool:
        """Block until the background tail has finished every submitted sample; True then.

        Raises ``TimeoutError`` when ``timeout`` (seconds) elapsed first (as the
        established package does); it raises by then even if a background step is
        blocked, and the work goes on.
        """
        if not self._worker.wait(timeout):
            raise TimeoutError(
                f"pipeline {self.name!r}: {self._worker.pending} background tail(s) still "
                f"running after {timeout} s"
            )
        return True

    def background_stats(self) -> dict[str, int]:
        """``{"active": tails not finished, "completed": tails finished or cancelled}``."""
        with self._lock:
            completed = len(self._background_done)
        return {"active": self._worker.pending, "completed": completed}

    def background_results(self) -> list[SampleResult[Any]]:
        """Results whose background tail has finished (or was cancelled), in that order."""
        with self._lock:
            return list(self._background_done)

    @property
    def background_pending(self) -> int:
        """Samples whose background tail has not finished yet."""
        return self._worker.pending

    def close(self, timeout: float | None = None) -> bool:
        """Finish queued background work (up to ``timeout``), then stop the worker.

        Tails not started by then are cancelled: their results get a ``RunCancelled``
        error (a ``RunError``). Returns True when all background work finished. Closing
        twice is harmless.
        """
        self._closed = True
        return self._worker.close(timeout)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _one_token(
    cancel_token: CancellationToken | None, cancel: CancellationToken | None
) -> CancellationToken | None:
    if cancel_token is not None and cancel is not None and cancel_token is not cancel:
        raise UsageError("pass the cancellation token once: cancel_token= or cancel=, not both")
    return cancel_token if cancel_token is not None else cancel
