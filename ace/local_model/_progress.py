"""A dependency-free byte progress bar on stderr."""

from __future__ import annotations

import sys
import time
from typing import TextIO

_WIDTH = 30


class ByteProgress:
    """Redraws one line on a terminal; elsewhere (logs, CI) prints a line every 10%."""

    def __init__(
        self, total: int, label: str, *, enabled: bool = True, stream: TextIO | None = None
    ) -> None:
        self.total = max(total, 1)
        self.label = label
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self.done = 0
        self._started = time.monotonic()
        self._last_draw = 0.0
        self._last_decile = -1
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def advance(self, nbytes: int, note: str = "") -> None:
        """Count ``nbytes`` more and redraw when it is worth it."""
        self.done += nbytes
        if not self.enabled:
            return
        now = time.monotonic()
        if self._tty:
            if now - self._last_draw >= 0.1 or self.done >= self.total:
                self._last_draw = now
                self.stream.write("\r" + self._line(note) + "\x1b[K")
                self.stream.flush()
            return
        decile = min(10, self.done * 10 // self.total)
        if decile != self._last_decile:
            self._last_decile = decile
            self.stream.write(self._line(note) + "\n")
            self.stream.flush()

    def close(self, message: str = "") -> None:
        """End the bar's line; ``message`` replaces it when given."""
        if not self.enabled:
            return
        if self._tty:
            self.stream.write("\r\x1b[K" if message else "\n")
        if message:
            self.stream.write(message + "\n")
        self.stream.flush()

    def _line(self, note: str) -> str:
        fraction = min(1.0, self.done / self.total)
        filled = int(fraction * _WIDTH)
        elapsed = max(time.monotonic() - self._started, 1e-6)
        rate = self.done / elapsed / 1e6
        bar = "#" * filled + "." * (_WIDTH - filled)
        mb_done, mb_total = self.done / 1e6, self.total / 1e6
        tail = f" {note}" if note else ""
        return (
            f"{self.label} [{bar}] {fraction:4.0%} {mb_done:,.0f}/{mb_total:,.0f} MB "
            f"{rate:.0f} MB/s{tail}"
        )
