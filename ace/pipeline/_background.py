"""A single worker thread that runs submitted jobs one at a time, in submission order.

Serial on purpose: the learning tail mutates the skillbook, and applying updates in
sample order keeps runs reproducible. Counting pending jobs under a condition lets
``wait`` honour its timeout exactly, even while a job is blocked.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

logger = logging.getLogger("ace.pipeline")

Job = tuple[Callable[[], None], Callable[[], None]]
"""A job to run, and what to do instead when the worker is closed before it starts."""


class BackgroundWorker:
    """Runs jobs on one daemon thread, started on the first submission."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._queue: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._cond = threading.Condition()
        self._pending = 0
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    @property
    def pending(self) -> int:
        """Jobs submitted and not yet finished (or cancelled)."""
        with self._cond:
            return self._pending

    def submit(self, run: Callable[[], None], cancel: Callable[[], None]) -> None:
        """Queue ``run``; ``cancel`` is called instead if the worker stops before it starts."""
        if self._stopping.is_set():
            cancel()
            return
        with self._cond:
            self._pending += 1
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name=f"ace-background-{self._name}", daemon=True
                )
                self._thread.start()
        self._queue.put((run, cancel))

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every submitted job has finished; False if ``timeout`` passed first."""
        with self._cond:
            return self._cond.wait_for(lambda: self._pending == 0, timeout)

    def close(self, timeout: float | None = None) -> bool:
        """Let queued jobs finish (up to ``timeout``), cancel the rest, stop the thread.

        Returns True when nothing was left unfinished. A job blocked past the timeout
        keeps its (daemon) thread until it returns; it cannot be interrupted.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        finished = self.wait(timeout)
        self._stopping.set()
        self._queue.put(None)
        thread = self._thread
        if thread is not None:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            thread.join(remaining)
        return finished

    def _loop(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            run, cancel = job
            try:
                (cancel if self._stopping.is_set() else run)()
            except Exception:
                # Jobs record their own errors; reaching here is a bug in the job itself.
                logger.exception("background job of pipeline %r crashed", self._name)
            finally:
                with self._cond:
                    self._pending -= 1
                    self._cond.notify_all()


class InOrder:
    """Hands items to ``release`` in index order (0, 1, 2, ...), whatever order they arrive in.

    With concurrent workers, samples finish their foreground out of order; queueing
    their background tails through this keeps learning in sample order. Every index
    must arrive exactly once (``None`` for a sample without a tail).
    """

    def __init__(self, release: Callable[[Any], None]) -> None:
        self._release = release
        self._next = 0
        self._held: dict[int, Any] = {}
        self._lock = threading.Lock()

    def done(self, index: int, item: Any) -> None:
        """Record sample ``index``; release it and any held successors that are now due."""
        with self._lock:
            self._held[index] = item
            while self._next in self._held:
                self._release(self._held.pop(self._next))
                self._next += 1
