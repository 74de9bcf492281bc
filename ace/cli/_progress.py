"""The live status line of a running RR session: iteration, calls against budget, time.

On a terminal one line is redrawn in place (and its clock ticks between events);
elsewhere (a pipe, a CI log) each event is printed as its own line.
"""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import IO, Protocol

_PHASES = {
    "starting": "starting the kernel",
    "model": "waiting for the model",
    "kernel": "running code",
    "synthesis": "synthesising",
    "done": "done",
}


class Event(Protocol):
    """What ``ace.rr.ProgressEvent`` carries."""

    @property
    def iteration(self) -> int: ...
    @property
    def max_iterations(self) -> int: ...
    @property
    def calls_used(self) -> int: ...
    @property
    def max_calls(self) -> int: ...
    @property
    def elapsed_s(self) -> float: ...
    @property
    def phase(self) -> str: ...


class LiveLine:
    """An ``on_progress`` callback that shows the session's state on ``stream``."""

    def __init__(self, stream: IO[str], *, tick_s: float = 0.25) -> None:
        self.stream = stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self._tick_s = tick_s
        self._event: Event | None = None
        self._seen_at = time.monotonic()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._width = 0

    def __call__(self, event: Event) -> None:
        """Record the event and show it."""
        with self._lock:
            self._event, self._seen_at = event, time.monotonic()
            if self.tty:
                self._draw()
            else:
                self.stream.write(f"[rr] {describe(event, event.elapsed_s)}\n")
                self.stream.flush()

    def __enter__(self) -> LiveLine:
        if self.tty:
            self._ticker = threading.Thread(target=self._tick, name="ace-live-line", daemon=True)
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
                if self._event is not None:
                    self._draw()

    def _draw(self) -> None:
        assert self._event is not None
        elapsed = self._event.elapsed_s + (time.monotonic() - self._seen_at)
        line = describe(self._event, elapsed)
        pad = max(0, self._width - len(line))
        self.stream.write(f"\r{line}{' ' * pad}")
        self.stream.flush()
        self._width = len(line)


def loading(stream: IO[str]) -> None:
    """Say that the model client is loading (it takes seconds); the live line overwrites it."""
    if getattr(stream, "isatty", lambda: False)():
        stream.write("\rloading…")
        stream.flush()


def describe(event: Event, elapsed_s: float) -> str:
    """``iteration 2/12 · calls 3/30 · 7.4 s · running code``."""
    phase = _PHASES.get(event.phase, event.phase)
    return (
        f"iteration {event.iteration}/{event.max_iterations} · "
        f"calls {event.calls_used}/{event.max_calls} · {elapsed_s:.1f} s · {phase}"
    )
