"""How steps are walked and called, written once for both the sync and the async runner.

A composite step (``Pipeline``, ``Branch``) describes its work as a *walk*: a generator
that yields requests (``Invoke`` one step, ``Fork`` into parallel branches) and gets
back the outcome. ``drive`` serves a walk synchronously (threads for branches, a private
event loop for async steps); ``adrive`` serves it on the caller's event loop (async
steps awaited natively, sync steps in worker threads, branches gathered). Sequencing,
contract checks, cancellation and error paths therefore live in one place.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
from collections.abc import Generator
from concurrent.futures import Executor
from typing import Any, NamedTuple, Protocol

from ace.pipeline import _portal
from ace.pipeline._contracts import Slot
from ace.pipeline.cancel import CancellationToken
from ace.pipeline.context import StepContext


class Invoke(NamedTuple):
    """Request: call one (leaf) step with a context; the reply is its raw return value."""

    slot: Slot
    ctx: StepContext


class Fork(NamedTuple):
    """Request: walk every branch on the same context in parallel; the reply is one
    outcome per branch, in order: the output context or the ``StepFailure``."""

    branches: tuple[Composite, ...]
    ctx: StepContext
    token: CancellationToken
    executor: Executor


Request = Invoke | Fork
Walk = Generator[Request, Any, StepContext]


class Composite(Protocol):
    """A step made of steps; the engine walks it instead of calling it."""

    name: str

    def walk(self, ctx: StepContext, token: CancellationToken) -> Walk:
        """Yield requests, return the final context; raise ``StepFailure`` on a step error."""
        ...


def is_composite(step: object) -> bool:
    """Whether ``step`` is walked by the engine (a ``Pipeline`` or a ``Branch``)."""
    return getattr(step, "_ace_composite", False) is True


class StepFailure(Exception):
    """Internal: a step's exception with where it happened, carried out of nested walks."""

    def __init__(self, path: tuple[str, ...], cause: Exception, context: StepContext) -> None:
        super().__init__(path, cause)
        self.path = path
        self.cause = cause
        self.context = context


Outcome = StepContext | StepFailure
"""What one branch of a ``Fork`` came back with."""

NEVER_CANCELLED = CancellationToken()
"""The token of calls made without one (nobody holds it, so it is never cancelled)."""


# ------------------------------------------------------------------ synchronous


def drive(walk: Walk) -> StepContext:
    """Run a walk to completion in this thread."""
    reply: Any = None
    error: Exception | None = None
    while True:
        try:
            request = walk.send(reply) if error is None else walk.throw(error)
        except StopIteration as stop:
            result: StepContext = stop.value
            return result
        reply, error = None, None
        try:
            reply = _serve(request)
        except Exception as exc:
            error = exc


def _serve(request: Request) -> Any:
    if isinstance(request, Invoke):
        out = request.slot.step(request.ctx)
        return _portal.run(out) if inspect.isawaitable(out) else out
    first, *rest = request.branches
    # Each branch thread gets a copy of the caller's context variables (cancel_token_var).
    futures = [
        request.executor.submit(
            contextvars.copy_context().run, _outcome, b, request.ctx, request.token
        )
        for b in rest
    ]
    # The calling thread walks the first branch itself rather than idling.
    return [_outcome(first, request.ctx, request.token), *(f.result() for f in futures)]


def _outcome(branch: Composite, ctx: StepContext, token: CancellationToken) -> Outcome:
    try:
        return drive(branch.walk(ctx, token))
    except StepFailure as failure:
        return failure


# ------------------------------------------------------------------ asynchronous


async def adrive(walk: Walk) -> StepContext:
    """Run a walk on the running event loop."""
    reply: Any = None
    error: Exception | None = None
    while True:
        try:
            request = walk.send(reply) if error is None else walk.throw(error)
        except StopIteration as stop:
            result: StepContext = stop.value
            return result
        reply, error = None, None
        try:
            reply = await _aserve(request)
        except Exception as exc:
            error = exc


async def _aserve(request: Request) -> Any:
    if isinstance(request, Invoke):
        step = request.slot.step
        # A sync step may block for seconds (a model call): keep it off the caller's loop.
        out = (
            step(request.ctx)
            if request.slot.is_async
            else await asyncio.to_thread(step, request.ctx)
        )
        return await out if inspect.isawaitable(out) else out
    return list(
        await asyncio.gather(*(_aoutcome(b, request.ctx, request.token) for b in request.branches))
    )


async def _aoutcome(branch: Composite, ctx: StepContext, token: CancellationToken) -> Outcome:
    try:
        return await adrive(branch.walk(ctx, token))
    except StepFailure as failure:
        return failure
