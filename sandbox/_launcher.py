"""Last host-side step before the kernel: limits, identity, then exec the walls.

Run as a script (``python -I -S _launcher.py SPEC_JSON``) so that it imports only the
standard library and starts in a few milliseconds. Applying everything here, in the
process that becomes bwrap (or unshare) and then the kernel, means every process of the
sandbox inherits it and nothing of the sandbox ever runs unlimited or as root: no
``preexec_fn`` (not thread-safe in the host) and no race between starting and limiting.

In order: join the cgroups and set the rlimits (still as the host's user); when a uid is
given (the host is root), bind the paths that uid could not reach (an interpreter under
``/root``, mode 0700) onto traversable mount points in a private mount namespace that
only this process tree sees, drop every group and switch to that uid; join a fresh
session keyring (the host's keys stay out of reach); open the seccomp filter for
bubblewrap; exec.

SPEC_JSON: {"cgroups": [path, ...], "rlimits": {"RLIMIT_AS": [soft, hard], ...},
"stage": [[source, mount_point], ...], "uid": int | null, "seccomp": path | null,
"argv": [...]}; an rlimit of -1 means unlimited, and "{seccomp_fd}" in argv is replaced
by the descriptor of the opened filter.
"""

from __future__ import annotations

import ctypes
import json
import os
import platform
import resource
import sys

_CLONE_NEWNS = 0x00020000
_MS_BIND, _MS_REC, _MS_PRIVATE = 0x1000, 0x4000, 1 << 18
_KEYCTL_JOIN_SESSION_KEYRING = 1
_SYS_KEYCTL = {"x86_64": 250, "aarch64": 219}


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _fail(what: str) -> None:
    code = ctypes.get_errno()
    raise OSError(code, f"launcher: {what}: {os.strerror(code)}")


def stage(binds: list[list[str]]) -> None:
    """Bind each source onto its mount point in a new, private mount namespace."""
    if not binds:
        return
    libc = _libc()
    if libc.unshare(_CLONE_NEWNS) != 0:
        _fail("unshare(CLONE_NEWNS)")
    if libc.mount(b"none", b"/", None, _MS_REC | _MS_PRIVATE, None) != 0:
        _fail("making / private")
    for source, target in binds:
        if libc.mount(source.encode(), target.encode(), None, _MS_BIND | _MS_REC, None) != 0:
            _fail(f"binding {source} onto {target}")


def become(uid: int) -> None:
    """Drop supplementary groups and switch real, effective and saved ids to `uid`."""
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)


def new_session_keyring() -> None:
    """Replace the inherited session keyring by a new empty one owned by this uid."""
    number = _SYS_KEYCTL.get(platform.machine())
    if number is None:
        return
    libc = _libc()
    if libc.syscall(number, _KEYCTL_JOIN_SESSION_KEYRING, None) < 0:
        _fail("joining a new session keyring")


def apply_and_exec(spec: dict[str, object]) -> None:
    """Apply `spec` in the order the module docstring gives, then exec spec["argv"]."""
    cgroups = spec.get("cgroups", [])
    assert isinstance(cgroups, list)
    for cgroup in cgroups:
        with open(os.path.join(cgroup, "cgroup.procs"), "w") as procs:
            procs.write("0")
    rlimits = spec.get("rlimits", {})
    assert isinstance(rlimits, dict)
    for name, (soft, hard) in rlimits.items():
        resource.setrlimit(getattr(resource, name), (int(soft), int(hard)))
    binds = spec.get("stage", [])
    assert isinstance(binds, list)
    stage(binds)
    argv = spec["argv"]
    assert isinstance(argv, list)
    seccomp = spec.get("seccomp")
    if isinstance(seccomp, str):
        fd = os.open(seccomp, os.O_RDONLY)
        os.set_inheritable(fd, True)
        argv = [str(fd) if arg == "{seccomp_fd}" else arg for arg in argv]
    uid = spec.get("uid")
    if isinstance(uid, int):
        become(uid)
    if spec.get("new_keyring", True):
        new_session_keyring()
    os.execv(argv[0], argv)


if __name__ == "__main__":
    apply_and_exec(json.loads(sys.argv[1]))
