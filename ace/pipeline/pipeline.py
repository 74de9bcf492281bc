"""The pipeline engine: ordered steps with checked contracts, per-sample isolation and
an optional background learning tail.

Contracts are checked when a pipeline is built (a step needing a field that only a
later step provides, a step without ``requires``/``provides``) and when it runs (the
initial contexts must set the fields the pipeline needs from outside; every step must
return a context with its ``provides`` set).

Background tail: the steps from the first one with ``async_boundary = True`` onward
run on one worker thread, serially and in submission order, so skillbook updates
happen in sample order. ``run()`` returns once the foreground steps are done; the
``SampleResult`` objects it returned are completed in place (``pending`` turns False)
as the tail finishes. ``wait_for_background()`` blocks until then.

Every sample goes through ``_run_one``; later additions (concurrent workers,
``run_async``, callbacks, cancellation) build on that single path.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
from collections.abc import Awaitable, Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Generic, NamedTuple, Self, TypeVar, cast

from ace.errors import PipelineContractError, RunError, UsageError
from ace.pipeline._background import BackgroundWorker
from ace.pipeline.context import StepContext
from ace.pipeline.protocol import StepProtocol

logger = logging.getLogger("ace.pipeline")

C = TypeVar("C", bound=StepContext)


@dataclass
class SampleResult(Generic[C]):
    """What happened to one input context.

    On success ``context`` is the final context; on failure it is the context the
    failing step received, ``error`` is the exception and ``failed_at`` the step's
    name (``failed_path`` adds the enclosing nested pipelines, outermost first).
    While ``pending`` is True the background tail has not finished and the fields may
    still change; after ``wait_for_background()`` returns True they are final.
    """

    sample: Any
    context: C
    error: Exception | None = None
    failed_at: str | None = None
    failed_path: tuple[str, ...] = ()
    index: int = 0
    """Position of the context in the input of ``run``."""
    pending: bool = False

    @property
    def ok(self) -> bool:
        """True when every step, including a finished background tail, succeeded."""
        return self.error is None and not self.pending


class _Slot(NamedTuple):
    step: StepProtocol[Any]
    name: str
    requires: frozenset[str]
    provides: frozenset[str]


class _StepFailure(Exception):
    """Internal: carries a step's exception with where it happened, out of nested pipelines."""

    def __init__(self, path: tuple[str, ...], cause: Exception, context: StepContext) -> None:
        super().__init__(path, cause)
        self.path = path
        self.cause = cause
        self.context = context


def step_name(step: object) -> str:
    """A step's ``name`` attribute when it is a non-empty string, else its class name."""
    name = getattr(step, "name", None)
    return name if isinstance(name, str) and name else type(step).__name__


class Pipeline:
    """An ordered list of steps; itself a step, so pipelines nest.

    ``requires`` is what the steps need from outside (the initial context), ``provides``
    everything they set. A nested pipeline runs all its steps where it sits (its own
    ``async_boundary`` markers apply only when it is run at the top level).
    """

    def __init__(self, steps: Iterable[StepProtocol[Any]], *, name: str | None = None) -> None:
        self.name = name or "Pipeline"
        self._slots = _check_steps(tuple(steps), self.name)
        self._first_needing = _needed_from_outside(self._slots)
        self.requires: frozenset[str] = frozenset(self._first_needing)
        self.provides: frozenset[str] = frozenset().union(*(s.provides for s in self._slots))
        split = next(
            (i for i, s in enumerate(self._slots) if getattr(s.step, "async_boundary", False)),
            len(self._slots),
        )
        self._foreground = self._slots[:split]
        self._background = self._slots[split:]
        self._worker = BackgroundWorker(self.name)
        self._background_done: list[SampleResult[Any]] = []
        self._lock = threading.Lock()
        self._closed = False

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
    def run(self, contexts: Iterable[C]) -> list[SampleResult[C]]:
        """Run every context through the steps; one ``SampleResult`` per context, in order.

        Steps are expected to keep the context's type (``ctx.replace`` does). A step
        raising fails only its own sample. Initial contexts missing a field the
        pipeline requires raise ``PipelineContractError`` before anything runs.
        """
        if self._closed:
            raise UsageError(f"pipeline {self.name!r} is closed; build a new one to run again")
        items = list(contexts)
        for index, ctx in enumerate(items):
            self._check_initial(ctx, f"context {index}")
        return [self._run_one(ctx, index) for index, ctx in enumerate(items)]

    def __call__(self, ctx: StepContext) -> StepContext:
        """Run all steps (background ones included) inline; re-raise a step's exception."""
        self._check_initial(ctx, "the context")
        try:
            return self._run_steps(ctx, self._slots)
        except _StepFailure as failure:
            cause, path = failure.cause, failure.path
        # Raised outside the handler so the step's exception keeps its own cause/context.
        cause.add_note(f"in pipeline {self.name!r} at {' > '.join(path)}")
        raise cause

    def _run_one(self, ctx: C, index: int) -> SampleResult[C]:
        result: SampleResult[C] = SampleResult(
            sample=getattr(ctx, "sample", None), context=ctx, index=index
        )
        try:
            result.context = self._run_steps(ctx, self._foreground)
        except _StepFailure as failure:
            _record(result, failure, self.name, "")
            return result
        if self._background:
            result.pending = True
            self._worker.submit(lambda: self._run_tail(result), lambda: self._cancel(result))
        return result

    def _run_tail(self, result: SampleResult[Any]) -> None:
        try:
            result.context = self._run_steps(result.context, self._background)
        except _StepFailure as failure:
            _record(result, failure, self.name, "background ")
        finally:
            result.pending = False
            with self._lock:
                self._background_done.append(result)

    def _cancel(self, result: SampleResult[Any]) -> None:
        result.error = RunError(
            f"pipeline {self.name!r} was closed before the background steps ran for "
            f"sample {result.index}; its learning was skipped"
        )
        result.failed_at = self._background[0].name
        result.failed_path = (self._background[0].name,)
        result.pending = False
        with self._lock:
            self._background_done.append(result)

    def _run_steps(self, ctx: C, slots: Iterable[_Slot]) -> C:
        for slot in slots:
            out: StepContext
            try:
                if isinstance(slot.step, Pipeline):
                    out = slot.step._run_steps(ctx, slot.step._slots)
                else:
                    out = _checked_output(slot, _call(slot.step, ctx))
            except _StepFailure as inner:
                raise _StepFailure((slot.name, *inner.path), inner.cause, inner.context) from None
            except Exception as exc:
                raise _StepFailure((slot.name,), exc, ctx) from None
            # Steps return ctx.replace(...), which keeps the context's type.
            ctx = cast(C, out)
        return ctx

    def _check_initial(self, ctx: object, what: str) -> None:
        if not isinstance(ctx, StepContext):
            raise PipelineContractError(
                f"pipeline {self.name!r}: {what} is a {type(ctx).__name__}, not a StepContext; "
                "build contexts with e.g. ACEStepContext(sample=..., skillbook=...)"
            )
        for field, first in self._first_needing.items():
            if ctx.is_set(field):
                continue
            if field not in ctx.field_names():
                why = f"{type(ctx).__name__} has no field {field!r}"
            else:
                why = f"{what} does not set {field!r}"
            raise PipelineContractError(
                f"pipeline {self.name!r}: {why}, which step {first!r} requires; "
                f"set it on the initial context or add a step that provides it before {first!r}"
            )

    # ------------------------------------------------------------------ background
    def wait_for_background(self, timeout: float | None = None) -> bool:
        """Block until the background tail has finished every submitted sample.

        Returns False when ``timeout`` (seconds) elapsed first; it returns by then even
        if a background step is blocked.
        """
        return self._worker.wait(timeout)

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

        Tails not started by then are cancelled: their results get a ``RunError``.
        Returns True when all background work finished. Closing twice is harmless.
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


def _check_steps(steps: tuple[StepProtocol[Any], ...], pipeline: str) -> tuple[_Slot, ...]:
    if not steps:
        raise PipelineContractError(f"pipeline {pipeline!r} has no steps")
    slots = []
    for position, step in enumerate(steps):
        name = step_name(step)
        where = f"pipeline {pipeline!r}: step {name!r} (position {position})"
        if not callable(step):
            raise PipelineContractError(f"{where} is not callable; a step is called with a context")
        requires = _field_set(step, "requires", where)
        provides = _field_set(step, "provides", where)
        slots.append(_Slot(step, name, requires, provides))
    return tuple(slots)


def _field_set(step: object, attribute: str, where: str) -> frozenset[str]:
    value = getattr(step, attribute, None)
    if value is None:
        raise PipelineContractError(
            f"{where} has no {attribute!r} attribute; every step declares "
            "requires and provides as sets of context field names"
        )
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
        raise PipelineContractError(
            f"{where}: {attribute} must be a set of field names, got {value!r} "
            f"({type(value).__name__}); write e.g. {attribute} = frozenset({{'sample'}})"
        )
    names = frozenset(value)
    bad = sorted(repr(n) for n in names if not isinstance(n, str))
    if bad:
        raise PipelineContractError(f"{where}: {attribute} holds non-string names {bad}")
    return names


def _needed_from_outside(slots: tuple[_Slot, ...]) -> dict[str, str]:
    """Fields no earlier step provides, each mapped to the first step that needs it."""
    provided: set[str] = set()
    needed: dict[str, str] = {}
    for position, slot in enumerate(slots):
        for field in sorted(slot.requires - provided):
            later = next((s.name for s in slots[position + 1 :] if field in s.provides), None)
            if later is not None:
                raise PipelineContractError(
                    f"step {slot.name!r} requires {field!r}, which only the later step "
                    f"{later!r} provides; put {later!r} before {slot.name!r}"
                )
            needed.setdefault(field, slot.name)
        provided |= slot.provides
    return needed


def _call(step: StepProtocol[Any], ctx: StepContext) -> object:
    out: object = step(ctx)
    if inspect.isawaitable(out):
        # An async step under the synchronous engine: drive it to completion here.
        out = asyncio.run(_awaited(out))
    return out


async def _awaited(awaitable: Awaitable[object]) -> object:
    return await awaitable


def _checked_output(slot: _Slot, out: object) -> StepContext:
    if not isinstance(out, StepContext):
        raise PipelineContractError(
            f"step {slot.name!r} returned {type(out).__name__}, not a context; "
            "a step must return ctx.replace(...)"
        )
    for field in sorted(slot.provides):
        if not out.is_set(field):
            raise PipelineContractError(
                f"step {slot.name!r} declares it provides {field!r} but did not set it "
                "on the context it returned"
            )
    return out


def _record(result: SampleResult[Any], failure: _StepFailure, pipeline: str, where: str) -> None:
    result.context = failure.context
    result.error = failure.cause
    result.failed_at = failure.path[-1]
    result.failed_path = failure.path
    logger.error(
        "pipeline %r: %sstep %s failed for sample %d: %r",
        pipeline,
        where,
        " > ".join(failure.path),
        result.index,
        failure.cause,
        exc_info=failure.cause,
    )
