"""The executor contract: four methods and one result type.

A caller submits work items, each a ``key`` (its position in the caller's input), a
function and one payload; it takes results back one at a time as they complete, can
cancel what has not started, and closes the executor when done. The function and the
payload must be picklable for an executor that runs them in other processes (a Ray
actor); ``LocalExecutor`` runs them on threads and passes objects through as they are.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class Completed:
    """One finished work item: its key and either a value or the exception it raised."""

    key: int
    value: Any = None
    error: BaseException | None = None
    """What the function raised; an executor never raises it for the caller."""
    duration_s: float = 0.0
    """Wall-clock time of the function on the executor's side."""

    @property
    def ok(self) -> bool:
        """The function returned."""
        return self.error is None

    @property
    def cause(self) -> str | None:
        """``"TypeError: message"`` for a failed item (the first line), else None."""
        if self.error is None:
            return None
        text = str(self.error).strip().splitlines()
        return f"{type(self.error).__name__}: {text[0] if text else ''}".rstrip(": ")


@runtime_checkable
class Executor(Protocol):
    """Runs submitted work items, ``jobs`` at a time, and hands back each as it completes.

    - ``submit(key, fn, payload)``: queue ``fn(payload)``; never blocks on the work.
    - ``next_completed(timeout)``: the next finished item (any order), or None when
      nothing finished within ``timeout`` seconds (None waits) or nothing is outstanding.
    - ``cancel()``: drop every queued item that has not started; returns their keys.
      Items already running finish; their results still come out of ``next_completed``.
    - ``close(wait=True)``: cancel, then release the workers; ``wait`` lets running items
      finish first. Idempotent; submitting afterwards raises ``UsageError``.
    """

    @property
    def jobs(self) -> int:
        """How many items run at once."""

    def submit(self, key: int, fn: Callable[[Any], Any], payload: Any) -> None:
        """Queue ``fn(payload)`` under ``key``."""

    def next_completed(self, timeout: float | None = None) -> Completed | None:
        """The next finished item, or None (timeout, or nothing outstanding)."""

    def cancel(self) -> list[int]:
        """Drop the items not started yet; their keys."""

    def close(self, *, wait: bool = True) -> None:
        """Cancel what is queued and stop the workers."""
