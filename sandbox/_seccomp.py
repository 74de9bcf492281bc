"""The kernel's seccomp filter, compiled by libseccomp and handed to bubblewrap.

The filter allows by default and refuses what a Python analysis kernel never needs but an
attacker past the code policy would reach for: kernel keyrings, tracing other processes,
io_uring, userfaultfd, perf and BPF, the mount family, new namespaces (``unshare``,
``setns``, ``clone`` with a namespace flag; ``clone3`` answers ENOSYS so libc falls back
to ``clone``, whose flags a filter can read), kexec and kernel modules, and sockets other
than AF_UNIX, AF_INET and AF_INET6 (AF_VSOCK reaches hypervisor services that no network
namespace covers; AF_NETLINK talks to the host kernel). A syscall of another architecture
(i386 through ``int 0x80``, x32) kills the process: only the native table is checked.

libseccomp (Debian's ``libseccomp2``) is loaded with ctypes: it knows every architecture's
syscall numbers and how to check them, which a hand-written BPF program would have to
repeat. No Python binding is needed; the five functions used here are its stable C API.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import functools
import os
import tempfile

DENIED = (
    "keyctl", "add_key", "request_key",
    "ptrace", "process_vm_readv", "process_vm_writev",
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    "userfaultfd", "perf_event_open", "bpf",
    "mount", "umount2", "pivot_root", "move_mount", "open_tree", "fsopen", "fsconfig",
    "fsmount", "fspick", "mount_setattr",
    "unshare", "setns",
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
    "open_by_handle_at", "name_to_handle_at", "swapon", "swapoff", "reboot", "acct",
    "syslog", "quotactl",
)  # fmt: skip
"""Refused with EPERM."""

ENOSYS_CALLS = ("clone3",)
"""Refused with ENOSYS, so the C library falls back to a call the filter can inspect."""

NAMESPACE_FLAGS = {
    "CLONE_NEWNS": 0x00020000,
    "CLONE_NEWCGROUP": 0x02000000,
    "CLONE_NEWUTS": 0x04000000,
    "CLONE_NEWIPC": 0x08000000,
    "CLONE_NEWUSER": 0x10000000,
    "CLONE_NEWPID": 0x20000000,
    "CLONE_NEWNET": 0x40000000,
    "CLONE_NEWTIME": 0x00000080,
}
"""``clone`` with any of these flags is refused with EPERM."""

SOCKET_FAMILIES = (1, 2, 10)
"""AF_UNIX, AF_INET, AF_INET6: the only families ``socket`` may create."""

_ACT_ALLOW = 0x7FFF0000
_ACT_KILL_PROCESS = 0x80000000
_ATTR_ACT_BADARCH = 2
_CMP_EQ, _CMP_GE, _CMP_MASKED_EQ = 4, 5, 7


def _act_errno(code: int) -> int:
    return 0x00050000 | (code & 0xFFFF)


class _ArgCmp(ctypes.Structure):
    _fields_ = [
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    ]


class SeccompUnavailable(RuntimeError):
    """libseccomp could not be loaded or refused the filter; the message says why."""


def describe() -> str:
    """One line naming what the filter refuses, for the isolation report."""
    flags = "|".join(name.removeprefix("CLONE_") for name in NAMESPACE_FLAGS)
    return (
        f"EPERM: {', '.join(DENIED)}, clone with {flags}; ENOSYS: {', '.join(ENOSYS_CALLS)}; "
        "socket only AF_UNIX/AF_INET/AF_INET6 (else EAFNOSUPPORT); "
        "other architectures' syscalls (i386, x32) kill the process"
    )


@functools.cache
def filter_bpf() -> bytes:
    """The compiled filter (classic BPF for the native architecture), built once."""
    name = ctypes.util.find_library("seccomp") or "libseccomp.so.2"
    try:
        lib = ctypes.CDLL(name, use_errno=True)
    except OSError as exc:
        raise SeccompUnavailable(
            f"libseccomp is not installed ({exc}); on Debian: apt-get install libseccomp2"
        ) from None
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_attr_set.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add_array.argtypes = [
        ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint, ctypes.POINTER(_ArgCmp),
    ]  # fmt: skip
    lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    ctx = lib.seccomp_init(_ACT_ALLOW)
    if not ctx:
        raise SeccompUnavailable("seccomp_init failed")
    try:
        _check(lib.seccomp_attr_set(ctx, _ATTR_ACT_BADARCH, _ACT_KILL_PROCESS), "badarch action")

        def rule(action: int, call: str, *comparisons: tuple[int, int, int, int]) -> None:
            number = lib.seccomp_syscall_resolve_name(call.encode())
            if number < 0:  # not a syscall on this architecture (e.g. an old kernel's table)
                return
            array = (_ArgCmp * max(1, len(comparisons)))(*[_ArgCmp(*c) for c in comparisons])
            _check(lib.seccomp_rule_add_array(ctx, action, number, len(comparisons), array), call)

        for call in DENIED:
            rule(_act_errno(errno.EPERM), call)
        for call in ENOSYS_CALLS:
            rule(_act_errno(errno.ENOSYS), call)
        for flag in NAMESPACE_FLAGS.values():
            rule(_act_errno(errno.EPERM), "clone", (0, _CMP_MASKED_EQ, flag, flag))
        refuse = _act_errno(errno.EAFNOSUPPORT)
        rule(refuse, "socket", (0, _CMP_GE, max(SOCKET_FAMILIES) + 1, 0))
        for family in range(max(SOCKET_FAMILIES)):
            if family not in SOCKET_FAMILIES:
                rule(refuse, "socket", (0, _CMP_EQ, family, 0))
        with tempfile.TemporaryFile() as out:
            _check(lib.seccomp_export_bpf(ctx, out.fileno()), "export")
            out.seek(0)
            program = out.read()
    finally:
        lib.seccomp_release(ctx)
    if not program or len(program) % 8:
        raise SeccompUnavailable(f"libseccomp exported {len(program)} bytes, not a BPF program")
    return program


def _check(result: int, what: str) -> None:
    if result < 0:
        raise SeccompUnavailable(f"libseccomp failed at {what}: {os.strerror(-result)}")
