"""Isolation probes, run inside the kernel at start; the host judges what they saw.

`run_probes` runs in the kernel and only looks (it creates and removes one empty file per
directory it tests for writability). `judge_probes` runs on the host and turns what the
kernel saw into an `IsolationReport`. The kernel's answer is untrusted, so the judgement
leans on host-side facts where it can (namespace ids are compared with the host's own).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import platform
import resource
import secrets
import socket
from typing import Any

from sandbox.results import IsolationReport

NAMESPACES = ("net", "pid", "mnt", "user", "ipc", "uts")
RLIMITS = {
    "memory": "RLIMIT_AS",
    "cpu": "RLIMIT_CPU",
    "file_size": "RLIMIT_FSIZE",
    "open_files": "RLIMIT_NOFILE",
    "core": "RLIMIT_CORE",
    "processes": "RLIMIT_NPROC",
}


PROC_SYS_FILES = (
    "kernel/core_pattern",
    "vm/drop_caches",
    "vm/panic_on_oom",
    "fs/suid_dumpable",
    "fs/protected_symlinks",
)
"""Host-global settings the probe opens for writing (never writes): a kernel that maps to
host root could change them, and a ``core_pattern`` pipe runs as host root."""
_SYS_KEYCTL = {"x86_64": 250, "aarch64": 219}
_AF_VSOCK = 40


def _proc_sys() -> dict[str, str]:
    results: dict[str, str] = {}
    for name in PROC_SYS_FILES:
        try:
            fd = os.open(f"/proc/sys/{name}", os.O_WRONLY)
        except OSError as exc:
            results[name] = errno.errorcode.get(exc.errno or 0, str(exc))
        else:
            os.close(fd)  # opened, nothing written: the wall is not there
            results[name] = "opened"
    return results


def _keyctl() -> str:
    number = _SYS_KEYCTL.get(platform.machine())
    if number is None:
        return "unknown architecture"
    libc = ctypes.CDLL(None, use_errno=True)
    # KEYCTL_GET_KEYRING_ID of the session keyring, without creating one.
    if libc.syscall(number, 0, -3, 0) >= 0:
        return "allowed"
    return errno.errorcode.get(ctypes.get_errno(), "error")


def visible_key_ids() -> list[str]:
    """Ids of the keys this process may view (first column of /proc/keys)."""
    try:
        with open("/proc/keys") as keys:
            return [line.split()[0] for line in keys if line.strip()]
    except OSError:
        return []


def _seccomp_mode() -> str:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Seccomp:"):
                    return line.split()[1]
    except OSError:
        pass
    return "unknown"


def _vsock() -> str:
    try:
        sock = socket.socket(_AF_VSOCK, socket.SOCK_STREAM)
    except OSError as exc:
        return errno.errorcode.get(exc.errno or 0, str(exc))
    sock.close()
    return "created"


def _namespace_ids() -> dict[str, str | None]:
    ids: dict[str, str | None] = {}
    for name in NAMESPACES:
        try:
            ids[name] = os.readlink(f"/proc/self/ns/{name}")
        except OSError:
            ids[name] = None
    return ids


def _can_create_file_in(directory: str) -> bool:
    path = os.path.join(directory, f".sbx-probe-{secrets.token_hex(6)}")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except OSError:
        return False
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(path)
    return True


def _connect(port: int) -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        try:
            sock.connect(("127.0.0.1", port))
        except TimeoutError:
            return "timeout"
        except OSError as exc:
            return errno.errorcode.get(exc.errno or 0, str(exc))
        return "connected"


def _filesystem_type(path: str) -> str:
    best, kind = "", "unknown"
    try:
        with open("/proc/self/mounts") as mounts:
            for line in mounts:
                fields = line.split()
                if len(fields) >= 3 and path.startswith(fields[1]) and len(fields[1]) >= len(best):
                    best, kind = fields[1], fields[2]
    except OSError:
        pass
    return kind


def run_probes(params: dict[str, Any]) -> dict[str, Any]:
    """Inside the kernel: look at the walls and return plain JSON data describing them."""
    rlimits: dict[str, int | None] = {}
    for key, name in RLIMITS.items():
        soft, _hard = resource.getrlimit(getattr(resource, name))
        rlimits[key] = None if soft == resource.RLIM_INFINITY else soft
    cwd = os.getcwd()
    stat = os.statvfs(cwd)
    return {
        "env_names": sorted(os.environ),
        "uid": os.getuid(),
        "pid": os.getpid(),
        "namespaces": _namespace_ids(),
        "visible": [p for p in params.get("hidden_paths", []) if os.path.lexists(p)],
        "writable": [p for p in params.get("readonly_dirs", []) if _can_create_file_in(p)],
        "connect": _connect(int(params["port"])) if params.get("port") else "not tried",
        "rlimits": rlimits,
        "cwd": cwd,
        "home": os.environ.get("HOME", ""),
        "scratch_bytes": stat.f_blocks * stat.f_frsize,
        "scratch_fs": _filesystem_type(cwd),
        "proc_sys": _proc_sys(),
        "keyctl": _keyctl(),
        "keys": visible_key_ids(),
        "seccomp": _seccomp_mode(),
        "vsock": _vsock(),
    }


def judge_probes(
    seen: dict[str, Any],
    *,
    launcher: str,
    allowed_env: set[str],
    # allowed_env: variables the sandbox set itself; any other host variable is a leak.
    expected_rlimits: dict[str, int | None],
    process_limit: str,
    memory_limit: str,
    tree_memory_bytes: int | None,
    scratch_bytes: int | None,
    host_uids: tuple[int, ...] = (),
    cpu_limit: str = "none",
    cpu_quota: float | None = None,
    seccomp_filter: str = "",
) -> IsolationReport:
    """On the host: turn the kernel's observations into an `IsolationReport`.

    `process_limit`, `memory_limit`, `cpu_limit` and `host_uids` are what the host set up
    and checked itself (cgroup membership, ``/proc/PID/status``); a claimed "rlimit-as"
    also needs the limit to be seen inside the kernel. `seccomp_filter` describes the
    filter the host installed, for the details.
    """
    details: dict[str, str] = {}
    names = set(seen.get("env_names", []))
    leaked_env = sorted((names & set(os.environ)) - allowed_env)
    details["environment"] = (
        f"host variables seen: {leaked_env}"
        if leaked_env
        else f"scrubbed; kernel variables: {sorted(names)}"
    )

    visible = list(seen.get("visible", []))
    writable = list(seen.get("writable", []))
    details["filesystem"] = f"visible host paths: {visible}; writable system dirs: {writable}"

    own = _namespace_ids()
    theirs = seen.get("namespaces", {})

    def separate(name: str) -> bool:
        return bool(theirs.get(name)) and theirs.get(name) != own.get(name)

    connect = str(seen.get("connect"))
    details["network"] = f"connect to host 127.0.0.1 listener: {connect}"
    network = separate("net") and connect != "connected"

    seen_limits: dict[str, int | None] = dict(seen.get("rlimits", {}))
    unmet = [
        key
        for key, want in expected_rlimits.items()
        if want is not None and (seen_limits.get(key) is None or seen_limits[key] > want)  # type: ignore[operator]
    ]
    details["resource_limits"] = f"limits not seen: {unmet}" if unmet else f"{seen_limits}"
    tmpfs = seen.get("scratch_fs") == "tmpfs" and (
        scratch_bytes is None or int(seen.get("scratch_bytes", 0)) <= scratch_bytes * 1.05
    )
    details["scratch_tmpfs"] = f"{seen.get('scratch_fs')} of {seen.get('scratch_bytes')} bytes"
    details["process_limit"] = process_limit
    per_process = seen_limits.get("memory")
    if memory_limit == "rlimit-as" and per_process is None:
        memory_limit = "none"
    tree = "" if tree_memory_bytes is None else f"{tree_memory_bytes} bytes for the tree, "
    details["memory_limit"] = (
        f"{memory_limit}: {tree if memory_limit == 'cgroup-memory' else ''}"
        f"RLIMIT_AS {per_process} bytes per process"
    )
    unprivileged = bool(host_uids) and 0 not in host_uids
    details["unprivileged_uid"] = f"host uids of the kernel tree: {sorted(set(host_uids))}"
    proc_sys = dict(seen.get("proc_sys", {}))
    opened = sorted(name for name, result in proc_sys.items() if result == "opened")
    proc_sys_readonly = bool(proc_sys) and not opened
    details["proc_sys_readonly"] = (
        f"opened for writing (nothing written): {opened}" if opened else f"refused: {proc_sys}"
    )
    shared_keys = sorted(set(seen.get("keys", [])) & set(visible_key_ids()))
    keyctl = str(seen.get("keyctl"))
    keyrings = keyctl in ("EPERM", "ENOSYS", "EACCES") and not shared_keys
    details["keyrings"] = f"keyctl: {keyctl}; host keys visible: {shared_keys}"
    seccomp = seen.get("seccomp") == "2"
    details["seccomp"] = (
        f"filter active; {seccomp_filter}" if seccomp else f"mode {seen.get('seccomp')}"
    )
    vsock = str(seen.get("vsock")) not in ("created", "None")
    details["vsock"] = f"AF_VSOCK socket: {seen.get('vsock')}"
    quota = "" if cpu_quota is None else f" of {cpu_quota:g} cores for the tree"
    details["cpu_limit"] = f"{cpu_limit}{quota}"
    return IsolationReport(
        launcher=launcher,
        environment=not leaked_env,
        filesystem=not visible and not writable,
        network=network,
        pid_namespace=separate("pid"),
        mount_namespace=separate("mnt"),
        user_namespace=separate("user"),
        process_limit=process_limit,
        memory_limit=memory_limit,
        resource_limits=not unmet,
        scratch_tmpfs=tmpfs,
        unprivileged_uid=unprivileged,
        proc_sys_readonly=proc_sys_readonly,
        keyrings=keyrings,
        seccomp=seccomp,
        vsock=vsock,
        cpu_limit=cpu_limit,
        host_uids=tuple(sorted(set(host_uids))),
        rlimits=seen_limits,
        uid=int(seen.get("uid", -1)),
        details=details,
    )
