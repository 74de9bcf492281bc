"""The cgroups of one kernel tree: processes plus threads (pids), memory and CPU time,
v1 or v2.

RLIMIT_NPROC is ignored for root (and for bubblewrap's mapped uid when the host is root),
is shared by every process of one uid and counts the host's own processes; RLIMIT_AS bounds
each process, so N processes may use N times it. Cgroups count exactly the kernel's tree,
hold for root, and list every member, so the host can also kill the whole tree when a
process started a new session.

Each kernel gets fresh cgroups, made in the host's own cgroup of each hierarchy that has
the controller and that the host can write: with cgroup v1 a ``pids`` and a ``memory``
hierarchy (two directories, joined both), with v2 the unified one when the controller is
enabled in the host cgroup's ``cgroup.subtree_control`` (one directory holds both limits:
a v2 process is in exactly one cgroup). A controller that cannot be set up is left out
silently; the caller reports what holds.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import secrets
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

MOUNTINFO = Path("/proc/self/mountinfo")
"""Where discovery reads mounts (a test points it at a file of its own)."""
MEMBERSHIP = Path("/proc/self/cgroup")
"""Where discovery reads this process's cgroup in each hierarchy."""

CONTROLLERS = ("pids", "memory", "cpu")
"""The controllers a kernel tree can be limited by. A ``cpu`` limit is a quota in
microseconds of CPU time per ``CPU_PERIOD_US`` of wall-clock time."""

CPU_PERIOD_US = 100_000


@dataclass(frozen=True)
class _LimitFile:
    name: str
    value: str
    required: bool  # an optional file is written when it exists, and must then take the value


def _limit_files(controller: str, version: int, limit: int) -> list[_LimitFile]:
    if controller == "pids":
        return [_LimitFile("pids.max", str(limit), True)]
    if controller == "cpu" and version == 1:
        return [
            _LimitFile("cpu.cfs_period_us", str(CPU_PERIOD_US), True),
            _LimitFile("cpu.cfs_quota_us", str(limit), True),
        ]
    if controller == "cpu":
        return [_LimitFile("cpu.max", f"{limit} {CPU_PERIOD_US}", True)]
    if controller == "memory" and version == 1:
        # memsw (memory + swap) must be >= the memory limit, so it is written second.
        return [
            _LimitFile("memory.limit_in_bytes", str(limit), True),
            _LimitFile("memory.memsw.limit_in_bytes", str(limit), False),
        ]
    return [_LimitFile("memory.max", str(limit), True), _LimitFile("memory.swap.max", "0", False)]


@dataclass(frozen=True)
class Hierarchy:
    """Where this process sits in the hierarchy that has one controller."""

    version: int
    """1 (one hierarchy per controller mount) or 2 (the unified hierarchy)."""
    directory: Path
    """This process's own cgroup in it; kernels' cgroups are made below it."""


def find_hierarchies(controllers: tuple[str, ...] = CONTROLLERS) -> dict[str, Hierarchy]:
    """The hierarchy of each controller that this process could use, from `MOUNTINFO` and
    `MEMBERSHIP`; a controller without one is absent from the answer."""
    try:
        mountinfo = MOUNTINFO.read_text().splitlines()
        membership = MEMBERSHIP.read_text().splitlines()
    except OSError:
        return {}
    v1_mounts: dict[str, str] = {}
    v2_mount = None
    for line in mountinfo:
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3:
            continue
        if tail[0] == "cgroup":
            for option in tail[2].split(","):
                if option in controllers:
                    v1_mounts[option] = fields[4]
        elif tail[0] == "cgroup2" and v2_mount is None:
            v2_mount = fields[4]
    found: dict[str, Hierarchy] = {}
    for line in membership:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hierarchy, names, path = parts
        for name in names.split(","):
            if name in v1_mounts and name not in found:
                found[name] = Hierarchy(1, Path(v1_mounts[name] + path.rstrip("/")))
        if v2_mount and hierarchy == "0" and names == "":
            base = Path(v2_mount + path.rstrip("/"))
            try:
                enabled = (base / "cgroup.subtree_control").read_text().split()
            except OSError:
                continue
            for name in controllers:
                if name in enabled and name not in found:
                    found[name] = Hierarchy(2, base)
    return found


class Cgroup:
    """One cgroup directory holding the kernel's tree, limited by one or more controllers."""

    def __init__(self, path: Path, version: int, controllers: tuple[str, ...]) -> None:
        self.path = path
        self.version = version
        self.controllers = controllers

    @classmethod
    def create(cls, hierarchy: Hierarchy, limits: dict[str, int]) -> Cgroup | None:
        """A fresh child of `hierarchy` with each controller's limit set; a controller whose
        limit cannot be written is left out, and None comes back when none is left."""
        path = hierarchy.directory / f"sbx-{os.getpid()}-{secrets.token_hex(4)}"
        with _registry_lock:
            if _exiting:  # the exit clean-up ran already: nothing made now would be removed
                return None
            try:
                path.mkdir()
            except OSError:
                return None
            _live[path] = None
        kept = tuple(
            controller
            for controller, limit in limits.items()
            if _write_limits(path, _limit_files(controller, hierarchy.version, limit))
        )
        group = cls(path, hierarchy.version, kept)
        if not kept:
            group.remove()
            return None
        return group

    def read(self, name: str) -> str | None:
        """The text of one of the cgroup's files, or None when it cannot be read."""
        try:
            return (self.path / name).read_text()
        except OSError:
            return None

    def members(self) -> list[int]:
        """Host pids of the processes in the cgroup."""
        text = self.read("cgroup.procs")
        return [int(pid) for pid in text.split()] if text else []

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
        """Kill what is left and delete the cgroup. Idempotent."""
        self.kill_all()
        deadline = time.monotonic() + 2.0
        while True:
            try:
                self.path.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError:  # busy until the last member is reaped
                if time.monotonic() > deadline:
                    return
                time.sleep(0.01)
        with _registry_lock:
            _live.pop(self.path, None)


# Every cgroup this process made and has not removed. At interpreter exit a pool's refill
# thread may be starting a kernel while the sandboxes are being closed, so its cgroup
# belongs to no sandbox yet: the exit hook removes whatever is registered, and refuses new
# ones from then on.
_registry_lock = threading.Lock()
_live: dict[Path, None] = {}
_exiting = False


def remove_all_at_exit() -> None:
    """Remove every cgroup this process still has (killing its members) and make no more."""
    global _exiting
    with _registry_lock:
        _exiting = True
        paths = list(_live)
    for path in paths:
        Cgroup(path, 0, ()).remove()


atexit.register(remove_all_at_exit)


def _write_limits(path: Path, files: list[_LimitFile]) -> bool:
    for limit in files:
        target = path / limit.name
        if not limit.required and not target.exists():
            continue
        try:
            target.write_text(limit.value)
        except OSError:
            return False
    return True


class TreeCgroups:
    """Every cgroup of one kernel tree (one per hierarchy), handled as one."""

    def __init__(self, groups: list[Cgroup]) -> None:
        self.groups = groups

    @classmethod
    def create(cls, limits: dict[str, int]) -> TreeCgroups:
        """Fresh cgroups with `limits` (controller -> pids count or memory bytes) wherever a
        writable hierarchy has the controller; `controllers` says which ones hold."""
        unknown = sorted(set(limits) - set(CONTROLLERS))
        if unknown:
            raise ValueError(f"unknown cgroup controllers {unknown}; known: {list(CONTROLLERS)}")
        hierarchies = find_hierarchies(tuple(limits))
        by_directory: dict[Hierarchy, dict[str, int]] = {}
        for controller, limit in limits.items():
            if controller in hierarchies:
                by_directory.setdefault(hierarchies[controller], {})[controller] = limit
        groups = [Cgroup.create(where, wanted) for where, wanted in by_directory.items()]
        return cls([group for group in groups if group is not None])

    @property
    def controllers(self) -> frozenset[str]:
        """The controllers whose limits hold for this tree."""
        return frozenset(c for group in self.groups for c in group.controllers)

    @property
    def paths(self) -> list[str]:
        """The directories the kernel's first process joins (written to its launcher spec)."""
        return [str(group.path) for group in self.groups]

    def holding(self, controller: str) -> Cgroup | None:
        """The cgroup that applies `controller`, if any."""
        return next((g for g in self.groups if controller in g.controllers), None)

    def members(self) -> list[int]:
        """Host pids of the tree's processes, from every cgroup."""
        return sorted({pid for group in self.groups for pid in group.members()})

    def kill_all(self) -> bool:
        """SIGKILL every member of every cgroup; True when all are empty."""
        return all([group.kill_all() for group in self.groups])

    def remove(self) -> None:
        """Kill what is left and delete every cgroup. Idempotent."""
        for group in self.groups:
            group.remove()

    def cpu_quota(self) -> float | None:
        """The tree's CPU quota in cores, read back from the cgroup, or None without one."""
        group = self.holding("cpu")
        if group is None:
            return None
        if group.version == 1:
            quota, period = group.read("cpu.cfs_quota_us"), group.read("cpu.cfs_period_us")
        else:
            quota, _, period = (group.read("cpu.max") or "").partition(" ")
        try:
            cpu_time, wall = int(quota or ""), int(period or "")
        except ValueError:  # v2 "max": no quota
            return None
        return cpu_time / wall if cpu_time > 0 and wall > 0 else None

    def memory_peak(self) -> int | None:
        """Highest memory use of the tree so far, in bytes (v1 ``max_usage_in_bytes``, v2
        ``memory.peak``, which kernels before 5.19 lack), or None when unknown."""
        group = self.holding("memory")
        if group is None:
            return None
        name = "memory.max_usage_in_bytes" if group.version == 1 else "memory.peak"
        text = group.read(name)
        return int(text) if text and text.strip().isdigit() else None

    def oom_kills(self) -> int:
        """Processes of the tree the OOM killer ended because the tree hit its memory limit
        (v1 ``memory.oom_control`` oom_kill, or under_oom where that counter is missing; v2
        ``memory.events`` oom_kill). 0 without a memory cgroup."""
        group = self.holding("memory")
        if group is None:
            return 0
        name = "memory.oom_control" if group.version == 1 else "memory.events"
        counters: dict[str, int] = {}
        for line in (group.read(name) or "").splitlines():
            key, _, value = line.partition(" ")
            with contextlib.suppress(ValueError):
                counters[key] = int(value)
        return counters.get("oom_kill", counters.get("under_oom", 0))
