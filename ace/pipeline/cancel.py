"""Cooperative cancellation for pipeline runs.

Cancelling stops new work: no step starts after the token is set. Steps already
running are never interrupted; they finish, and the sample stops before its next step
with a ``RunCancelled`` error in its result. Background tails not yet started are
stopped the same way.
"""

from __future__ import annotations

import threading
from contextvars import ContextVar


class CancellationToken:
    """A thread-safe flag shared by the caller and a pipeline run.

    A token made with ``parent`` is also cancelled when its parent is; the engine uses
    that to stop a run on its own (e.g. when an ``on_sample_done`` callback raises)
    without touching the caller's token.
    """

    __slots__ = ("_event", "_parent", "_reason")

    def __init__(self, *, parent: CancellationToken | None = None) -> None:
        self._event = threading.Event()
        self._parent = parent
        self._reason: str | None = None

    def cancel(self, reason: str = "cancelled by the caller") -> None:
        """Stop new work; the first reason given is kept."""
        if not self._event.is_set():
            self._reason = reason
            self._event.set()

    @property
    def cancelled(self) -> bool:
        """True once this token (or its parent) was cancelled."""
        return self._event.is_set() or (self._parent is not None and self._parent.cancelled)

    @property
    def is_cancelled(self) -> bool:
        """The established package's name for ``cancelled``."""
        return self.cancelled

    @property
    def reason(self) -> str | None:
        """Why the run was cancelled (None while it is not)."""
        if self._event.is_set():
            return self._reason
        return self._parent.reason if self._parent is not None else None

    def wait(self, timeout: float | None = None) -> bool:
        """Block until this token itself is cancelled; False if ``timeout`` passed first."""
        return self._event.wait(timeout)

    def __repr__(self) -> str:
        return f"CancellationToken(cancelled={self.cancelled})"


cancel_token_var: ContextVar[CancellationToken | None] = ContextVar(
    "cancel_token_var", default=None
)
"""The token of the pipeline run the current step belongs to (None outside a run).

Set while a sample's steps (and its background tail) run, so code deep inside a step,
such as a model client, can stop early without the token being passed down.
"""
