"""Concurrent samples, run_async, callbacks and cancellation."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ace.errors import RunCancelled, UsageError
from ace.pipeline import CancellationToken, Pipeline, SampleResult, StepContext


@dataclass(frozen=True, kw_only=True)
class Ctx(StepContext):
    """A small context: ``a`` in, ``b``/``c`` computed."""

    a: int | None = None
    b: int | None = None
    c: int | None = None
    learned: int | None = None


class Double:
    """b = 2a; raises for a multiple of ``fail_every`` (when given)."""

    requires = frozenset({"a"})
    provides = frozenset({"b"})

    def __init__(self, fail_every: int | None = None) -> None:
        self.fail_every = fail_every

    def __call__(self, ctx: Ctx) -> Ctx:
        assert ctx.a is not None
        if self.fail_every and ctx.a % self.fail_every == 0:
            raise ValueError(f"no double for {ctx.a}")
        return ctx.replace(b=2 * ctx.a)


class AddA:
    """c = a + b."""

    requires = frozenset({"a", "b"})
    provides = frozenset({"c"})

    def __call__(self, ctx: Ctx) -> Ctx:
        assert ctx.a is not None and ctx.b is not None
        return ctx.replace(c=ctx.a + ctx.b)


class Meet:
    """Samples a=1..parties wait for each other: proves they run at once."""

    requires = frozenset({"a"})
    provides: frozenset[str] = frozenset()

    def __init__(self, parties: int) -> None:
        self.barrier = threading.Barrier(parties)
        self.threads: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, ctx: Ctx) -> Ctx:
        assert ctx.a is not None
        with self._lock:
            self.threads.add(threading.current_thread().name)
        if ctx.a <= self.barrier.parties:
            self.barrier.wait(timeout=10)
        return ctx


def test_workers_run_samples_at_once_and_keep_input_order_and_isolation() -> None:
    meet = Meet(4)
    pipe = Pipeline([meet, Double(fail_every=5), AddA()])
    results = pipe.run([Ctx(a=i) for i in range(1, 13)], workers=4)
    assert [r.index for r in results] == list(range(12))
    assert [r.context.a for r in results] == list(range(1, 13))
    for r in results:
        a = r.context.a
        assert a is not None
        if a % 5 == 0:
            assert isinstance(r.error, ValueError) and r.failed_at == "Double"
            assert r.context.b is None
        else:
            assert r.ok and r.context.c == 3 * a
    assert len(meet.threads) == 4  # four workers, four threads


def test_on_sample_done_is_called_once_per_sample_in_the_calling_thread() -> None:
    seen: list[tuple[int, str]] = []

    def done(result: SampleResult[Ctx]) -> None:
        seen.append((result.index, threading.current_thread().name))

    Pipeline([Double(), AddA()]).run([Ctx(a=i) for i in range(10)], workers=3, on_sample_done=done)
    assert sorted(i for i, _ in seen) == list(range(10))
    assert {name for _, name in seen} == {threading.current_thread().name}


def test_a_raising_callback_stops_new_work_and_propagates() -> None:
    class Boom(Exception):
        pass

    calls: list[int] = []

    def done(result: SampleResult[Ctx]) -> None:
        calls.append(result.index)
        raise Boom

    double = Double()
    with pytest.raises(Boom):
        Pipeline([double]).run([Ctx(a=i) for i in range(5)], on_sample_done=done)
    assert calls == [0]


def test_workers_must_be_a_positive_int() -> None:
    with pytest.raises(UsageError, match="workers"):
        Pipeline([Double()]).run([Ctx(a=1)], workers=0)


class Gate:
    """Blocks the first samples on ``release``; tells the test when each started."""

    requires = frozenset({"a"})
    provides: frozenset[str] = frozenset()

    def __init__(self, blocked: int) -> None:
        self.started = [threading.Event() for _ in range(blocked)]
        self.release = threading.Event()
        self.calls: list[int] = []
        self._lock = threading.Lock()

    def __call__(self, ctx: Ctx) -> Ctx:
        assert ctx.a is not None
        with self._lock:
            self.calls.append(ctx.a)
        if ctx.a < len(self.started):
            self.started[ctx.a].set()
            assert self.release.wait(10), "test never released the gate"
        return ctx


def test_cancellation_mid_run_lets_running_steps_finish_and_starts_nothing_new() -> None:
    gate = Gate(blocked=2)
    token = CancellationToken()

    def cancel_when_both_are_running() -> None:
        assert all(e.wait(10) for e in gate.started)
        token.cancel("user pressed stop")
        gate.release.set()

    helper = threading.Thread(target=cancel_when_both_are_running)
    helper.start()
    results = Pipeline([gate, Double()]).run([Ctx(a=i) for i in range(6)], workers=2, cancel=token)
    helper.join(10)
    assert sorted(gate.calls) == [0, 1]  # the two running steps finished; nothing else started
    running, queued = results[:2], results[2:]
    for r in running:
        assert r.cancelled and r.failed_at == "Double" and r.context.b is None
    for r in queued:
        assert r.cancelled and r.failed_at == "Gate"
    assert isinstance(results[0].error, RunCancelled)
    assert "user pressed stop" in str(results[0].error)
    assert results[0].error.reason == "user pressed stop"


def test_background_tail_runs_in_sample_order_with_workers() -> None:
    order: list[int] = []
    finished = {i: threading.Event() for i in range(4)}
    gates = {i: threading.Event() for i in range(4)}
    started = {i: threading.Event() for i in range(4)}

    class Answer:
        requires = frozenset({"a"})
        provides = frozenset({"b"})

        def __call__(self, ctx: Ctx) -> Ctx:
            assert ctx.a is not None
            started[ctx.a].set()
            assert gates[ctx.a].wait(10)
            finished[ctx.a].set()
            return ctx.replace(b=ctx.a)

    class Learn:
        requires = frozenset({"b"})
        provides = frozenset({"learned"})
        async_boundary = True

        def __call__(self, ctx: Ctx) -> Ctx:
            assert ctx.b is not None
            order.append(ctx.b)
            return ctx.replace(learned=ctx.b)

    def release_in_reverse() -> None:
        assert all(e.wait(10) for e in started.values())
        for i in reversed(range(4)):
            gates[i].set()
            assert finished[i].wait(10)

    helper = threading.Thread(target=release_in_reverse)
    helper.start()
    with Pipeline([Answer(), Learn()]) as pipe:
        results = pipe.run([Ctx(a=i) for i in range(4)], workers=4)
        assert pipe.wait_for_background(10)
    helper.join(10)
    assert order == [0, 1, 2, 3]
    assert [r.context.learned for r in results] == [0, 1, 2, 3] and all(r.ok for r in results)


class AsyncDouble:
    """An async step that records the loop and thread it ran on."""

    requires = frozenset({"a"})
    provides = frozenset({"b"})

    def __init__(self) -> None:
        self.loops: set[int] = set()
        self.threads: set[str] = set()

    async def __call__(self, ctx: Ctx) -> Ctx:
        assert ctx.a is not None
        await asyncio.sleep(0)
        self.loops.add(id(asyncio.get_running_loop()))
        self.threads.add(threading.current_thread().name)
        return ctx.replace(b=2 * ctx.a)


def test_run_async_awaits_async_steps_on_the_callers_loop() -> None:
    step = AsyncDouble()
    done: list[int] = []

    async def main() -> tuple[int, list[SampleResult[Ctx]]]:
        pipe = Pipeline([step, AddA()])
        results = await pipe.run_async(
            [Ctx(a=i) for i in range(8)], workers=3, on_sample_done=lambda r: done.append(r.index)
        )
        return id(asyncio.get_running_loop()), results

    loop_id, results = asyncio.run(main())
    assert step.loops == {loop_id}
    assert [r.context.c for r in results] == [3 * i for i in range(8)]
    assert sorted(done) == list(range(8))


def test_run_async_keeps_sync_steps_off_the_loop_thread() -> None:
    threads: list[str] = []

    class Record:
        requires = frozenset({"a"})
        provides: frozenset[str] = frozenset()

        def __call__(self, ctx: Ctx) -> Ctx:
            threads.append(threading.current_thread().name)
            return ctx

    async def main() -> str:
        await Pipeline([Record()]).run_async([Ctx(a=1)])
        return threading.current_thread().name

    loop_thread = asyncio.run(main())
    assert threads and threads[0] != loop_thread


def test_sync_run_inside_a_running_loop_uses_a_private_loop_for_async_steps() -> None:
    step = AsyncDouble()

    async def main() -> tuple[int, list[SampleResult[Ctx]]]:
        # What a notebook cell or an async web handler does: call the sync API.
        results = Pipeline([step]).run([Ctx(a=i) for i in range(4)], workers=2)
        return id(asyncio.get_running_loop()), results

    caller_loop, results = asyncio.run(main())
    assert [r.context.b for r in results] == [0, 2, 4, 6] and all(r.ok for r in results)
    assert caller_loop not in step.loops and len(step.loops) == 1
    # Run again: the same private loop serves every call (loop-bound clients stay valid).
    Pipeline([step]).run([Ctx(a=1)])
    assert len(step.loops) == 1


def test_cancellation_under_run_async() -> None:
    token = CancellationToken()
    calls: list[int] = []

    class CancelOnFirst:
        requires = frozenset({"a"})
        provides = frozenset({"b"})

        async def __call__(self, ctx: Ctx) -> Ctx:
            assert ctx.a is not None
            calls.append(ctx.a)
            token.cancel("enough")
            return ctx.replace(b=1)

    results = asyncio.run(
        Pipeline([CancelOnFirst(), AddA()]).run_async([Ctx(a=i) for i in range(5)], cancel=token)
    )
    assert calls == [0]
    assert results[0].failed_at == "AddA" and results[0].context.b == 1
    assert all(r.cancelled for r in results)


def _outcome(result: SampleResult[Ctx]) -> tuple[object, ...]:
    error = result.error
    return (
        result.index,
        result.context.b,
        result.context.c,
        result.failed_at,
        type(error).__name__ if error else None,
        str(error) if error else None,
    )


@settings(max_examples=25, deadline=None)
@given(
    values=st.lists(st.integers(min_value=-50, max_value=50), max_size=30),
    workers=st.integers(min_value=2, max_value=8),
    fail_every=st.one_of(st.none(), st.integers(min_value=2, max_value=7)),
)
def test_workers_give_the_same_outputs_as_one_worker(
    values: list[int], workers: int, fail_every: int | None
) -> None:
    pipe = Pipeline([Double(fail_every), AddA()])
    contexts = [Ctx(a=v) for v in values]
    serial = [_outcome(r) for r in pipe.run(contexts)]
    parallel = [_outcome(r) for r in pipe.run(contexts, workers=workers)]
    assert parallel == serial
