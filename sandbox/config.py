"""What a sandbox may use: time, memory, processes, output, and how strict it is about walls."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sandbox.errors import SandboxConfigError

MiB = 1024 * 1024


@dataclass(kw_only=True, frozen=True)
class SandboxConfig:
    """Limits and options of one `Sandbox`. `None` means "no limit of our own".

    Resource limits are clamped to the limits the host process already has: a sandbox
    never asks the kernel for more than its parent may use.
    """

    timeout_s: float | None = 30.0
    """Wall-clock limit of one cell. Time spent inside host calls does not count."""

    memory_mb: int | None = 4096
    """Address-space limit of each process of the kernel's tree (RLIMIT_AS), not of the tree
    as a whole (see `tree_memory_mb`). Big traces need ~4x their size."""

    tree_memory_mb: int | None = 4096
    """Memory of the kernel's whole process tree together (a memory cgroup: RAM, tmpfs pages
    and kernel memory; no swap), so forked children cannot each use `memory_mb`. Past it
    the OOM killer ends the tree's largest process, which may be the kernel (the sandbox
    then restarts it). Without a writable memory cgroup only the per-process limit holds;
    `IsolationReport.memory_limit` says which. The kernel alone uses ~60 MB."""

    cpu_s: int | None = 600
    """CPU seconds over the kernel's whole life (RLIMIT_CPU); past it the kernel is killed
    and the sandbox restarts it."""

    cpus: float | None = 1.0
    """CPU time the kernel's whole process tree may use per second of wall-clock time (a
    cpu cgroup quota): 1.0 is one core, however many processes the tree forks."""

    file_size_mb: int | None = 256
    """Largest file the kernel may write (RLIMIT_FSIZE)."""

    open_files: int | None = 256
    """Open file descriptors of the kernel (RLIMIT_NOFILE); the kernel itself needs ~40."""

    max_processes: int | None = 128
    """Processes plus threads in the kernel's tree (a pids cgroup; the kernel uses ~12)."""

    scratch_mb: int | None = 256
    """Size of the scratch tmpfs that is the kernel's cwd and HOME (RAM-backed)."""

    max_output_chars: int | None = 100_000
    """Characters of stdout plus stderr kept per cell; the rest is cut with a marker."""

    restore_max_bytes: int | None = 16 * MiB
    """JSON of the session's globals plus source of its definitions kept for a restore after
    a kernel death; globals beyond it are named in `ExecutionResult.lost`. 0 keeps only the
    definitions. Every JSON-able global is serialised inside the kernel after each cell, so
    this also bounds that per-cell cost."""

    max_host_request_bytes: int = 8 * MiB
    """Largest JSON request kernel code may send to a host function."""

    max_host_reply_bytes: int = 8 * MiB
    """Largest JSON reply a host function may return; larger replies are refused."""

    interrupt_grace_s: float = 1.0
    """After a timeout, how long an interrupted cell gets to stop before the kernel is killed."""

    start_timeout_s: float = 30.0
    """How long the kernel may take to start and answer its first request."""

    require_isolation: bool = False
    """A missing isolation layer is an `IsolationError` instead of a warning."""

    policy: Literal["restricted", "none"] = "restricted"
    """Code policy applied to every cell inside the kernel ("none": plain exec)."""

    launcher: Literal["auto", "bwrap", "unshare", "none"] = "auto"
    """How the walls are built: bubblewrap, util-linux `unshare`, or rlimits only.
    "auto" takes the strongest one that works on this machine."""

    def __post_init__(self) -> None:
        positive = {
            "timeout_s": self.timeout_s,
            "memory_mb": self.memory_mb,
            "tree_memory_mb": self.tree_memory_mb,
            "cpu_s": self.cpu_s,
            "cpus": self.cpus,
            "file_size_mb": self.file_size_mb,
            "open_files": self.open_files,
            "max_processes": self.max_processes,
            "scratch_mb": self.scratch_mb,
            "max_output_chars": self.max_output_chars,
            "max_host_request_bytes": self.max_host_request_bytes,
            "max_host_reply_bytes": self.max_host_reply_bytes,
            "start_timeout_s": self.start_timeout_s,
        }
        if self.restore_max_bytes is not None and self.restore_max_bytes < 0:
            raise SandboxConfigError(
                f"SandboxConfig.restore_max_bytes must be >= 0 or None, got {self.restore_max_bytes!r}"
            )
        for name, value in positive.items():
            if value is not None and not value > 0:
                raise SandboxConfigError(f"SandboxConfig.{name} must be > 0 or None, got {value!r}")
        if self.cpus is not None and self.cpus < 0.01:
            raise SandboxConfigError(
                f"SandboxConfig.cpus={self.cpus} is too low: the kernel needs at least 0.01 "
                "of a core (1.0 is one core), or None for no quota"
            )
        if self.interrupt_grace_s < 0:
            raise SandboxConfigError(
                f"SandboxConfig.interrupt_grace_s must be >= 0, got {self.interrupt_grace_s!r}"
            )
        if self.open_files is not None and self.open_files < 64:
            raise SandboxConfigError(
                f"SandboxConfig.open_files={self.open_files} is too low: the kernel itself "
                "needs about 40 descriptors; use 64 or more"
            )
        if self.max_processes is not None and self.max_processes < 24:
            raise SandboxConfigError(
                f"SandboxConfig.max_processes={self.max_processes} is too low: the kernel "
                "runs about 12 threads; use 24 or more"
            )
        if self.tree_memory_mb is not None and self.tree_memory_mb < 128:
            raise SandboxConfigError(
                f"SandboxConfig.tree_memory_mb={self.tree_memory_mb} is too low: the kernel "
                "alone uses about 60 MB; use 128 or more, or None for no tree limit"
            )
        if self.policy not in ("restricted", "none"):
            raise SandboxConfigError(
                f"SandboxConfig.policy must be 'restricted' or 'none', got {self.policy!r}"
            )
        if self.launcher not in ("auto", "bwrap", "unshare", "none"):
            raise SandboxConfigError(
                "SandboxConfig.launcher must be 'auto', 'bwrap', 'unshare' or 'none', "
                f"got {self.launcher!r}"
            )
