"""`Sandbox`: an isolated kernel with a watchdog, output caps and a host-call channel."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import secrets
import signal
import socket
import tempfile
import time
import warnings
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sandbox import _exit, _seccomp, _walls
from sandbox._cgroup import CPU_PERIOD_US, TreeCgroups
from sandbox._client import KernelConnection, write_connection_file
from sandbox._hostcall import HostFunctions
from sandbox._kernel import SETTINGS_ENV
from sandbox._probes import judge_probes
from sandbox._process import LOG_KEEP_BYTES, KernelProcess
from sandbox._restore import SessionState, describe
from sandbox._text import clean_json
from sandbox._uids import UidSlot
from sandbox._watchdog import Outcome
from sandbox.config import MiB, SandboxConfig
from sandbox.errors import (
    FetchError,
    IsolationError,
    IsolationWarning,
    SandboxClosedError,
    SandboxConfigError,
    SandboxRuntimeError,
    SandboxStartError,
)
from sandbox.results import CellError, ExecutionResult, IsolationReport

OP_TIMEOUT_S = 120.0
MAX_ERROR_CHARS = 20_000
# Variables that the launchers or the C locale coercion add by themselves.
ALLOWED_EXTRA_ENV = {"PWD", "OLDPWD", "LC_CTYPE", "SHLVL", "_"}


def _short_tmp() -> Path:
    """A private run directory with a short path (IPC socket paths must stay < 100 bytes)."""
    base = "/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir()
    return Path(tempfile.mkdtemp(prefix="sbx-", dir=base))


def _clamp_rlimits(config: SandboxConfig, nproc: int | None) -> dict[str, tuple[int, int]]:
    wanted = {
        "RLIMIT_AS": None if config.memory_mb is None else config.memory_mb * MiB,
        "RLIMIT_CPU": config.cpu_s,
        "RLIMIT_FSIZE": None if config.file_size_mb is None else config.file_size_mb * MiB,
        "RLIMIT_NOFILE": config.open_files,
        "RLIMIT_CORE": 0,
        "RLIMIT_NPROC": nproc,
    }
    limits: dict[str, tuple[int, int]] = {}
    for name, value in wanted.items():
        if value is None:
            continue
        _soft, hard = resource.getrlimit(getattr(resource, name))
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        limits[name] = (value, value)
    return limits


def _uid_process_count() -> int:
    uid, count = os.getuid(), 0
    for status in Path("/proc").glob("[0-9]*/status"):
        with contextlib.suppress(OSError):
            for line in status.read_text().splitlines():
                if line.startswith("Uid:"):
                    count += int(line.split()[1]) == uid
                    break
    return count


class _Kernel:
    """One running kernel: its process tree, its own cgroups and its connection."""

    def __init__(
        self, process: KernelProcess, connection: KernelConnection, cgroups: TreeCgroups
    ) -> None:
        self.process = process
        self.connection = connection
        self.cgroups = cgroups
        self.oom_kills = 0
        """Processes the OOM killer ended at the tree's memory limit (known once stopped)."""
        self.own_pids: frozenset[int] = frozenset()
        """The launcher's chain (bwrap, its PID 1, the kernel) once the kernel answered:
        every other process of the tree was started by a cell."""

    def reap_strays(self, timeout_s: float = 2.0) -> int:
        """SIGKILL every process of the tree that a cell started (they would keep running,
        and burning CPU, between cells) and wait until they are gone; returns how many."""
        killed: set[int] = set()
        deadline = time.monotonic() + timeout_s
        while True:
            members = self.cgroups.members() if self.cgroups.groups else self.process.descendants()
            strays = [pid for pid in members if pid not in self.own_pids]
            if not strays or time.monotonic() > deadline:
                return len(killed)
            for pid in strays:  # a stray may fork while it is being killed: go round again
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
                    killed.add(pid)
            time.sleep(0.001)

    def stop(self) -> None:
        """Kill the tree, remove its cgroups (their counters are read first). Idempotent."""
        self.process.kill()
        self.connection.close()
        self.oom_kills = max(self.oom_kills, self.cgroups.oom_kills())
        self.cgroups.remove()


def _finalize(state: dict[str, Any]) -> None:
    kernel, cgroups, rundir = state.get("kernel"), state.get("cgroups"), state.get("rundir")
    if kernel is not None:
        kernel.stop()
    if cgroups is not None:
        cgroups.remove()
    if rundir is not None:
        _walls.RunDir(rundir).remove()
    slot = state.get("uid_slot")
    if slot is not None:  # only once the tree that ran as this uid is gone
        slot.release()
    state.clear()


_LAUNCHER_EXIT_GRACE_S = 2.0
"""How long a failed start waits for the launcher to exit by itself (see `_start_kernel`)."""


class _LauncherExited(SandboxStartError):
    """The launcher process exited before the kernel answered (`Sandbox._start_kernel`
    tries once more)."""

    def __init__(self, message: str, *, kernel_log: str = "") -> None:
        super().__init__(message, kernel_log=kernel_log)
        self.message = message


class Sandbox:
    """An isolated Python kernel for untrusted code over untrusted data.

    ``with Sandbox(SandboxConfig(...)) as sb: sb.execute("print(1)")``. The kernel starts
    behind OS walls (see `isolation`), runs each cell under the code policy, and is
    restarted by the sandbox after a timeout it does not survive, a crash or a CPU-limit
    kill. The new kernel gets back the injected data, the host functions, the session's
    JSON-data globals (up to `SandboxConfig.restore_max_bytes`) and its functions, classes
    and imports (re-run from their source), as they were after the last cell that finished;
    `ExecutionResult.restored` and `.lost` name what came back and what did not. Host calls
    are never replayed.
    """

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        self._functions = HostFunctions(
            self.config.max_host_request_bytes, self.config.max_host_reply_bytes
        )
        self._injected: dict[str, str] = {}  # name -> file name in the inject directory
        self._defines: list[str] = []  # host definitions, replayed into every new kernel
        self._session = SessionState(self.config.restore_max_bytes)
        self._revival: tuple[tuple[str, ...], tuple[str, ...]] | None = None
        self._state: dict[str, Any] = {}
        self._finalizer = weakref.finalize(self, _finalize, self._state)
        _exit.track_sandbox(self)
        self._isolation: IsolationReport | None = None
        self._closed = False
        self._launcher = ""
        self._process_limit = "none"
        self._memory_limit = "none"
        self._rlimits: dict[str, tuple[int, int]] = {}
        self._layout: _walls.Layout | None = None
        self._uid: int | None = None
        self._seccomp = ""
        """What the seccomp filter refuses, or why there is none."""

    # -- life cycle ---------------------------------------------------------------------
    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def start(self) -> None:
        """Start the kernel and measure its isolation (done by ``with`` on entry)."""
        missing = self._start_quietly()
        if missing:
            warnings.warn(missing, IsolationWarning, stacklevel=2)

    def _start_quietly(self) -> str:
        """`start` without the warning (a pool starts kernels in a background thread and
        warns in the thread that acquires one); return the warning's text or ""."""
        self._check_open()
        if "kernel" in self._state:
            return ""
        try:
            self._prepare()
            self._start_kernel()
            self._isolation = self._probe()
        except BaseException:
            self.close()
            raise
        missing = self._isolation.missing
        if missing and self.config.require_isolation:
            details = "; ".join(f"{m}: {self._isolation.details.get(m, '')}" for m in missing)
            self.close()
            raise IsolationError(missing, details)
        if missing:
            return (
                f"sandbox isolation layers missing: {', '.join(missing)} "
                f"(launcher {self._launcher!r}); see Sandbox.isolation"
            )
        return ""

    def close(self) -> None:
        """Kill the kernel's whole process tree and delete its files. Idempotent."""
        self._closed = True
        self._finalizer()
        # At interpreter exit the finalizer may already have run while another thread (a
        # pool's refill) was still starting this kernel: clean up what that start added.
        _finalize(self._state)

    def restart(self) -> None:
        """Kill the kernel and start a fresh one with injected data and host functions only.

        A deliberate restart empties the namespace; the automatic restart after a kernel
        death restores the session's state instead.
        """
        self._check_open()
        if "kernel" not in self._state:
            self.start()
            return
        self._state.pop("kernel").stop()
        self._session.clear()
        self._revival = None
        self._start_kernel()

    def _kernel_alive(self) -> bool:
        kernel = self._state.get("kernel")
        return kernel is not None and kernel.process.alive()

    @property
    def isolation(self) -> IsolationReport:
        """Isolation layers measured by probes inside the kernel when it started."""
        if self._isolation is None:
            raise SandboxClosedError("the sandbox has not started; use it in a with block")
        return self._isolation

    @property
    def kernel_log(self) -> str:
        """The last ~64 KiB the kernel process wrote to its own fd 1 and 2, and a line
        counting the messages from the kernel the host dropped (bad signature, oversized,
        not for the request in flight, ...)."""
        kernel: _Kernel | None = self._state.get("kernel")
        if kernel is None:
            return ""
        dropped = kernel.connection.drop_report()[:1000]
        text = kernel.process.log.text()
        if not dropped:
            return text
        return text[-(LOG_KEEP_BYTES - len(dropped) - 2) :] + f"\n{dropped}\n"

    def kernel_pids(self) -> list[int]:
        """Host pids of the kernel's process tree (for tests and diagnostics)."""
        kernel: _Kernel | None = self._state.get("kernel")
        if kernel is None:
            return []
        pids = {kernel.process.pid, *kernel.process.descendants()}
        pids.update(kernel.cgroups.members())
        return sorted(pids)

    # -- the public operations ----------------------------------------------------------
    def execute(self, code: str) -> ExecutionResult:
        """Run one cell; failures come back in the result, never as an exception.

        After a kernel death (here or since the last call) the result has `restarted`, and
        `restored`/`lost` name the session's state that did or did not come back.
        """
        if not isinstance(code, str):
            raise SandboxConfigError(f"code must be a str, got {type(code).__name__}")
        self._ensure_kernel()
        kernel: _Kernel = self._state["kernel"]
        outcome = self._send(code, None, self.config.timeout_s)
        result = self._explain(outcome.result, kernel.oom_kills)
        if outcome.kill_needed:
            self._revive()
        else:
            kernel.reap_strays()
            self._session.apply(outcome.extra.get("state"))
        revival, self._revival = self._revival, None
        if revival is None:
            return result
        restored, lost = revival
        result = _replace(result, restarted=True, restored=restored, lost=lost)
        if outcome.kill_needed and result.error is not None:
            error = result.error
            message = f"{error.message}; {describe(restored, lost)}"
            result = _replace(result, error=CellError(error.type, message, error.traceback))
        return result

    def inject(self, name: str, value: Any) -> None:
        """Place JSON data under `name` in the kernel's namespace, through a read-only file."""
        _check_name(name, "injected value")
        import orjson

        try:
            data = orjson.dumps(value)
        except orjson.JSONEncodeError:
            # Lone surrogates or integers beyond 64 bits (valid JSON data, not orjson's):
            # cleaned as `clean_json` documents; anything else is not JSON data.
            try:
                data = orjson.dumps(clean_json(value))
            except orjson.JSONEncodeError as exc:
                raise SandboxConfigError(
                    f"inject({name!r}): value is not JSON data: {exc}"
                ) from None
        self._ensure_kernel()
        rundir: Path = self._state["rundir"]
        file_name = f"{name}-{secrets.token_hex(4)}.json"
        fd = os.open(
            rundir / "inject" / file_name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
        )
        os.fchmod(fd, 0o644)  # the kernel may run as another uid (its folder is private)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        old = self._injected.get(name)
        self._injected[name] = file_name
        if old:
            with contextlib.suppress(OSError):
                (rundir / "inject" / old).unlink()
        self._op({"op": "inject", "name": name, "path": self._inject_path(file_name)})

    def define(self, source: str) -> ExecutionResult:
        """Run host-written definitions (under the same code policy as cells) and publish
        the public names they bind into the session's namespace.

        They run in a clean namespace holding only injected data, host functions and
        earlier definitions, so no name a cell bound (a shadowed ``print``, ``re`` or
        ``len``) can steer them; functions they define keep that namespace. A definition
        that succeeded is replayed into every new kernel, like injected data.
        """
        if not isinstance(source, str):
            raise SandboxConfigError(f"source must be a str, got {type(source).__name__}")
        self._ensure_kernel()
        kernel: _Kernel = self._state["kernel"]
        outcome = self._send("", {"op": "define", "source": source}, self.config.timeout_s)
        if outcome.result.ok and not outcome.kill_needed:
            self._defines.append(source)
        return self._explain(outcome.result, kernel.oom_kills)

    def fetch(self, name: str, *, max_bytes: int = 1_000_000, max_depth: int = 100) -> Any:
        """The value of the kernel's global `name`, as JSON data.

        The kernel's own code serialises it (orjson; values that are not JSON data become
        their ``str()``) and returns the text in its reply, so nothing a cell bound or
        printed can change what the host reads. The host then checks the text's size,
        parses it and checks its nesting. Raises `FetchError` (a ``ValueError``) saying
        why when it cannot: no such name, over `max_bytes` or `max_depth`, or the kernel
        failed (a dead kernel is revived by the next `execute`).
        """
        if not isinstance(name, str) or not name.isidentifier():
            raise SandboxConfigError(f"fetch: not a variable name: {name!r}")
        if not 0 < max_bytes <= FETCH_MAX_BYTES:
            raise SandboxConfigError(f"fetch: max_bytes must be in 1..{FETCH_MAX_BYTES}")
        self._ensure_kernel()
        op = {"op": "fetch", "name": name, "max_bytes": max_bytes}
        outcome = self._send("", op, self.config.timeout_s)
        if outcome.result.error is not None:
            raise FetchError(f"{name!r} could not be fetched: {outcome.result.error}")
        text = outcome.extra.get("fetched")
        if not isinstance(text, str) or len(text) > max_bytes:
            raise FetchError(
                f"{name!r}: the kernel's answer is not JSON text of at most {max_bytes} bytes"
            )
        try:
            import orjson

            value = orjson.loads(text)
        except (ValueError, RecursionError, MemoryError) as exc:
            raise FetchError(f"{name!r}: the kernel's JSON does not parse: {exc}") from None
        if _depth_over(value, max_depth):
            raise FetchError(f"{name!r} is nested more than {max_depth} levels deep")
        return value

    def charge_cell_time(self, seconds: float) -> None:
        """From inside a host function: count `seconds` of this call against the running
        cell's wall clock, which host calls otherwise pause (see `HostFunctions.charge`)."""
        self._functions.charge(seconds)

    def register_host_function(self, name: str, fn: Callable[..., Any]) -> None:
        """Make ``name(...)`` callable from kernel code; `fn` runs on the host, JSON in/out."""
        self._functions.register(name, fn)
        if "kernel" in self._state:
            self._op({"op": "register", "name": name})

    # -- internals ----------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise SandboxClosedError("the sandbox is closed; create a new Sandbox")

    def _ensure_kernel(self) -> None:
        """Start the kernel, or revive it with the session's state if it died."""
        self._check_open()
        kernel = self._state.get("kernel")
        if kernel is None:
            self.start()
        elif not kernel.process.alive():
            self._revive()

    def _revive(self) -> None:
        """Replace a dead (or killed) kernel and restore the session's state into the new one;
        `_revival` keeps (restored, lost) for the next result."""
        kernel = self._state.pop("kernel", None)
        if kernel is not None:
            kernel.stop()
        self._start_kernel()
        self._revival = self._restore()

    def _restore(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        if not self._session.globals and not self._session.definitions:
            return (), self._session.lose_all()
        rundir: Path = self._state["rundir"]
        file_name = f"restore-{secrets.token_hex(4)}.json"
        path = rundir / "inject" / file_name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW)
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "wb") as handle:
            handle.write(self._session.payload())
        try:
            op = {"op": "restore", "path": self._inject_path(file_name)}
            # Host calls are never replayed: the kernel refuses them during a restore, and
            # the host answers from an empty table whatever the kernel sends.
            outcome = self._send("", op, self.config.timeout_s, functions=_NO_FUNCTIONS)
        finally:
            path.unlink()
        if outcome.kill_needed or outcome.result.error is not None:
            # A definition that no longer runs (or hangs) must not take the session down:
            # start clean, and say that nothing of the session came back.
            self._state.pop("kernel").stop()
            self._start_kernel()
            return (), self._session.lose_all()
        return self._session.settle(outcome.extra)

    def _inject_path(self, file_name: str) -> str:
        assert self._layout is not None
        return f"{self._layout.inject_dir}/{file_name}"

    def _prepare(self) -> None:
        rundir = _short_tmp()
        self._state["rundir"] = rundir
        _walls.RunDir(rundir).create()
        self._launcher = _walls.choose_launcher(self.config.launcher)
        run = _walls.RunDir(rundir)
        if self._launcher == "bwrap" and os.geteuid() == 0:
            # Never host root: bwrap's user namespace would map the kernel to uid 0.
            try:
                slot = UidSlot.acquire()
            except OSError as exc:
                raise SandboxStartError(f"no unprivileged uid for the kernel: {exc}") from None
            self._state["uid_slot"] = slot
            self._uid = slot.uid
            run.hand_to(slot.uid)
        seccomp = False
        if self._launcher == "bwrap":
            try:
                run.seccomp.write_bytes(_seccomp.filter_bpf())
                seccomp, self._seccomp = True, _seccomp.describe()
            except _seccomp.SeccompUnavailable as exc:
                self._seccomp = str(exc)
        else:
            self._seccomp = f"no filter with launcher {self._launcher!r} (bwrap installs it)"
        cgroups = TreeCgroups.create(self._cgroup_limits())
        self._state["cgroups"] = cgroups  # taken by the first kernel; each later one gets new
        nproc = None
        if "pids" in cgroups.controllers:
            self._process_limit = "cgroup-pids"
        elif self.config.max_processes is not None and self._uid is not None:
            nproc = self.config.max_processes  # the kernel's uid is its own
            self._process_limit = "rlimit-nproc"
        elif self.config.max_processes is not None and os.getuid() != 0:
            # Counted per uid, host processes included: the best a non-root host can do.
            nproc = _uid_process_count() + self.config.max_processes
            self._process_limit = "rlimit-nproc"
        self._rlimits = _clamp_rlimits(self.config, nproc)
        if "memory" in cgroups.controllers:
            self._memory_limit = "cgroup-memory"
        elif "RLIMIT_AS" in self._rlimits:
            self._memory_limit = "rlimit-as"
        settings = {
            "policy": self.config.policy,
            "max_output_chars": self.config.max_output_chars,
            "max_request_bytes": self.config.max_host_request_bytes,
            "restore_max_bytes": self.config.restore_max_bytes,
        }
        env = {
            "PATH": "/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1",
            "MALLOC_ARENA_MAX": "2",
            "JUPYTER_PLATFORM_DIRS": "1",
            SETTINGS_ENV: json.dumps(settings),
        }
        scratch = None if self.config.scratch_mb is None else self.config.scratch_mb * MiB
        self._layout = _walls.build_layout(
            self._launcher, run, env, scratch, uid=self._uid, seccomp=seccomp
        )

    def _cgroup_limits(self) -> dict[str, int]:
        limits: dict[str, int] = {}
        if self.config.max_processes is not None:
            limits["pids"] = self.config.max_processes
        if self.config.tree_memory_mb is not None:
            limits["memory"] = self.config.tree_memory_mb * MiB
        if self.config.cpus is not None:
            limits["cpu"] = max(1000, round(self.config.cpus * CPU_PERIOD_US))
        return limits

    def _start_kernel(self) -> None:
        """Start the kernel behind the walls. A launcher that exits before the kernel is up
        (by itself, or within `_LAUNCHER_EXIT_GRACE_S` of the kernel's death) is started
        once more, with the same walls, for causes outside the sandbox (a launcher or
        kernel killed from outside); if the second start fails too, both causes are
        named. A kernel still running at the deadline is not started again."""
        try:
            self._start_kernel_once()
        except _LauncherExited as first:
            try:
                self._start_kernel_once()
            except _LauncherExited as second:
                raise SandboxStartError(
                    f"{second.message} (a first start failed too: {first.message})",
                    kernel_log=second.kernel_log,
                ) from None

    def _start_kernel_once(self) -> None:
        layout, rundir = self._layout, _walls.RunDir(self._state["rundir"])
        assert layout is not None
        for stale in list(rundir.ipc.iterdir()) + list(rundir.conn.iterdir()):
            stale.unlink()
        key = KernelConnection.new_key()
        write_connection_file(rundir.conn / "kernel.json", layout.ipc_base, key, self._uid)
        # Fresh cgroups per kernel: a dead kernel's counters and charges go with it.
        cgroups: TreeCgroups | None = self._state.pop("cgroups", None)
        if cgroups is None:
            cgroups = TreeCgroups.create(self._cgroup_limits())
        spec: dict[str, object] = {
            "cgroups": cgroups.paths,
            "rlimits": self._rlimits,
            "stage": layout.stage,
            "uid": self._uid,
            "seccomp": str(rundir.seccomp) if rundir.seccomp.exists() else None,
            "argv": layout.argv,
        }
        cwd = str(rundir.scratch)
        try:
            process = KernelProcess(_walls.launcher_command(spec), layout.env, cwd, cgroups)
        except BaseException:
            cgroups.remove()
            raise
        connection = KernelConnection(key, channel_limits(self.config))
        kernel = _Kernel(process, connection, cgroups)
        self._state["kernel"] = kernel

        def locate() -> str | None:
            if not layout.ipc_in_sandbox:
                return str(rundir.ipc / "k")
            inner = _process_children(process.pid)  # bwrap's PID 1, inside the new root
            return f"/proc/{inner[0]}/root{layout.ipc_base}" if inner else None

        try:
            deadline = time.monotonic() + self.config.start_timeout_s
            connection.wait_ready(deadline, process.alive, locate)
        except TimeoutError as exc:
            self._state.pop("kernel")
            # A kernel that died before the deadline takes its launcher with it, but not
            # at once: unshare notices its child's death a moment later (under load, tens
            # of ms). Waiting briefly tells "the kernel was killed" from "it is stuck".
            grace = _LAUNCHER_EXIT_GRACE_S if time.monotonic() < deadline else 0.0
            exited = process.exited_within(grace)
            kernel.stop()
            error = SandboxStartError if not exited else _LauncherExited
            log = process.log.text()[-4000:]
            cause = _walls.launcher_exit_cause(log)
            raise error(
                f"the sandbox kernel did not start ({exc}; process "
                f"{process.exit_description()}{'; ' + cause if cause else ''})",
                kernel_log=log,
            ) from None
        kernel.own_pids = frozenset([process.pid, *process.descendants()])
        for name, file_name in self._injected.items():
            self._op({"op": "inject", "name": name, "path": self._inject_path(file_name)})
        for name in self._functions.names():
            self._op({"op": "register", "name": name})
        for source in self._defines:  # succeeded before; a failure now shows as a NameError
            self._send("", {"op": "define", "source": source}, self.config.timeout_s)

    def _probe(self) -> IsolationReport:
        assert self._layout is not None
        rundir = _walls.RunDir(self._state["rundir"])
        hidden = [str(rundir.canary), "/etc/passwd"]
        project = _walls.SANDBOX_PACKAGE.parent
        if (project / "pyproject.toml").exists():
            hidden.append(str(project / "pyproject.toml"))
        home = Path.home()
        _python, prefix = _walls.interpreter()
        with contextlib.suppress(OSError):
            for entry in sorted(home.iterdir())[:8]:
                if not prefix.startswith(str(entry) + "/"):
                    hidden.append(str(entry))
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
            listener.bind(("127.0.0.1", 0))
            listener.listen(1)
            seen = self._op(
                {
                    "op": "probe",
                    "hidden_paths": hidden,
                    "readonly_dirs": self._layout.readonly_dirs,
                    "port": listener.getsockname()[1],
                }
            ).get("probe", {})
        expected = {
            "memory": self._rlimits.get("RLIMIT_AS", (None,))[0],
            "cpu": self._rlimits.get("RLIMIT_CPU", (None,))[0],
            "file_size": self._rlimits.get("RLIMIT_FSIZE", (None,))[0],
            "open_files": self._rlimits.get("RLIMIT_NOFILE", (None,))[0],
            "core": 0,
        }
        process_limit, memory_limit = self._process_limit, self._memory_limit
        kernel: _Kernel = self._state["kernel"]
        pids_group, memory_group = kernel.cgroups.holding("pids"), kernel.cgroups.holding("memory")
        if pids_group is not None and kernel.process.pid not in pids_group.members():
            process_limit = "none"
        if memory_group is not None and kernel.process.pid not in memory_group.members():
            memory_limit = "rlimit-as" if "RLIMIT_AS" in self._rlimits else "none"
        cpu_group = kernel.cgroups.holding("cpu")
        cpu_limit = "rlimit-cpu" if "RLIMIT_CPU" in self._rlimits else "none"
        if cpu_group is not None and kernel.process.pid in cpu_group.members():
            cpu_limit = "cgroup-cpu"
        tree = self.config.tree_memory_mb
        scratch = None if self.config.scratch_mb is None else self.config.scratch_mb * MiB
        return judge_probes(
            seen if isinstance(seen, dict) else {},
            launcher=self._launcher,
            allowed_env=set(self._layout.env) | ALLOWED_EXTRA_ENV,
            expected_rlimits=expected,
            process_limit=process_limit,
            memory_limit=memory_limit,
            tree_memory_bytes=None if tree is None else tree * MiB,
            scratch_bytes=scratch,
            host_uids=tuple(_host_uid(pid) for pid in self.kernel_pids()),
            cpu_limit=cpu_limit,
            cpu_quota=kernel.cgroups.cpu_quota(),
            seccomp_filter=self._seccomp,
        )

    def _op(self, op: dict[str, Any]) -> dict[str, Any]:
        """Run a host-issued operation in the kernel; raise if it fails.

        A kernel killed by an operation stays dead; the next `execute` revives it.
        """
        outcome = self._send("", op, OP_TIMEOUT_S)
        if outcome.result.error is not None:
            error = self._explain(outcome.result, 0).error
            raise SandboxRuntimeError(f"sandbox operation {op['op']!r} failed: {error}")
        return outcome.extra

    def _send(
        self,
        code: str,
        op: dict[str, Any] | None,
        timeout: float | None,
        functions: HostFunctions | None = None,
    ) -> Outcome:
        """One cell or operation under the watchdog; a kernel that must die is killed here."""
        from sandbox._watchdog import run_cell

        kernel: _Kernel = self._state["kernel"]
        outcome = run_cell(
            kernel.connection,
            kernel.process,
            self._functions if functions is None else functions,
            code,
            op,
            timeout=timeout,
            grace=self.config.interrupt_grace_s,
            max_output=self.config.max_output_chars,
        )
        if outcome.kill_needed:
            kernel.stop()
        return outcome

    def _explain(self, result: ExecutionResult, oom_kills: int) -> ExecutionResult:
        """Add the limits to memory errors and kernel deaths (the model can act on them);
        `oom_kills` counts the processes the tree's memory limit ended in the kernel's life."""
        tree = self.config.tree_memory_mb if self._memory_limit == "cgroup-memory" else None
        per_process = self.config.memory_mb
        memory = "none per process" if per_process is None else f"{per_process} MB per process"
        if tree is not None:
            memory += f", {tree} MB for its whole process tree"
        if result.error is not None and result.error.type == "MemoryError":
            note = f"the kernel's memory limit is {memory}"
            result = _replace(result, error=CellError("MemoryError", note, result.error.traceback))
        if result.error is not None and result.error.type == "KernelDied":
            cause = ""
            if tree is not None and oom_kills:
                cause = (
                    f"; the kernel's process tree reached its memory limit of {tree} MB and "
                    f"the OOM killer ended {oom_kills} of its processes"
                )
            message = (
                f"{result.error.message}{cause}; limits: memory {memory}, CPU "
                f"{self.config.cpu_s} s over the kernel's life; the sandbox restarted the kernel"
            )
            result = _replace(result, error=CellError("KernelDied", message))
        return result


_NO_FUNCTIONS = HostFunctions(1024, 1024)
"""Answers every host call with "no host function" (used while a session is restored)."""

FETCH_MAX_BYTES = 4 * MiB
"""Largest JSON text `Sandbox.fetch` accepts."""


def _depth_over(value: Any, limit: int) -> bool:
    """Whether `value` nests lists and dicts more than `limit` levels (no recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


def channel_limits(config: SandboxConfig) -> dict[str, int]:
    """The largest message the host accepts on each channel, from the limits the kernel's
    own messages respect: the whole (host-capped) cell output, error texts and the state
    delta on shell, output copies on IOPub, a host call on stdin. JSON escaping is counted
    in: up to 6 bytes per output character, 2 per byte of JSON text carried as a string."""
    cap = config.max_output_chars
    output = 256 * MiB if cap is None else 6 * cap
    restore = config.restore_max_bytes
    state = 256 * MiB if restore is None else 2 * restore
    return {
        "shell": 1 * MiB + output + 6 * 3 * MAX_ERROR_CHARS + state + 2 * FETCH_MAX_BYTES,
        "iopub": max(2 * MiB, output + 64 * 1024),
        "stdin": 2 * config.max_host_request_bytes + 64 * 1024,
        "control": 64 * 1024,
    }


def _replace(result: ExecutionResult, **changes: Any) -> ExecutionResult:
    from dataclasses import replace

    return replace(result, **changes)


def _process_children(pid: int) -> list[int]:
    from sandbox._process import children

    return children(pid)


def _host_uid(pid: int) -> int:
    """The real uid of host process `pid` (-1 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Uid:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return -1


def _check_name(name: str, what: str) -> None:
    if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
        raise SandboxConfigError(
            f"{what} name must be an identifier not starting with '_', got {name!r}"
        )
