"""What the sandbox gives back: the outcome of a cell and the isolation it measured."""

from __future__ import annotations

from dataclasses import dataclass, field

LAYERS = (
    "environment",
    "filesystem",
    "network",
    "pid_namespace",
    "mount_namespace",
    "user_namespace",
    "process_limit",
    "memory_limit",
    "resource_limits",
    "scratch_tmpfs",
    "unprivileged_uid",
    "proc_sys_readonly",
    "keyrings",
    "seccomp",
    "vsock",
    "cpu_limit",
)
"""Every isolation layer the probes look for, in the order reports list them."""


@dataclass(frozen=True)
class CellError:
    """Why a cell failed: the exception's type name and message, or a sandbox event.

    Sandbox events use these type names: "SandboxTimeout" (wall-clock limit),
    "KernelDied" (the kernel process ended, e.g. CPU limit or a crash),
    "PolicyUnavailable" (the restricted policy could not be loaded).
    """

    type: str
    """Exception class name, e.g. "ValueError", or a sandbox event name."""
    message: str
    """The exception's message, or what happened and what the sandbox did about it."""
    traceback: str = ""
    """Formatted traceback from inside the kernel (may be empty)."""

    def __str__(self) -> str:
        return f"{self.type}: {self.message}"


@dataclass(frozen=True)
class ExecutionResult:
    """Outcome of one `Sandbox.execute` call."""

    stdout: str
    """What the cell printed to stdout (capped; a marker says how much was cut)."""
    stderr: str
    """What the cell printed to stderr (capped)."""
    error: CellError | None
    """None when the cell ran to the end."""
    duration_s: float
    """Wall-clock time of the call, host calls included."""
    timed_out: bool = False
    """The wall-clock limit expired; the kernel was interrupted or killed and restarted."""
    restarted: bool = False
    """The kernel was restarted during or right before this call (timeout kill, crash, CPU
    limit). The new kernel holds the injected data, the host functions and the state named
    in `restored`, as it was after the last cell that finished; `lost` names the rest."""
    restored: tuple[str, ...] = ()
    """After a restart: the session's own names that came back (JSON-data globals, and
    functions, classes and imports re-run from their source). Empty without a restart."""
    lost: tuple[str, ...] = ()
    """After a restart: the session's names that did not come back (not JSON data, over
    `SandboxConfig.restore_max_bytes`, or their definition failed to re-run)."""
    truncated_chars: int = 0
    """Characters of output dropped by the output cap."""
    host_calls: int = 0
    """Number of host-function calls the cell made."""
    host_call_s: float = 0.0
    """Wall-clock time spent in host calls (not counted against the timeout)."""

    @property
    def ok(self) -> bool:
        """True when the cell ran to the end without an exception."""
        return self.error is None


@dataclass(frozen=True)
class IsolationReport:
    """Which walls hold around the kernel, as measured by probes run inside it at start.

    Each boolean is a measurement, not a copy of the configuration: e.g. `network` is True
    only when the kernel's connection to a listener on the host's loopback failed and its
    network namespace differs from the host's.
    """

    launcher: str
    """"bwrap", "unshare" or "none"."""
    environment: bool
    """No host environment variable reached the kernel."""
    filesystem: bool
    """Host canary file, host home, project directory and /etc/passwd were invisible, and
    the system directories were read-only."""
    network: bool
    """The kernel could not reach a listener on the host's 127.0.0.1."""
    pid_namespace: bool
    """The kernel has its own PID namespace (a killed tree leaves no orphan behind)."""
    mount_namespace: bool
    """The kernel has its own mount namespace."""
    user_namespace: bool
    """The kernel has its own user namespace (no capabilities over host objects)."""
    process_limit: str
    """How processes and threads are bounded: "cgroup-pids" (holds for root),
    "rlimit-nproc" (holds only for a non-root host) or "none"."""
    memory_limit: str
    """How memory is bounded: "cgroup-memory" (the whole tree, `tree_memory_mb`, on top of
    the per-process limit), "rlimit-as" (only per process, `memory_mb`: N processes may use
    N times it) or "none"."""
    resource_limits: bool
    """Memory, CPU, file-size, open-file and core limits were seen inside the kernel."""
    scratch_tmpfs: bool
    """The scratch directory is a size-capped tmpfs (not the host's disk)."""
    unprivileged_uid: bool = False
    """No process of the kernel's tree runs as host uid 0 (read by the host from
    ``/proc/PID/status``, not asked of the kernel): a user namespace alone maps the
    kernel to root when the host is root."""
    proc_sys_readonly: bool = False
    """Opening host-global settings under ``/proc/sys`` for writing failed (nothing is
    written: the probe only opens)."""
    keyrings: bool = False
    """``keyctl`` is refused and none of the host's keys is visible in ``/proc/keys``."""
    seccomp: bool = False
    """A seccomp filter is active on the kernel (``Seccomp: 2``); `details` lists what it
    refuses."""
    vsock: bool = False
    """An AF_VSOCK socket (a path to hypervisor services no network namespace covers) could
    not be created."""
    cpu_limit: str = "none"
    """How CPU time is bounded: "cgroup-cpu" (a quota per second for the whole tree,
    `cpus`, on top of the lifetime limit), "rlimit-cpu" (only each process's lifetime
    RLIMIT_CPU, `cpu_s`: forked children each get it, with no rate limit) or "none"."""
    host_uids: tuple[int, ...] = ()
    """Host uids of the kernel tree's processes, as the host reads them."""
    rlimits: dict[str, int | None] = field(default_factory=dict)
    """Soft limits read inside the kernel (None: unlimited)."""
    uid: int = -1
    """The kernel's uid as it sees it."""
    details: dict[str, str] = field(default_factory=dict)
    """Per layer, what the probe saw."""

    @property
    def missing(self) -> tuple[str, ...]:
        """Names of the layers that are not active."""
        return tuple(name for name in LAYERS if not self.layer_active(name))

    @property
    def active(self) -> tuple[str, ...]:
        """Names of the layers that are active."""
        return tuple(name for name in LAYERS if self.layer_active(name))

    def layer_active(self, name: str) -> bool:
        """Whether the named layer (one of `LAYERS`) holds."""
        if name == "process_limit":
            return self.process_limit == "cgroup-pids" or self.process_limit == "rlimit-nproc"
        if name == "memory_limit":
            return self.memory_limit == "cgroup-memory" or self.memory_limit == "rlimit-as"
        if name == "cpu_limit":
            return self.cpu_limit == "cgroup-cpu" or self.cpu_limit == "rlimit-cpu"
        return bool(getattr(self, name))
