"""The recording of a running trajectory: `_Recorder` (what a task produced so far that
is not written yet), the context variable that names the trajectory the calling code runs
in (`current_trajectory_id`), `_LogCapture` / `_capturing_logs` (log records emitted
while it runs, given to its recorder) and `_Run` (what a finished run left).
"""

from __future__ import annotations

import json
import logging
import threading
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from ace.learning_loop import _repo
from ace.service.models import utcnow

MAX_LOG_RECORDS = 500
"""Log records kept per trajectory; the rest are counted (a ``log_dropped`` step)."""


# ---------------------------------------------------------------- the running trajectory
@dataclass
class _Recorder:
    """What a running task produced so far that is not written yet, in order."""

    trajectory_id: str
    events: list[_repo.StepIn] = field(default_factory=list)
    cited: list[str] = field(default_factory=list)
    logs: int = 0
    dropped: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, text: str, data: dict[str, Any] | None = None) -> None:
        with self.lock:
            self.events.append(_repo.StepIn(kind, text, None, dict(data or {}), utcnow()))

    def log(self, text: str, data: dict[str, Any]) -> None:
        with self.lock:
            if self.logs >= MAX_LOG_RECORDS:
                self.dropped += 1
                return
            self.logs += 1
            self.events.append(_repo.StepIn("log", text, None, data, utcnow()))

    def cite(self, skill_ids: Sequence[str]) -> None:
        with self.lock:
            self.cited.extend(i for i in skill_ids if i not in self.cited)

    def take(self) -> list[_repo.StepIn]:
        with self.lock:
            taken, self.events = self.events, []
            if self.dropped:
                taken.append(
                    _repo.StepIn("log_dropped", json.dumps({"dropped_log_records": self.dropped}))
                )
                self.dropped = 0
            return taken


_ACTIVE: ContextVar[_Recorder | None] = ContextVar("ace_learning_loop_trajectory", default=None)


def current_trajectory_id() -> str | None:
    """The id of the trajectory the calling code runs in (inside ``execute_with_learning``
    or a ``memory.trajectory()`` block), else None."""
    recorder = _ACTIVE.get()
    return None if recorder is None else recorder.trajectory_id


class _LogCapture(logging.Handler):
    """A root-logger handler that gives each record to the trajectory it was emitted in."""

    def emit(self, record: logging.LogRecord) -> None:
        recorder = _ACTIVE.get()
        if recorder is None:
            return
        try:
            text = record.getMessage()
        except Exception:
            text = str(record.msg)
        if record.exc_info and record.exc_info[1] is not None:
            text = f"{text}\n{''.join(traceback.format_exception(record.exc_info[1]))}"
        recorder.log(text, {"level": record.levelname, "logger": record.name})


_capture = _LogCapture()
_capture_users = 0
_capture_lock = threading.Lock()


@contextmanager
def _capturing_logs() -> Iterator[None]:
    global _capture_users
    with _capture_lock:
        if _capture_users == 0:
            logging.getLogger().addHandler(_capture)
        _capture_users += 1
    try:
        yield
    finally:
        with _capture_lock:
            _capture_users -= 1
            if _capture_users == 0:
                logging.getLogger().removeHandler(_capture)


@dataclass
class _Run:
    trajectory_id: str
    value: Any = None
    error: BaseException | None = None
    duration_ms: int = 0


__all__ = ["MAX_LOG_RECORDS", "current_trajectory_id"]
