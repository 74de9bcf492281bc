"""The command that starts a kernel behind the walls: bubblewrap, `unshare`, or bare.

bubblewrap gives the kernel new user, PID, mount, network, IPC, UTS and cgroup namespaces
and a file-system view built from nothing: the interpreter and the needed site-packages
read-only, the `sandbox` package read-only under a neutral path, the connection file and
injected data read-only from host-owned directories, a tiny tmpfs for the IPC sockets, a
size-capped tmpfs as scratch (cwd, HOME, /tmp), ``/proc/sys`` read-only, and a seccomp
filter. On a root host bubblewrap itself runs as an unprivileged uid (`_uids`); paths that
uid cannot reach are staged by the launcher (`stage` below). `unshare` (util-linux) is the
fallback: network, PID and mount namespaces but the host's file system. "none" applies only
the environment scrub and the rlimits. The probes, not this module, say what holds.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sandbox.errors import SandboxStartError

SANDBOX_PACKAGE = Path(__file__).resolve().parent
SHM_DIR = "/dev/shm"
# Modules the kernel imports; their site directories are bound read-only.
KERNEL_MODULES = ("ipykernel", "zmq", "jupyter_client", "IPython", "RestrictedPython", "orjson")
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32")

# Paths inside the bubblewrap view.
BOX_PKG, BOX_SITE, BOX_CONN, BOX_IPC, BOX_INJECT, BOX_SCRATCH = (
    "/sbx/pkg",
    "/sbx/site",
    "/sbx/conn",
    "/sbx/ipc",
    "/sbx/inject",
    "/scratch",
)


@dataclass(frozen=True)
class RunDir:
    """Host-side directories of one sandbox (short paths: IPC sockets need < 100 bytes)."""

    root: Path

    @property
    def conn(self) -> Path:
        return self.root / "conn"

    @property
    def ipc(self) -> Path:
        return self.root / "ipc"

    @property
    def inject(self) -> Path:
        return self.root / "inject"

    @property
    def scratch(self) -> Path:
        return self.root / "scratch"

    @property
    def stage(self) -> Path:
        return self.root / "stage"

    @property
    def canary(self) -> Path:
        return self.root / "canary"

    @property
    def seccomp(self) -> Path:
        return self.root / "seccomp.bpf"

    def create(self) -> None:
        for path in (self.conn, self.ipc, self.scratch):
            path.mkdir(mode=0o700, exist_ok=True)
        # Injected data goes to RAM when the host has a tmpfs: on a disk-backed /tmp the
        # first write of a 100 MB trace took 0.35 s (dirty-page throttling) against 0.05 s.
        # The cost is RAM for the life of the sandbox (the file is kept for replay).
        shm = SHM_DIR if os.path.isdir(SHM_DIR) and os.access(SHM_DIR, os.W_OK) else None
        if shm is None:
            self.inject.mkdir(mode=0o700, exist_ok=True)
        else:
            self.inject.symlink_to(tempfile.mkdtemp(prefix="sbx-inject-", dir=shm))
        self.canary.write_text("host-only canary\n")

    def hand_to(self, uid: int) -> None:
        """Give the kernel's uid what it must reach: the run directory (to traverse), the
        connection and injected-data folders (bound read-only inside) and scratch. The
        canary, the seccomp filter and staged mount points stay the host's."""
        for path in (self.root, self.conn, self.ipc, self.scratch, self.inject.resolve()):
            os.chown(path, uid, uid)

    def remove(self) -> None:
        """Delete the run directory and the injected data wherever it lives."""
        if self.inject.is_symlink():
            with contextlib.suppress(OSError):
                shutil.rmtree(os.readlink(self.inject), ignore_errors=True)
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass(frozen=True)
class Layout:
    """How to start one kernel: the command, its environment, and its view of the paths."""

    launcher: str
    argv: list[str]
    env: dict[str, str]
    conn_file: str
    ipc_base: str
    inject_dir: str
    scratch: str
    readonly_dirs: list[str]
    ipc_in_sandbox: bool
    """The IPC sockets live on a tmpfs inside the sandbox, reached via /proc/PID/root."""
    stage: list[list[str]]
    """[source, mount point] pairs the launcher binds before dropping to the kernel's uid."""


def site_dirs() -> list[Path]:
    """Directories holding the packages the kernel imports, in import order."""
    found: list[Path] = []
    for name in KERNEL_MODULES:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            continue
        origin = Path(spec.origin).resolve()
        root = origin.parent.parent if origin.name == "__init__.py" else origin.parent
        if root not in found:
            found.append(root)
    for key in ("purelib", "platlib"):
        path = Path(sysconfig.get_paths()[key]).resolve()
        if path.is_dir() and path not in found:
            found.append(path)
    return found


def interpreter() -> tuple[str, str]:
    """The real interpreter binary and the prefix holding its standard library."""
    return os.path.realpath(sys.executable), os.path.realpath(sys.base_prefix)


@functools.cache
def bwrap_problem() -> str | None:
    """Why bubblewrap cannot build our namespaces here, or None when it can.

    On a root host the probe runs the way kernels do, as an unprivileged uid: that is where
    a restriction of unprivileged user namespaces (AppArmor on recent Ubuntu) bites.
    """
    path = shutil.which("bwrap")
    if path is None:
        return "bubblewrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    argv = [path, *_bwrap_namespace_flags(), "--ro-bind", "/", "/", "--", "/bin/true"]
    slot = None
    if os.geteuid() == 0:
        from sandbox._uids import UidSlot

        try:
            slot = UidSlot.acquire()
        except OSError as exc:
            return f"no unprivileged uid for the kernel: {exc}"
    try:
        spec: dict[str, object] = {"argv": argv, "uid": slot.uid if slot else None}
        spec["new_keyring"] = False
        done = subprocess.run(launcher_command(spec), capture_output=True, timeout=20)
    finally:
        if slot is not None:
            slot.release()
    if done.returncode == 0:
        return None
    said = done.stderr.decode(errors="replace").strip().splitlines()
    return explain_bwrap_failure(
        said[-1] if said else f"exit status {done.returncode}", restricted=_userns_restricted()
    )


def explain_bwrap_failure(reason: str, *, restricted: bool) -> str:
    """What a failed bubblewrap probe means and what to do, from its last stderr line."""
    if restricted or "ermission denied" in reason or "No permissions" in reason:
        return (
            f"bubblewrap cannot create a user namespace here ({reason}). Unprivileged user "
            "namespaces look restricted (on Ubuntu 23.10+ by AppArmor: "
            "kernel.apparmor_restrict_unprivileged_userns=1). Allow them for bwrap with an "
            "AppArmor profile granting `userns` to /usr/bin/bwrap, or set that sysctl to 0, "
            "or accept weaker walls with SandboxConfig(launcher='unshare')"
        )
    return f"bubblewrap failed its start-up probe: {reason}"


def _userns_restricted() -> bool:
    for name in (
        "kernel/apparmor_restrict_unprivileged_userns",
        "kernel/unprivileged_userns_clone",
    ):
        try:
            value = Path("/proc/sys", name).read_text().strip()
        except OSError:
            continue
        if value == ("1" if "apparmor" in name else "0"):
            return True
    return False


def bwrap_path() -> str | None:
    """Path of a bubblewrap that can build our namespaces here, or None."""
    return None if bwrap_problem() else shutil.which("bwrap")


@functools.cache
def unshare_path() -> str | None:
    """Path of a util-linux `unshare` that can build our namespaces here, or None."""
    path = shutil.which("unshare")
    if path is None:
        return None
    probe = [path, *_unshare_flags(), "--", "/bin/true"]
    ok = subprocess.run(probe, capture_output=True, timeout=20).returncode == 0
    return path if ok else None


def reachable_by_others(path: str) -> bool:
    """Whether a uid with no relation to the path's owners can traverse to `path`."""
    current = Path(path)
    for directory in (current, *current.parents):
        try:
            mode = directory.stat().st_mode
        except OSError:
            return False
        if not mode & 0o001:
            return False
    return True


class _Stager:
    """Sources for bubblewrap's binds: the path itself, or a staged mount point for a path
    the kernel's uid cannot traverse (pyenv's interpreter under /root, mode 0700)."""

    def __init__(self, rundir: RunDir, uid: int | None) -> None:
        self.rundir, self.uid = rundir, uid
        self.binds: list[list[str]] = []

    def source(self, path: str) -> str:
        if self.uid is None or reachable_by_others(path):
            return path
        point = self.rundir.stage / str(len(self.binds))
        point.mkdir(parents=True, mode=0o755)
        self.binds.append([path, str(point)])
        return str(point)


def _bwrap_namespace_flags() -> list[str]:
    return [
        "--unshare-all",
        "--unshare-user",
        "--disable-userns",
        "--die-with-parent",
        "--new-session",
        "--cap-drop",
        "ALL",
    ]


def _unshare_flags() -> list[str]:
    flags = ["--net", "--pid", "--mount", "--fork", "--kill-child", "--mount-proc"]
    if os.getuid() != 0:
        flags += ["--user", "--map-root-user"]
    return flags


def launcher_exit_cause(log: str) -> str:
    """What a launcher's last words in `log` mean, when they are a known way of dying."""
    if "sigprocmask unblock failed" in log:
        # util-linux unshare re-raises the signal that ended its child; for SIGKILL,
        # signal(2) refuses (EINVAL) and unshare exits 1 with this line instead.
        return "the kernel was killed by SIGKILL from outside the sandbox"
    return ""


def _kernel_argv(python: str, paths: list[str], conn_file: str) -> list[str]:
    boot = f"import sys;sys.path[:0]={paths!r};from sandbox._kernel import main;main()"
    return [python, "-I", "-c", boot, "-f", conn_file]


def build_layout(
    launcher: str,
    rundir: RunDir,
    env: dict[str, str],
    scratch_bytes: int | None,
    *,
    uid: int | None = None,
    seccomp: bool = False,
) -> Layout:
    """The command for `launcher` ("bwrap", "unshare" or "none") over `rundir`.

    For bwrap: `uid` is the unprivileged host uid bubblewrap will run as (None: the host's
    own), and `seccomp` adds the filter the launcher opens from ``rundir.seccomp``.
    """
    python, prefix = interpreter()
    sites = site_dirs()
    if launcher == "bwrap":
        bwrap = bwrap_path()
        assert bwrap is not None
        stager = _Stager(rundir, uid)
        box_env = {**env, "HOME": BOX_SCRATCH, "TMPDIR": BOX_SCRATCH}
        args = [bwrap, *_bwrap_namespace_flags(), "--uid", "65534", "--gid", "65534"]
        if seccomp:
            args += ["--add-seccomp-fd", "{seccomp_fd}"]
        args += ["--hostname", "sandbox"]
        for name in SYSTEM_DIRS:
            if os.path.islink(name):
                args += ["--symlink", os.readlink(name), name]
            elif os.path.isdir(name):
                args += ["--ro-bind", name, name]
        readonly = ["/usr"]
        if not prefix.startswith("/usr/"):
            args += ["--ro-bind", stager.source(prefix), prefix]
            readonly.append(prefix)
        if not python.startswith((prefix + "/", "/usr/")):
            python_dir = os.path.dirname(python)
            args += ["--ro-bind", stager.source(python_dir), python_dir]
        paths = [BOX_PKG]
        args += ["--ro-bind", stager.source(str(SANDBOX_PACKAGE)), f"{BOX_PKG}/sandbox"]
        for index, site in enumerate(sites):
            args += ["--ro-bind", stager.source(str(site)), f"{BOX_SITE}{index}"]
            paths.append(f"{BOX_SITE}{index}")
        readonly += [f"{BOX_PKG}/sandbox", f"{BOX_SITE}0", BOX_CONN, BOX_INJECT]
        args += ["--ro-bind", str(rundir.conn), BOX_CONN]
        args += ["--ro-bind", str(rundir.inject), BOX_INJECT]
        # Sockets on their own tiny tmpfs inside the sandbox: nothing of the host's disk is
        # writable, and the host reaches them through /proc/PID/root.
        args += ["--size", str(1024 * 1024), "--perms", "0700", "--tmpfs", BOX_IPC]
        # bwrap covers /proc/sys only when it finds the directory writable, which a 0555
        # directory never is, although files under it were (for a kernel that mapped to
        # host root): cover it always.
        args += ["--dev", "/dev", "--proc", "/proc", "--ro-bind", "/proc/sys", "/proc/sys"]
        if scratch_bytes is not None:
            args += ["--size", str(scratch_bytes)]
        args += ["--perms", "0700", "--tmpfs", BOX_SCRATCH, "--symlink", BOX_SCRATCH, "/tmp"]
        args += ["--chdir", BOX_SCRATCH, "--"]
        conn = f"{BOX_CONN}/kernel.json"
        args += _kernel_argv(python, paths, conn)
        return Layout(
            "bwrap", args, box_env, conn, f"{BOX_IPC}/k", BOX_INJECT, BOX_SCRATCH, readonly,
            True, stager.binds,
        )  # fmt: skip
    scratch = str(rundir.scratch)
    host_env = {**env, "HOME": scratch, "TMPDIR": scratch}
    paths = [str(SANDBOX_PACKAGE.parent), *map(str, sites)]
    conn = str(rundir.conn / "kernel.json")
    args = _kernel_argv(python, paths, conn)
    if launcher == "unshare":
        unshare = unshare_path()
        assert unshare is not None
        args = [unshare, *_unshare_flags(), "--", *args]
    readonly = ["/usr", str(SANDBOX_PACKAGE), str(rundir.conn), str(rundir.inject)]
    return Layout(
        launcher,
        args,
        host_env,
        conn,
        str(rundir.ipc / "k"),
        str(rundir.inject),
        scratch,
        readonly,
        False,
        [],
    )


def choose_launcher(requested: str) -> str:
    """The launcher to use: the requested one, or for "auto" the strongest that works."""
    if requested == "auto":
        if bwrap_path():
            return "bwrap"
        return "unshare" if unshare_path() else "none"
    if requested == "bwrap" and bwrap_problem():
        raise SandboxStartError(f"launcher='bwrap' was asked for, but {bwrap_problem()}")
    if requested == "unshare" and not unshare_path():
        raise SandboxStartError(
            "launcher='unshare' was asked for, but util-linux unshare cannot build the namespaces here"
        )
    return requested


def launcher_command(spec: dict[str, object]) -> list[str]:
    """argv of the launcher script that applies `spec` (cgroups, rlimits, staged binds,
    uid, keyring, seccomp) and execs (see `_launcher`)."""
    script = str(Path(__file__).with_name("_launcher.py"))
    return [sys.executable, "-I", "-S", script, json.dumps(spec)]
