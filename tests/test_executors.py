"""Executors and the run ledger: the local executor's contract, the bounded stream, results
put back in input order, and one run-wide budget shared by concurrent sessions (property
tested with threads)."""

from __future__ import annotations

import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ace.errors import BudgetExceededError, UsageError
from ace.executors import Completed, Executor, LocalExecutor, in_order, stream
from ace.rr.ledger import Ledger
from ace.rr.run_ledger import RunLedger


def test_local_executor_runs_jobs_at_once_and_hands_back_every_item() -> None:
    running, peak, lock = [0], [0], threading.Lock()

    def work(n: int) -> int:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.05)
        with lock:
            running[0] -= 1
        if n == 4:
            raise ValueError("four is refused")
        return n * n

    with LocalExecutor(3) as executor:
        assert isinstance(executor, Executor) and executor.jobs == 3
        for n in range(9):
            executor.submit(n, work, n)
        done: list[Completed] = []
        while (item := executor.next_completed(timeout=5)) is not None:
            done.append(item)
    assert peak[0] == 3
    by_key = {d.key: d for d in done}
    assert sorted(by_key) == list(range(9))
    assert by_key[2].value == 4 and by_key[2].ok and by_key[2].duration_s > 0
    assert not by_key[4].ok and by_key[4].cause == "ValueError: four is refused"


def test_cancel_drops_what_has_not_started_and_the_running_item_still_returns() -> None:
    gate = threading.Event()
    started = threading.Event()

    def work(n: int) -> int:
        started.set()
        gate.wait(5)
        return n

    executor = LocalExecutor(1)
    for n in range(5):
        executor.submit(n, work, n)
    assert started.wait(5)
    assert executor.cancel() == [1, 2, 3, 4]
    gate.set()
    first = executor.next_completed(timeout=5)
    assert first is not None and first.value == 0
    assert executor.next_completed(timeout=0.1) is None  # nothing outstanding
    executor.close()
    with pytest.raises(UsageError, match="closed"):
        executor.submit(9, work, 9)


@pytest.mark.parametrize("jobs", [0, -1, True, 1.5])
def test_a_bad_jobs_value_is_a_usage_error(jobs: object) -> None:
    with pytest.raises(UsageError, match="jobs must be"):
        LocalExecutor(jobs)  # type: ignore[arg-type]


def test_stream_reads_items_lazily_within_its_window_and_in_order_restores_the_input_order() -> (
    None
):
    taken: list[int] = []
    outstanding_peak = [0]

    def items():  # type: ignore[no-untyped-def]
        for n in range(12):
            taken.append(n)
            yield n, n

    def work(n: int) -> int:
        time.sleep(0.002 * (12 - n))  # later items finish first
        return n

    with LocalExecutor(2) as executor:
        completions = []
        for done in stream(executor, work, items(), window=3):
            outstanding_peak[0] = max(outstanding_peak[0], len(taken) - len(completions))
            completions.append(done)
    assert outstanding_peak[0] <= 3  # never more than the window read ahead
    assert sorted(d.key for d in completions) == list(range(12))
    ordered = list(in_order(iter(completions), range(12)))
    assert [d.value for d in ordered] == list(range(12))


def test_stream_cancels_the_rest_when_its_reader_stops() -> None:
    seen: list[int] = []

    def work(n: int) -> int:
        seen.append(n)
        time.sleep(0.02)
        return n

    with LocalExecutor(1) as executor:
        gen = stream(executor, work, ((n, n) for n in range(50)), window=10)
        next(gen)
        gen.close()
    assert len(seen) < 5


def test_run_ledger_refuses_bad_limits_and_stops_admitting_after_a_refusal() -> None:
    for bad in ({"max_calls": 0}, {"max_tokens": -5}, {"max_cost_usd": 0.0}, {"max_calls": 2.5}):
        with pytest.raises(UsageError):
            RunLedger(**bad)  # type: ignore[arg-type]
    run = RunLedger(max_calls=3)
    assert run.admit() is None
    session = Ledger(max_calls=10, reserve_synthesis=False, parent=run)
    for _ in range(3):
        session.settle(session.reserve("main", "m"), prompt_tokens=5, completion_tokens=1)
    with pytest.raises(BudgetExceededError, match="batch's LLM call budget") as info:
        session.reserve("main", "m")
    assert info.value.resource == "run_calls" and session.calls_used == 3
    reason = run.admit()
    assert reason is not None and reason.startswith("not run:") and "3 of 3" in reason
    assert run.snapshot()["by_model"]["m"]["calls"] == 3


def test_a_resumed_run_is_charged_what_its_journal_spent() -> None:
    run = RunLedger(max_calls=10, max_cost_usd=1.0)
    run.charge(calls=4, tokens=100, cost_usd=1.0)
    assert run.admit() is not None and "cost budget is spent" in (run.stop_reason or "")


@given(
    max_calls=st.one_of(st.none(), st.integers(1, 60)),
    max_tokens=st.one_of(st.none(), st.integers(1, 6000)),
    max_cost=st.one_of(st.none(), st.floats(0.01, 2.0)),
    sessions=st.lists(
        st.lists(st.tuples(st.integers(0, 400), st.integers(0, 400)), min_size=1, max_size=25),
        min_size=1,
        max_size=6,
    ),
    session_calls=st.integers(1, 30),
)
@settings(max_examples=60, deadline=None)
def test_concurrent_sessions_never_pass_the_run_limits(
    max_calls: int | None,
    max_tokens: int | None,
    max_cost: float | None,
    sessions: list[list[tuple[int, int]]],
    session_calls: int,
) -> None:
    """Sessions (each its own ledger, each in its own thread, sub-calls in two threads
    of their own) charge one run ledger: at no moment do reserved or settled calls, tokens
    or cost pass a run limit, and every settled call is counted once."""
    run = RunLedger(max_calls=max_calls, max_tokens=max_tokens, max_cost_usd=max_cost)
    peaks = {"calls": 0, "tokens": 0, "cost": 0.0}
    lock = threading.Lock()
    session_ledgers: list[Ledger] = []

    def watch() -> None:
        snap = run.snapshot()
        with lock:
            peaks["calls"] = max(peaks["calls"], snap["calls"])
            peaks["tokens"] = max(peaks["tokens"], snap["tokens"])
            peaks["cost"] = max(peaks["cost"], snap["cost_usd"])

    def charge(ledger: Ledger, part: list[tuple[int, int]]) -> None:
        for reserve, actual in part:
            try:
                res = ledger.reserve("sub", "m", tokens=reserve, cost_usd=reserve / 1000)
            except BudgetExceededError:
                continue
            watch()
            used = min(actual, reserve)
            ledger.settle(res, prompt_tokens=used, cost_usd=used / 1000)
            watch()

    def session(charges: list[tuple[int, int]]) -> None:
        if run.admit() is not None:
            return
        ledger = Ledger(max_calls=session_calls, reserve_synthesis=False, parent=run)
        with lock:
            session_ledgers.append(ledger)
        subs = [threading.Thread(target=charge, args=(ledger, charges[i::2])) for i in (0, 1)]
        for t in subs:
            t.start()
        for t in subs:
            t.join()

    threads = [threading.Thread(target=session, args=(c,)) for c in sessions]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    snap = run.snapshot()
    if max_calls is not None:
        assert snap["calls"] <= max_calls and peaks["calls"] <= max_calls
    if max_tokens is not None:
        assert snap["tokens"] <= max_tokens and peaks["tokens"] <= max_tokens
    if max_cost is not None:
        assert snap["cost_usd"] <= max_cost + 1e-9 and peaks["cost"] <= max_cost + 1e-9
    assert snap["calls"] == sum(s.calls_used for s in session_ledgers)
    assert snap["tokens"] == sum(s.snapshot()["tokens"] for s in session_ledgers)
