"""`SandboxPool`: kernels started ahead of time, so that a session starts in milliseconds.

A pool holds up to `size` started sandboxes of one configuration (walls, limits and policy
are fixed when a kernel starts, so a pool serves exactly one `SandboxConfig`). `acquire`
hands one out; it belongs to that caller alone, and its `close()` destroys the kernel:
kernels are never returned or reused, so nothing of one session can reach the next. A
background thread refills the pool one kernel at a time (each start costs ~0.4 s of CPU).
After `idle_shutdown_s` without an `acquire` (counted from the later of the last acquire
and the last kernel becoming ready), the idle kernels are closed; the next
`acquire` starts one cold and the pool refills.
"""

from __future__ import annotations

import threading
import time
import warnings
from types import TracebackType

from sandbox import _exit
from sandbox._sandbox import Sandbox
from sandbox.config import SandboxConfig
from sandbox.errors import IsolationWarning, SandboxClosedError, SandboxConfigError


class SandboxPool:
    """Started sandboxes of one configuration, each handed to one session only.

    ``pool = SandboxPool(cfg, size=2)``; ``with pool.acquire() as sb: ...``; ``pool.close()``.
    `acquire` returns a started, never-used `Sandbox`, at once when one is ready, else
    after a cold start in the caller's thread. Closing the pool closes the idle kernels;
    sandboxes already handed out stay with their callers. At host exit, also on an
    exception or SIGTERM, every pool and sandbox is closed (see `sandbox._exit`).
    """

    def __init__(
        self,
        config: SandboxConfig | None = None,
        *,
        size: int = 2,
        idle_shutdown_s: float | None = 600.0,
    ) -> None:
        if not isinstance(size, int) or size < 0:
            raise SandboxConfigError(f"SandboxPool size must be an int >= 0, got {size!r}")
        if idle_shutdown_s is not None and not idle_shutdown_s > 0:
            raise SandboxConfigError(
                f"SandboxPool idle_shutdown_s must be > 0 or None, got {idle_shutdown_s!r}"
            )
        self.config = config or SandboxConfig()
        """The configuration of every sandbox of this pool."""
        self.size = size
        """How many started sandboxes the pool keeps ready."""
        self.idle_shutdown_s = idle_shutdown_s
        """Seconds without an `acquire` after which idle kernels are closed (None: never)."""
        self._cond = threading.Condition(threading.RLock())
        self._idle: list[tuple[Sandbox, str]] = []  # (sandbox, isolation warning or "")
        self._closed = False
        self._asleep = False  # idle shutdown happened; the next acquire wakes the pool
        self._failing = False  # the last background start failed; a cold start clears it
        self._last_activity = time.monotonic()
        _exit.track_pool(self)
        self._thread = threading.Thread(target=self._refill, name="sandbox-pool", daemon=True)
        self._thread.start()

    def __enter__(self) -> SandboxPool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def ready(self) -> int:
        """Started sandboxes waiting to be acquired."""
        with self._cond:
            return len(self._idle)

    def wait_ready(self, timeout_s: float) -> bool:
        """Block until the pool holds `size` started sandboxes; False on timeout or failure."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while len(self._idle) < self.size and self._wants_kernel() and not self._closed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return len(self._idle) >= self.size

    def acquire(self) -> Sandbox:
        """A started sandbox for one session; close it when the session ends."""
        found: tuple[Sandbox, str] | None = None
        dead: list[Sandbox] = []
        with self._cond:
            if self._closed:
                raise SandboxClosedError("the sandbox pool is closed; create a new SandboxPool")
            self._last_activity = time.monotonic()
            self._asleep = False
            while self._idle and found is None:
                candidate = self._idle.pop(0)
                if candidate[0]._kernel_alive():
                    found = candidate
                else:
                    dead.append(candidate[0])
            self._cond.notify_all()
        for sandbox in dead:
            sandbox.close()
        if found is None:
            cold = Sandbox(self.config)
            cold.start()  # in the caller's thread: its errors and warnings are the caller's
            with self._cond:
                self._failing = False
                self._cond.notify_all()
            return cold
        sandbox, warning = found
        if warning:
            warnings.warn(warning, IsolationWarning, stacklevel=2)
        return sandbox

    def close(self) -> None:
        """Close the idle kernels and stop refilling. Idempotent."""
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._cond.notify_all()
        for sandbox, _warning in idle:
            sandbox.close()
        if self._thread is not threading.current_thread():
            # A start in progress ends within start_timeout_s and is closed by the thread.
            self._thread.join(self.config.start_timeout_s + 5)

    # -- the refill thread -------------------------------------------------------------
    def _wants_kernel(self) -> bool:
        return not (self._asleep or self._failing) and len(self._idle) < self.size

    def _refill(self) -> None:
        while True:
            expired: list[tuple[Sandbox, str]] = []
            with self._cond:
                while not self._closed and not self._wants_kernel():
                    if self.idle_shutdown_s is None or self._asleep or not self._idle:
                        self._cond.wait()
                        continue
                    left = self._last_activity + self.idle_shutdown_s - time.monotonic()
                    if left > 0:
                        self._cond.wait(left)
                        continue
                    expired, self._idle, self._asleep = self._idle, [], True
                    break
                closed = self._closed
            for sandbox, _warning in expired:
                sandbox.close()
            if closed:
                return
            if expired:
                continue
            self._start_one()

    def _start_one(self) -> None:
        sandbox = Sandbox(self.config)
        try:
            warning = sandbox._start_quietly()
        except Exception:
            # Not retried in a loop: the next acquire starts cold in its own thread and
            # raises the error there, where the caller can see it.
            with self._cond:
                self._failing = True
                self._cond.notify_all()
            return
        with self._cond:
            if not self._closed:
                self._idle.append((sandbox, warning))
                self._last_activity = time.monotonic()  # idle time counts from here
                self._cond.notify_all()
                return
        sandbox.close()
