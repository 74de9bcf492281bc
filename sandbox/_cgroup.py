"""A pids cgroup per kernel: bounds processes plus threads, also when the host is root.

RLIMIT_NPROC is ignored for root (and for bubblewrap's mapped uid when the host is root),
is shared by every process of one uid and counts the host's own processes, so it cannot
bound a sandbox. A pids cgroup counts exactly the kernel's tree, holds for root, and lists
every member, so the host can kill the whole tree even when a process started a new
session. Works with cgroup v1 (a ``pids`` hierarchy) and v2 (``pids`` in the subtree).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import time
from pathlib import Path


def _own_cgroup_dir() -> Path | None:
    """The directory of this process's cgroup in a writable pids hierarchy, if any."""
    try:
        mountinfo = Path("/proc/self/mountinfo").read_text().splitlines()
        membership = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    v1_mount = v2_mount = None
    for line in mountinfo:
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3:
            continue
        if tail[0] == "cgroup" and "pids" in tail[2].split(","):
            v1_mount = fields[4]
        elif tail[0] == "cgroup2" and v2_mount is None:
            v2_mount = fields[4]
    for line in membership:
        hierarchy, controllers, path = line.split(":", 2)
        if v1_mount and "pids" in controllers.split(","):
            return Path(v1_mount + path.rstrip("/"))
        if v2_mount and hierarchy == "0" and controllers == "":
            base = Path(v2_mount + path.rstrip("/"))
            try:
                enabled = (base / "cgroup.subtree_control").read_text().split()
            except OSError:
                continue
            if "pids" in enabled:
                return base
    return None


class PidsCgroup:
    """One cgroup whose members (processes and threads) are capped at `limit`."""

    def __init__(self, path: Path, limit: int) -> None:
        self.path = path
        self.limit = limit

    @classmethod
    def create(cls, limit: int) -> PidsCgroup | None:
        """Make a fresh cgroup with pids.max = limit, or None where that is not possible."""
        parent = _own_cgroup_dir()
        if parent is None:
            return None
        path = parent / f"sbx-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            path.mkdir()
        except OSError:
            return None
        try:
            (path / "pids.max").write_text(str(limit))
        except OSError:
            with contextlib.suppress(OSError):
                path.rmdir()
            return None
        return cls(path, limit)

    def members(self) -> list[int]:
        """Host pids of the processes in the cgroup."""
        try:
            return [int(pid) for pid in (self.path / "cgroup.procs").read_text().split()]
        except OSError:
            return []

    def kill_all(self, timeout_s: float = 5.0) -> bool:
        """SIGKILL every member until none is left; True when the cgroup is empty."""
        kill_file = self.path / "cgroup.kill"  # v2: atomic, also against a fork race
        deadline = time.monotonic() + timeout_s
        while True:
            pids = self.members()
            if not pids:
                return True
            if kill_file.exists():
                with contextlib.suppress(OSError):
                    kill_file.write_text("1")
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)

    def remove(self) -> None:
        """Kill what is left and delete the cgroup."""
        self.kill_all()
        deadline = time.monotonic() + 2.0
        while True:
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:  # busy until the last member is reaped
                if time.monotonic() > deadline:
                    return
                time.sleep(0.01)
