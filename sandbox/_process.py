"""The kernel's process tree on the host side: start it, drain its own output, kill it all."""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from sandbox._cgroup import TreeCgroups

LOG_KEEP_BYTES = 64 * 1024


class KernelLog:
    """The kernel's fd 1 and 2: a pipe the host drains, keeping only the last bytes."""

    def __init__(self, stream: object) -> None:
        self._chunks: deque[bytes] = deque()
        self._kept = 0
        self.total_bytes = 0
        """Everything the kernel wrote to fd 1/2 so far, kept or not."""
        self._lock = threading.Lock()
        self._thread = threading.Thread(
            target=self._drain, args=(stream,), name="sandbox-kernel-log", daemon=True
        )
        self._thread.start()

    def _drain(self, stream: object) -> None:
        read = stream.read1  # type: ignore[attr-defined]
        with contextlib.suppress(OSError, ValueError):
            while chunk := read(65536):
                with self._lock:
                    self.total_bytes += len(chunk)
                    self._chunks.append(chunk)
                    self._kept += len(chunk)
                    while self._kept > LOG_KEEP_BYTES and len(self._chunks) > 1:
                        self._kept -= len(self._chunks.popleft())
        # Closed here, at end of file, never from another thread: closing a buffered pipe
        # while this thread reads it would block on the reader's lock.
        stream.close()  # type: ignore[attr-defined]

    def text(self) -> str:
        """The last part of what the kernel wrote (at most ~64 KiB)."""
        with self._lock:
            data = b"".join(self._chunks)[-LOG_KEEP_BYTES:]
        return data.decode("utf-8", "replace")

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)


def children(pid: int) -> list[int]:
    """Direct children of `pid`, from /proc (no psutil)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found += [int(p) for p in (task / "children").read_text().split()]
    return found


def descendants(pid: int) -> list[int]:
    """All descendants of `pid` that are still its descendants (a new session does not
    leave the tree; a re-parented orphan does, which is what the cgroup is for)."""
    result: list[int] = []
    todo = [pid]
    while todo:
        for child in children(todo.pop()):
            if child not in result:
                result.append(child)
                todo.append(child)
    return result


class _Spawner:
    """One long-lived thread that forks every kernel process of this host process.

    bubblewrap's ``--die-with-parent`` is PR_SET_PDEATHSIG, which fires when the *thread*
    that forked bwrap ends, not the process. A kernel forked from a short-lived thread (a
    pool's refill thread, a worker of a thread pool) would be killed when that thread
    returns. Forking from this thread, which lives as long as the process, ties every
    kernel's life to the host process alone. Only the fork runs here; waiting for the
    kernel to answer stays in the caller's thread, so cold starts still overlap.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def run(self, job: Callable[[], Any]) -> Any:
        """Run `job` on the spawner thread and return its result (or raise its error)."""
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._serve, name="sandbox-spawner", daemon=True
                )
                self._thread.start()
        future: Future[Any] = Future()
        self._jobs.put((job, future))
        return future.result()

    def _serve(self) -> None:
        while True:
            job, future = self._jobs.get()
            try:
                future.set_result(job())
            except BaseException as exc:  # handed to the caller's thread
                future.set_exception(exc)


_SPAWNER = _Spawner()


class KernelProcess:
    """One started kernel: the launcher's process (which became bwrap/unshare/python)."""

    def __init__(
        self, argv: list[str], env: dict[str, str], cwd: str, cgroup: TreeCgroups | None
    ) -> None:
        self.cgroup = cgroup
        self.popen: subprocess.Popen[bytes] = _SPAWNER.run(
            lambda: subprocess.Popen(
                argv,
                env=env,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                close_fds=True,
            )
        )
        assert self.popen.stdout is not None
        self.log = KernelLog(self.popen.stdout)
        self.started = time.monotonic()
        self._reaping = threading.Lock()
        """Held while the launcher's pid is read or the launcher is reaped: once reaped,
        its pid may be given to another process (pid_max can be as low as 32768)."""

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        with self._reaping:
            return self.popen.poll() is None

    def exited_within(self, seconds: float) -> bool:
        """True once the launcher has exited, waiting up to `seconds` for it (0: no wait)."""
        with self._reaping:
            try:
                self.popen.wait(timeout=seconds)
            except subprocess.TimeoutExpired:
                return False
            return True

    def descendants(self) -> list[int]:
        """The launcher's descendants by /proc, or none once it was reaped: its pid may
        then be another process's, whose children are not ours to count or kill."""
        with self._reaping:
            if self.popen.returncode is not None:
                return []
            return descendants(self.pid)

    def exit_description(self) -> str:
        with self._reaping:
            code = self.popen.poll()
        if code is None:
            return "still running"
        if code < 0:
            return f"killed by {signal.Signals(-code).name}"
        if code > 128 and code - 128 in signal.valid_signals():
            return f"exit status {code} (likely {signal.Signals(code - 128).name})"
        return f"exit status {code}"

    def kill(self) -> None:
        """SIGKILL the whole tree: the cgroup's members, else the /proc descendants.

        The inner processes die first, so that bwrap's outer process reaps them and exits
        on its own; killing it first would leave zombies for the host's init to reap.
        """
        with self._reaping:  # no other thread reaps the launcher while its pid is read
            if self.popen.returncode is None:
                for pid in descendants(self.pid):
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.kill(pid, signal.SIGKILL)
            if self.cgroup is not None:
                for pid in self.cgroup.members():
                    if pid != self.pid:
                        with contextlib.suppress(ProcessLookupError, PermissionError):
                            os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=0.5)
            with contextlib.suppress(ProcessLookupError):
                self.popen.kill()  # signals only a launcher not yet reaped
            if self.cgroup is not None:
                self.cgroup.kill_all()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=5)
        self.log.join(timeout=1)
