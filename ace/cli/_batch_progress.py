"""The live line of a batch: traces done and failed, calls, cost and an ETA.

On a terminal one line is redrawn in place (its clock ticks between results);
elsewhere (a pipe, a CI log) each finished trace prints one line.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import IO, Protocol


class _Result(Protocol):
    @property
    def trace_id(self) -> str: ...
    @property
    def calls(self) -> int: ...
    @property
    def cost_usd(self) -> float | None: ...
    @property
    def error(self) -> str | None: ...
    @property
    def outcome(self) -> str | None: ...


_CLEAN = frozenset({None, "final", "direct_json", "synthesis"})


class BatchLine:
    """``on_result`` callback of a batch: counts results and shows the state on ``stream``.

    ``live_calls`` (the run ledger's count, sessions in flight included) replaces the sum
    of finished traces' calls when given.
    """

    def __init__(
        self,
        total: int,
        stream: IO[str],
        *,
        live_calls: Callable[[], int] | None = None,
        tick_s: float = 0.5,
    ) -> None:
        self.total = total
        self.stream = stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self._live_calls = live_calls
        self._tick_s = tick_s
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._started = time.monotonic()
        self._done = 0
        self._new = 0  # finished in this process (resumed ones do not tell the pace)
        self._failed = 0
        self._calls = 0
        self._cost: float | None = 0.0
        self._width = 0

    def __call__(self, position: int, result: _Result, *, resumed: bool = False) -> None:
        """Count one finished trace (``resumed``: it came from the journal)."""
        with self._lock:
            self._done += 1
            self._new += 0 if resumed else 1
            failed = result.error is not None or result.outcome not in _CLEAN
            self._failed += failed
            self._calls += result.calls
            if self._cost is not None:
                self._cost = None if result.cost_usd is None else self._cost + result.cost_usd
            if self.tty:
                self._draw()
            else:
                verdict = "failed" if failed else "done"
                self.stream.write(f"{result.trace_id[:40]}: {verdict} · {self.describe()}\n")
                self.stream.flush()

    def describe(self) -> str:
        """``3/10 done · 1 failed · 12 calls · $0.0123 · ETA 40 s``."""
        calls = self._live_calls() if self._live_calls is not None else self._calls
        cost = "unpriced" if self._cost is None else f"${self._cost:.4f}"
        left = self.total - self._done
        elapsed = time.monotonic() - self._started
        if left == 0:
            eta = f"{elapsed:.1f} s"
        elif self._new:
            eta = f"ETA {elapsed / self._new * left:.0f} s"
        else:
            eta = "ETA …"
        return (
            f"{self._done}/{self.total} done · {self._failed} failed · {calls} calls · "
            f"{cost} · {eta}"
        )

    def __enter__(self) -> BatchLine:
        if self.tty:
            self._ticker = threading.Thread(target=self._tick, name="ace-batch-line", daemon=True)
            self._ticker.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
        if self.tty and self._width:
            with self._lock:
                self.stream.write("\r" + " " * self._width + "\r")
                self.stream.flush()

    def _tick(self) -> None:
        while not self._stop.wait(self._tick_s):
            with self._lock:
                self._draw()

    def _draw(self) -> None:
        line = f"batch {self.describe()}"
        pad = max(0, self._width - len(line))
        self.stream.write(f"\r{line}{' ' * pad}")
        self.stream.flush()
        self._width = len(line)
