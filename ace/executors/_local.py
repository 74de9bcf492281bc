"""``LocalExecutor``: work items on daemon threads of this process."""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import Any

from ace.errors import UsageError
from ace.executors._contract import Completed

_Item = tuple[int, Callable[[Any], Any], Any]


class LocalExecutor:
    """Runs work items on ``jobs`` threads of this process (an ``Executor``).

    Threads suit RR sessions: each spends its time waiting for a model or for its own
    kernel process, never holding the GIL for long. The threads are daemons, so an
    interrupted run can exit without waiting for the sessions in flight (their kernels
    are closed at exit by the sandbox's own clean-up). With the RR, give the step
    ``warm_kernels=jobs`` so every worker finds a started kernel.
    """

    def __init__(self, jobs: int = 1) -> None:
        if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
            raise UsageError(f"LocalExecutor jobs must be a whole number >= 1, got {jobs!r}")
        self._jobs = jobs
        self._queue: deque[_Item] = deque()
        self._cond = threading.Condition()
        self._done: queue.SimpleQueue[Completed] = queue.SimpleQueue()
        self._outstanding = 0  # submitted, not yet returned by next_completed
        self._closed = False
        self._threads = [
            threading.Thread(target=self._work, name=f"ace-executor-{i}", daemon=True)
            for i in range(jobs)
        ]
        for thread in self._threads:
            thread.start()

    @property
    def jobs(self) -> int:
        """How many items run at once."""
        return self._jobs

    def submit(self, key: int, fn: Callable[[Any], Any], payload: Any) -> None:
        """Queue ``fn(payload)`` under ``key``."""
        with self._cond:
            if self._closed:
                raise UsageError("LocalExecutor is closed; create a new one")
            self._queue.append((key, fn, payload))
            self._outstanding += 1
            self._cond.notify()

    def next_completed(self, timeout: float | None = None) -> Completed | None:
        """The next finished item in completion order, or None."""
        with self._cond:
            if self._outstanding == 0:
                return None
        try:
            done = self._done.get(timeout=timeout)
        except queue.Empty:
            return None
        with self._cond:
            self._outstanding -= 1
        return done

    def cancel(self) -> list[int]:
        """Drop the queued items that no thread has started; their keys, in queue order."""
        with self._cond:
            dropped = [key for key, _fn, _payload in self._queue]
            self._queue.clear()
            self._outstanding -= len(dropped)
            return dropped

    def close(self, *, wait: bool = True) -> None:
        """Cancel the queue and stop the threads; ``wait`` joins them (running items end)."""
        self.cancel()
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if wait:
            for thread in self._threads:
                if thread is not threading.current_thread():
                    thread.join()

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close(wait=exc_type is None)

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if not self._queue:
                    return
                key, fn, payload = self._queue.popleft()
            started = time.perf_counter()
            try:
                value = fn(payload)
            except BaseException as exc:  # handed to the caller, never lost in a thread
                self._done.put(Completed(key, error=exc, duration_s=time.perf_counter() - started))
            else:
                self._done.put(Completed(key, value, duration_s=time.perf_counter() - started))
