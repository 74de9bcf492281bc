"""Driving an executor: a bounded window of submitted items, results as they complete,
and the same results put back in input order."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ace.executors._contract import Completed, Executor

_POLL_S = 0.25


def stream(
    executor: Executor,
    fn: Callable[[Any], Any],
    items: Iterable[tuple[int, Any]],
    *,
    window: int | None = None,
) -> Iterator[Completed]:
    """Submit ``(key, payload)`` items, at most ``window`` outstanding (default: twice the
    executor's jobs), and yield each result as it completes.

    ``items`` is read lazily, one item each time a place frees up, so a lazy iterable
    holds few payloads in memory and may decide at that moment whether to offer the next
    item (a budget check). Closing the generator early (an exception, Ctrl-C in the
    caller) cancels the items that have not started.
    """
    limit = window if window is not None else 2 * executor.jobs
    source = iter(items)
    outstanding = 0
    exhausted = False
    try:
        while True:
            while not exhausted and outstanding < limit:
                nxt = next(source, None)
                if nxt is None:
                    exhausted = True
                    break
                executor.submit(nxt[0], fn, nxt[1])
                outstanding += 1
            if outstanding == 0:
                return
            done = executor.next_completed(timeout=_POLL_S)
            if done is None:  # a timeout: poll again (signals are handled between polls)
                continue
            outstanding -= 1
            yield done
    finally:
        if outstanding:
            executor.cancel()


def in_order(completions: Iterable[Completed], keys: Iterable[int]) -> Iterator[Completed]:
    """The completions in the order of ``keys``: each is yielded as soon as every key
    before it has been, so in-order consumers start before the last item finishes."""
    expected = iter(keys)
    waiting: dict[int, Completed] = {}
    want = next(expected, None)
    for done in completions:
        waiting[done.key] = done
        while want is not None and want in waiting:
            yield waiting.pop(want)
            want = next(expected, None)
