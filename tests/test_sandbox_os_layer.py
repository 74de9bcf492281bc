"""The OS layer on its own (``policy="none"`` stands for an attacker past the code policy):
never host root, read-only /proc/sys, keyrings out of reach, seccomp, CPU bounded, strays
killed. Every attack runs in a real kernel and is judged from the host's side.

Harmless if a wall fails: /proc/sys files are opened for writing but never written, the
keyring tests touch only a key this test created, forks and CPU loops are bounded in time,
and no signal goes to a process group or to -1.
"""

from __future__ import annotations

import ctypes
import json
import os
import platform
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import skip_missing_system_package

from sandbox import IsolationError, Sandbox, SandboxConfig, _walls
from sandbox._uids import UID_BASE, UID_COUNT

X86_64 = platform.machine() == "x86_64"
SYSCALLS = {  # x86_64 numbers; the attacks need raw syscalls
    "keyctl": 250, "add_key": 248, "request_key": 249, "ptrace": 101,
    "process_vm_readv": 310, "io_uring_setup": 425, "userfaultfd": 323,
    "perf_event_open": 298, "bpf": 321, "mount": 165, "unshare": 272, "setns": 308,
    "kexec_load": 246, "init_module": 175, "clone3": 435, "clone": 56,
}  # fmt: skip
KEYCTL_READ, KEYCTL_UNLINK, KEY_SPEC_PROCESS_KEYRING = 11, 9, -2


def config(**changes: object) -> SandboxConfig:
    if shutil.which("bwrap") is None:
        skip_missing_system_package("bubblewrap")
    options: dict[str, object] = {"policy": "none", "launcher": "bwrap", "require_isolation": True}
    options.update(changes)
    return SandboxConfig(**options)  # type: ignore[arg-type]


def host_uids(pids: list[int]) -> dict[int, int]:
    uids = {}
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Uid:"):
                uids[pid] = int(line.split()[1])
    return uids


def test_no_process_of_the_kernel_runs_as_host_root_and_kernels_share_no_uid() -> None:
    with Sandbox(config()) as first, Sandbox(config()) as second:
        one, two = host_uids(first.kernel_pids()), host_uids(second.kernel_pids())
        assert one and two
        if os.geteuid() == 0:
            assert all(
                UID_BASE <= uid < UID_BASE + UID_COUNT for uid in [*one.values(), *two.values()]
            )
            assert set(one.values()).isdisjoint(two.values())
        else:
            assert set(one.values()) == {os.getuid()}
        assert first.isolation.unprivileged_uid and 0 not in first.isolation.host_uids
        # A cell that forks: its child is no more privileged.
        child = first.execute(
            "import os, time\npid = os.fork()\nif pid == 0:\n    time.sleep(3); os._exit(0)\nprint(pid)"
        )
        assert child.error is None
        after = host_uids(first.kernel_pids())
        assert 0 not in after.values()


def test_proc_sys_cannot_be_opened_for_writing() -> None:
    names = ["kernel/core_pattern", "vm/drop_caches", "vm/panic_on_oom", "fs/suid_dumpable",
             "fs/protected_symlinks", "kernel/randomize_va_space"]  # fmt: skip
    readable = [name for name in names if name != "vm/drop_caches"]  # that one is write-only
    before = {name: Path("/proc/sys", name).read_text() for name in readable}
    code = f"""
import errno, os, json
seen = {{}}
for name in {names!r}:
    try:
        fd = os.open('/proc/sys/' + name, os.O_WRONLY)
    except OSError as exc:
        seen[name] = errno.errorcode[exc.errno]
    else:
        os.close(fd)  # never write a byte
        seen[name] = 'opened'
print(json.dumps(seen))
"""
    with Sandbox(config()) as sb:
        result = sb.execute(code)
        assert sb.isolation.proc_sys_readonly
    seen = json.loads(result.stdout)
    assert set(seen.values()) <= {"EROFS", "EACCES", "EPERM"}, seen
    assert {name: Path("/proc/sys", name).read_text() for name in readable} == before


@pytest.mark.skipif(not X86_64, reason="raw syscall numbers are x86_64's")
def test_the_hosts_keys_are_out_of_reach() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    secret = f"ace-canary-{secrets.token_hex(8)}".encode()
    description = f"ace-test-{secrets.token_hex(4)}".encode()
    key = libc.syscall(
        SYSCALLS["add_key"], b"user", description, secret, len(secret), KEY_SPEC_PROCESS_KEYRING
    )
    if key < 0:
        pytest.skip(f"this host cannot create a key: {os.strerror(ctypes.get_errno())}")
    try:
        code = f"""
import ctypes, errno
libc = ctypes.CDLL(None, use_errno=True)
buf = ctypes.create_string_buffer(256)
read = libc.syscall({SYSCALLS["keyctl"]}, {KEYCTL_READ}, {key}, buf, 256)
print('read', read, errno.errorcode.get(ctypes.get_errno()), buf.value)
added = libc.syscall({SYSCALLS["add_key"]}, b'user', b'smuggled', b'x', 1, -3)
print('add', added, errno.errorcode.get(ctypes.get_errno()))
print(open('/proc/keys').read())
"""
        with Sandbox(config()) as sb:
            result = sb.execute(code)
            assert sb.isolation.keyrings
        out = result.stdout
        assert result.error is None and secret.decode() not in out
        assert "read -1 EPERM" in out and "add -1 EPERM" in out
        assert f"{key:08x}" not in out and description.decode() not in out
    finally:
        libc.syscall(SYSCALLS["keyctl"], KEYCTL_UNLINK, key, KEY_SPEC_PROCESS_KEYRING)


@pytest.mark.skipif(not X86_64, reason="raw syscall numbers are x86_64's")
def test_the_launcher_gives_a_fresh_session_keyring() -> None:
    """The layer on its own: a process started by the launcher (no bwrap, no seccomp) is in
    another session keyring than the host."""
    libc = ctypes.CDLL(None, use_errno=True)
    host = libc.syscall(SYSCALLS["keyctl"], 0, -3, 1)  # KEYCTL_GET_KEYRING_ID, session, create
    probe = f"import ctypes; print(ctypes.CDLL(None).syscall({SYSCALLS['keyctl']}, 0, -3, 0))"
    spec = {"argv": [sys.executable, "-I", "-S", "-c", probe]}
    done = subprocess.run(_walls.launcher_command(spec), capture_output=True, text=True, check=True)
    assert host > 0 and int(done.stdout) > 0 and int(done.stdout) != host


@pytest.mark.skipif(not X86_64, reason="raw syscall numbers are x86_64's")
def test_seccomp_refuses_the_dangerous_calls_and_allows_ordinary_work() -> None:
    calls = {
        "keyctl": (0, -3, 0), "add_key": (b"user", b"k", b"v", 1, -3), "request_key": (b"user", b"k", None, -3),
        "ptrace": (0, 0, 0, 0), "process_vm_readv": (1, None, 0, None, 0, 0),
        "io_uring_setup": (1, None), "userfaultfd": (0,), "perf_event_open": (None, 0, -1, -1, 0),
        "bpf": (0, None, 0), "mount": (b"none", b"/tmp", b"tmpfs", 0, None),
        "unshare": (0x10000000,), "setns": (-1, 0), "kexec_load": (0, 0, None, 0),
        "init_module": (None, 0, b""),
    }  # fmt: skip
    code = f"""
import ctypes, errno, os, socket, subprocess, threading, json
libc = ctypes.CDLL(None, use_errno=True)
numbers = {SYSCALLS!r}
seen = {{}}
for name, args in {calls!r}.items():
    result = libc.syscall(numbers[name], *args)
    seen[name] = errno.errorcode.get(ctypes.get_errno()) if result < 0 else 'allowed'
seen['clone3'] = errno.errorcode.get(ctypes.get_errno()) if libc.syscall(numbers['clone3'], None, 0) < 0 else 'allowed'
# clone with CLONE_NEWUSER|SIGCHLD: a child that gets through exits at once.
child = libc.syscall(numbers['clone'], 0x10000000 | 17, None, None, None, None)
if child == 0:
    os._exit(0)
seen['clone_newuser'] = errno.errorcode.get(ctypes.get_errno()) if child < 0 else 'allowed'
for family in (40, 16, 17):
    try:
        socket.socket(family, socket.SOCK_RAW if family != 40 else socket.SOCK_STREAM).close()
        seen[f'socket{{family}}'] = 'allowed'
    except OSError as exc:
        seen[f'socket{{family}}'] = errno.errorcode[exc.errno]
pid = os.fork()
if pid == 0:
    os._exit(7)
seen['fork'] = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
seen['subprocess'] = subprocess.run(['/bin/true']).returncode
worker = threading.Thread(target=lambda: None); worker.start(); worker.join()
seen['socketpair'] = len(socket.socketpair())
print(json.dumps(seen))
"""
    with Sandbox(config()) as sb:
        assert sb.isolation.seccomp and "keyctl" in sb.isolation.details["seccomp"]
        result = sb.execute(code)
        seen = json.loads(result.stdout)
        for name in calls:
            assert seen[name] == "EPERM", (name, seen[name])
        assert seen["clone3"] == "ENOSYS" and seen["clone_newuser"] == "EPERM"
        assert seen["socket40"] == seen["socket16"] == seen["socket17"] == "EAFNOSUPPORT"
        assert (seen["fork"], seen["subprocess"], seen["socketpair"]) == (7, 0, 2)
        # A syscall of another ABI (x32's getpid) kills the kernel; the sandbox restarts it.
        killed = sb.execute(f"import ctypes; print(ctypes.CDLL(None).syscall({0x40000000 | 39}))")
        assert killed.error is not None and killed.error.type == "KernelDied", killed
        assert "SIGSYS" in killed.error.message
        assert sb.execute("print('back')").stdout == "back\n"


def test_cpu_is_bounded_for_the_whole_tree() -> None:
    """Two forked children spin for 1.5 s of wall time each on two cores: with a quota of
    half a core the tree gets about 0.75 s of CPU, and the host sees the throttling."""
    code = """
import os, time
def spin():
    end = time.monotonic() + 1.5
    while time.monotonic() < end:
        pass
pids = []
for _ in range(2):
    pid = os.fork()
    if pid == 0:
        spin(); os._exit(0)
    pids.append(pid)
for pid in pids:
    os.waitpid(pid, 0)
print(os.times().children_user + os.times().children_system)
"""
    with Sandbox(config(cpus=0.5)) as sb:
        report = sb.isolation
        assert report.cpu_limit == "cgroup-cpu" and "0.5 cores" in report.details["cpu_limit"]
        group = sb._state["kernel"].cgroups.holding("cpu")
        started = time.monotonic()
        result = sb.execute(code)
        wall = time.monotonic() - started
        stat = dict(line.split() for line in (group.path / "cpu.stat").read_text().splitlines())
    used = float(result.stdout)
    assert used <= 0.5 * wall * 1.3 + 0.1, (used, wall)
    assert int(stat["nr_throttled"]) > 0


def test_a_spinning_child_is_killed_when_its_cell_ends() -> None:
    code = """
import os, time
pid = os.fork()
if pid == 0:
    end = time.monotonic() + 60
    while time.monotonic() < end:
        pass
    os._exit(0)
print(pid)
"""
    with Sandbox(config()) as sb:
        group = sb._state["kernel"].cgroups.holding("pids")
        before = set(group.members())
        assert sb.execute(code).error is None
        assert set(group.members()) == before  # only the kernel's own chain is left


def test_a_missing_layer_is_named_and_fails_require_isolation() -> None:
    if shutil.which("unshare") is None:
        skip_missing_system_package("util-linux")
    with pytest.raises(IsolationError) as failure:
        Sandbox(SandboxConfig(launcher="unshare", require_isolation=True)).start()
    assert "seccomp" in str(failure.value)
    if os.geteuid() == 0:
        assert "unprivileged_uid" in str(failure.value)


def test_a_restricted_user_namespace_is_explained() -> None:
    text = _walls.explain_bwrap_failure(
        "bwrap: setting up uid map: Permission denied", restricted=True
    )
    assert "AppArmor" in text and "launcher='unshare'" in text
    plain = _walls.explain_bwrap_failure("bwrap: Can't find source path /x", restricted=False)
    assert plain == "bubblewrap failed its start-up probe: bwrap: Can't find source path /x"


def test_the_report_lists_every_new_layer() -> None:
    with Sandbox(config()) as sb:
        report = sb.isolation
    for layer in (
        "unprivileged_uid",
        "proc_sys_readonly",
        "keyrings",
        "seccomp",
        "vsock",
        "cpu_limit",
    ):
        assert layer in report.active, (layer, report.details.get(layer))
    assert report.missing == ()
