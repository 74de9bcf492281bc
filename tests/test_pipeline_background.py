"""The background learning tail: answering returns first, learning follows in order."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import pytest

from ace.errors import RunError, UsageError
from ace.pipeline import Pipeline, StepContext


@dataclass(frozen=True, kw_only=True)
class Ctx(StepContext):
    """A small context: ``a`` in, ``answer`` in the foreground, ``learned`` in the tail."""

    a: int | None = None
    answer: int | None = None
    learned: int | None = None


class Answer:
    """Foreground: answer = a * 10."""

    requires = frozenset({"a"})
    provides = frozenset({"answer"})

    def __call__(self, ctx: Ctx) -> Ctx:
        assert ctx.a is not None
        return ctx.replace(answer=ctx.a * 10)


class Learn:
    """Background: waits on ``gate`` (when given), records the order, may raise."""

    requires = frozenset({"answer"})
    provides = frozenset({"learned"})
    async_boundary = True

    def __init__(self, gate: threading.Event | None = None, fail_on: int | None = None) -> None:
        self.gate = gate
        self.fail_on = fail_on
        self.started = threading.Event()
        self.order: list[int] = []

    def __call__(self, ctx: Ctx) -> Ctx:
        assert ctx.a is not None and ctx.answer is not None
        self.started.set()
        if self.gate is not None:
            assert self.gate.wait(10), "test gate never opened"
        if ctx.a == self.fail_on:
            raise ValueError(f"learning failed on {ctx.a}")
        self.order.append(ctx.a)
        return ctx.replace(learned=ctx.answer + 1)


def test_run_returns_while_learning_is_blocked_then_completes_in_order() -> None:
    gate = threading.Event()
    learn = Learn(gate)
    with Pipeline([Answer(), learn]) as pipe:
        results = pipe.run([Ctx(a=1), Ctx(a=2), Ctx(a=3)])
        # every answer is there although the first learning step is still blocked
        assert learn.started.wait(5)
        assert [r.context.answer for r in results] == [10, 20, 30]
        assert all(r.pending and not r.ok for r in results)
        assert pipe.background_pending == 3

        start = time.monotonic()
        with pytest.raises(TimeoutError, match="3 background tail"):
            pipe.wait_for_background(timeout=0.05)
        assert time.monotonic() - start < 1.0
        assert pipe.background_stats() == {"active": 3, "completed": 0}

        gate.set()
        assert pipe.wait_for_background(timeout=10) is True
    assert learn.order == [1, 2, 3]
    assert [r.context.learned for r in results] == [11, 21, 31]
    assert all(r.ok for r in results)
    assert pipe.background_results() == results
    assert pipe.background_steps == (learn,)


def test_errors_in_the_tail_are_recorded_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    with (
        caplog.at_level(logging.WARNING, logger="ace.pipeline"),
        Pipeline([Answer(), Learn(fail_on=2)]) as pipe,
    ):
        results = pipe.run([Ctx(a=1), Ctx(a=2), Ctx(a=3)])
        assert pipe.wait_for_background(timeout=10)
    ok1, bad, ok3 = results
    assert ok1.ok and ok3.ok and ok3.context.learned == 31
    assert isinstance(bad.error, ValueError) and bad.failed_at == "Learn" and not bad.pending
    assert bad.context.answer == 20  # the foreground's work is kept
    assert "learning failed on 2" in caplog.text and "background" in caplog.text
    # One WARNING line naming sample, step, error type and message; no traceback.
    (record,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert (
        record.getMessage()
        == (
            "pipeline 'Pipeline': background step Learn failed for sample 1: "
            "ValueError: learning failed on 2"
        )
        or "ValueError: learning failed on 2" in record.getMessage()
    )
    assert record.exc_info is None and "Traceback" not in caplog.text


def test_foreground_failure_skips_the_tail() -> None:
    class Refuse:
        requires = frozenset({"a"})
        provides = frozenset({"answer"})

        def __call__(self, ctx: Ctx) -> Ctx:
            raise RuntimeError("no answer")

    learn = Learn()
    with Pipeline([Refuse(), learn]) as pipe:
        [result] = pipe.run([Ctx(a=1)])
        assert pipe.wait_for_background(timeout=10)
    assert result.failed_at == "Refuse" and not result.pending and learn.order == []


def test_close_cancels_tails_that_have_not_started() -> None:
    gate = threading.Event()
    learn = Learn(gate)
    pipe = Pipeline([Answer(), learn])
    first, second = pipe.run([Ctx(a=1), Ctx(a=2)])
    assert learn.started.wait(5)
    assert pipe.close(timeout=0.05) is False
    gate.set()
    assert pipe.wait_for_background(timeout=10)
    assert first.ok and first.context.learned == 11
    assert isinstance(second.error, RunError) and "closed" in str(second.error)
    assert second.failed_at == "Learn" and learn.order == [1]
    with pytest.raises(UsageError, match="closed"):
        pipe.run([Ctx(a=3)])


def test_a_pipeline_without_a_boundary_has_no_background() -> None:
    class LearnNow(Learn):
        async_boundary = False

    with Pipeline([Answer(), LearnNow()]) as pipe:
        [result] = pipe.run([Ctx(a=1)])
        assert result.ok and result.context.learned == 11
        assert pipe.wait_for_background(timeout=0) and pipe.background_steps == ()
