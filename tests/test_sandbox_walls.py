"""Attacks on the OS walls, with no code policy at all, judged from the host's side.

Harmless if a wall fails: loops and forks are bounded, no signal goes to a process group or
to -1, and the only network target is 127.0.0.1.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import skip_missing_system_package

from sandbox import Sandbox, SandboxConfig

ROOT = Path(__file__).resolve().parents[1]


def bwrap_config(**changes: object) -> SandboxConfig:
    if shutil.which("bwrap") is None:
        skip_missing_system_package("bubblewrap")
    options: dict[str, object] = {"policy": "none", "launcher": "bwrap", "require_isolation": True}
    options.update(changes)
    return SandboxConfig(**options)  # type: ignore[arg-type]


def all_output(*results: object) -> str:
    return "".join(f"{r.stdout}{r.stderr}{r.error}" for r in results)  # type: ignore[attr-defined]


@pytest.fixture
def canaries(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A secret in the host's environment and in a file in the host's home."""
    token = f"canary-{secrets.token_hex(8)}"
    monkeypatch.setenv("SBX_TEST_API_KEY", token)
    path = Path.home() / f".sbx-canary-{token}"
    path.write_text(token)
    try:
        yield token
    finally:
        path.unlink()


def test_host_secrets_do_not_reach_the_kernel(canaries: str) -> None:
    home = str(Path.home())
    code = f"""
import os, glob
print(dict(os.environ))
for p in ['/proc/self/environ', '/proc/1/environ', '/proc/2/environ']:
    try: print(open(p, 'rb').read())
    except OSError as e: print('no', p, e)
for p in glob.glob({home!r} + '/.sbx-canary-*') + glob.glob({home!r} + '/*'):
    try: print(p, open(p).read())
    except OSError as e: print('no', p, e)
for root, dirs, files in os.walk('/'):
    if root.startswith(('/proc', '/sys', '/dev')):
        dirs[:] = []
        continue
    for f in files:
        if 'canary' in f: print('found', root, f, open(os.path.join(root, f)).read())
"""
    with Sandbox(bwrap_config(timeout_s=20, max_output_chars=None)) as sb:
        result = sb.execute(code)
    assert result.ok, result.error
    assert canaries not in all_output(result)
    assert "SBX_TEST_API_KEY" not in result.stdout


def test_no_writes_outside_scratch() -> None:
    token = secrets.token_hex(6)
    targets = [
        f"/tmp/sbx-write-{token}",
        f"{Path.home()}/sbx-write-{token}",
        f"{ROOT}/sbx-write-{token}",
        f"{ROOT}/sandbox/sbx-write-{token}",
        f"/usr/sbx-write-{token}",
        f"/sbx/pkg/sandbox/sbx-write-{token}",
        f"/sbx/site0/sbx-write-{token}",
        f"/sbx/inject/sbx-write-{token}",
        f"/sbx/conn/sbx-write-{token}",
    ]
    code = f"""
import os
for t in {targets!r}:
    try:
        os.makedirs(os.path.dirname(t), exist_ok=True)
        with open(t, 'w') as f: f.write('x')
        print('WROTE', t)
    except OSError as e:
        print('refused', t, type(e).__name__)
open('/scratch/ok.txt', 'w').write('fine')
print(open('/tmp/ok.txt').read())
"""
    with Sandbox(bwrap_config()) as sb:
        result = sb.execute(code)
        rundir = Path(sb._state["rundir"])  # the host-owned run directory
        host_side = list(rundir.rglob(f"*{token}*"))
    assert result.ok, result.error
    assert result.stdout.endswith("fine\n")
    for target in targets:
        assert not Path(target).exists(), target
    assert host_side == []
    # os.walk skips folders that vanish while it walks (other processes' temporary
    # folders); Path.glob raised FileNotFoundError for them
    name = f"sbx-write-{token}"
    assert not [folder for folder, dirs, files in os.walk("/tmp") if name in dirs + files]


def test_the_hosts_loopback_services_are_unreachable() -> None:
    seen: list[object] = []
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, addr = listener.accept()
            except TimeoutError:
                continue
            seen.append(addr)
            conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    code = f"""
import socket
for family, addr in [(socket.AF_INET, ('127.0.0.1', {port})), (socket.AF_INET6, ('::1', {port}))]:
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(1)
    try:
        s.connect(addr); print('CONNECTED', addr)
    except OSError as e:
        print('failed', addr, e)
    finally:
        s.close()
try:
    socket.getaddrinfo('example.com', 80); print('RESOLVED')
except OSError as e:
    print('no dns', e)
"""
    try:
        with Sandbox(bwrap_config()) as sb:
            result = sb.execute(code)
    finally:
        stop.set()
        thread.join()
        listener.close()
    assert seen == []
    assert "CONNECTED" not in result.stdout and "RESOLVED" not in result.stdout
    assert result.stdout.count("failed") == 2


def test_host_files_are_invisible() -> None:
    code = f"""
import os
for p in ['/etc/passwd', '/etc/shadow', {str(ROOT / "pyproject.toml")!r}, {str(ROOT / "ace")!r},
          {str(Path.home() / ".bashrc")!r}, '/work', '/tmp/..', '/home']:
    print(p, os.path.exists(p))
print(sorted(os.listdir('/')))
print(sorted(os.listdir('/tmp')))
"""
    with Sandbox(bwrap_config()) as sb:
        result = sb.execute(code)
    assert result.ok, result.error
    lines = result.stdout.splitlines()
    assert all(line.endswith("False") for line in lines[:6]), result.stdout
    assert "'work'" not in lines[-2] and "'home'" not in lines[-2]


def _running(pid: int) -> bool:
    """True for a live process; a zombie is dead, only not yet reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _processes_with(marker: str) -> list[int]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if marker.encode() in cmdline.read_bytes():
                found.append(int(cmdline.parent.name))
        except OSError:
            continue
    return found


def test_processes_a_cell_starts_do_not_outlive_it_even_in_a_new_session() -> None:
    """Between cells nothing but the kernel runs: children, new sessions and re-parented
    grandchildren a cell started are killed when the cell ends (judged from the host)."""
    marker = f"sbx-orphan-{secrets.token_hex(6)}"
    code = f"""
import subprocess, sys, time
for _ in range(3):
    subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)', {marker!r}],
                     start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
import os
pid = os.fork()
if pid == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, [sys.executable, '-c', 'import time; time.sleep(120)', {marker!r}])
    os._exit(0)
os.waitpid(pid, 0)
time.sleep(1.0)  # every child reaches its exec and shows the marker
print(len([p for p in os.listdir('/proc') if p.isdigit()
           and {marker!r}.encode() in open(f'/proc/{{p}}/cmdline', 'rb').read()]))
"""
    with Sandbox(bwrap_config()) as sb:
        kernel_before = set(sb.kernel_pids())
        result = sb.execute(code)
        assert result.stdout == "4\n", result.error  # all four ran during the cell
        assert _processes_with(marker) == []
        # Only the kernel's own chain runs (the killed children are zombies until the
        # kernel's subprocess module reaps them).
        assert {p for p in sb.kernel_pids() if _running(p)} == kernel_before
        assert sb.execute("print('still here')").stdout == "still here\n"
        pids = sb.kernel_pids()
        cgroups = [Path(p) for p in sb._state["kernel"].cgroups.paths]
    assert [p for p in pids if _running(p)] == []
    assert cgroups and not any(p.exists() for p in cgroups)


def test_a_memory_bomb_is_survived() -> None:
    with Sandbox(bwrap_config(memory_mb=1024)) as sb:
        big = sb.execute("x = bytearray(3 * 1024 ** 3)")
        assert big.error is not None and big.error.type == "MemoryError"
        assert "1024 MB" in big.error.message
        grow = sb.execute("chunks = []\nwhile True:\n    chunks.append(bytearray(50 * 1024 ** 2))")
        assert grow.error is not None and grow.error.type == "MemoryError"
        after = sb.execute("chunks = None\nprint('alive')")
        assert after.stdout == "alive\n"


def test_a_bounded_fork_storm_is_capped() -> None:
    code = """
import os, time
pids, refused = [], None
for i in range(300):
    try:
        pid = os.fork()
    except OSError as e:
        refused = type(e).__name__
        break
    if pid == 0:
        time.sleep(1.5)
        os._exit(0)
    pids.append(pid)
for pid in pids:
    os.waitpid(pid, 0)
print(len(pids), refused)
"""
    with Sandbox(bwrap_config(max_processes=48, timeout_s=20)) as sb:
        result = sb.execute(code)
        count, refused = result.stdout.split()
        assert int(count) < 48 and refused == "BlockingIOError", result.stdout
        assert sb.execute("print('alive')").stdout == "alive\n"


def test_a_bounded_thread_storm_is_capped() -> None:
    code = """
import threading, time
threads, refused = [], None
for i in range(300):
    t = threading.Thread(target=time.sleep, args=(1.5,))
    try:
        t.start()
    except RuntimeError as e:
        refused = str(e)
        break
    threads.append(t)
for t in threads:
    t.join()
print(len(threads), '|', refused)
"""
    with Sandbox(bwrap_config(max_processes=48, timeout_s=20)) as sb:
        result = sb.execute(code)
        count, refused = result.stdout.split(" | ")
        assert int(count) < 48 and "can't start new thread" in refused, result.stdout
        assert sb.execute("print('alive')").stdout == "alive\n"


def test_an_output_flood_on_fd_1_goes_to_a_capped_pipe() -> None:
    code = """
import os
chunk = b'F' * 1024 * 1024
for _ in range(200):
    os.write(1, chunk)
    os.write(2, chunk)
for _ in range(2000):
    print('p' * 1000)
"""
    with Sandbox(bwrap_config(timeout_s=30, max_output_chars=10_000)) as sb:
        result = sb.execute(code)
        log = sb.kernel_log
        assert result.ok, result.error
        assert len(result.stdout) < 10_200 and result.truncated_chars > 1_900_000
        assert "F" not in result.stdout
        assert 0 < len(log) <= 64 * 1024
        assert sb.execute("print('alive')").stdout == "alive\n"


def test_a_bounded_disk_fill_hits_the_scratch_cap() -> None:
    code = """
import os
written, error = 0, None
try:
    for i in range(200):
        with open(f'/scratch/fill-{i}', 'wb') as f:
            f.write(b'0' * 1024 * 1024)
        written += 1
except OSError as e:
    error = e.strerror
print(written, '|', error)
for i in range(written + 1):
    if os.path.exists(f'/scratch/fill-{i}'):
        os.unlink(f'/scratch/fill-{i}')
try:
    with open('/scratch/big', 'wb') as f:
        f.write(b'0' * 20 * 1024 * 1024)
except OSError as e:
    print('big:', e.strerror)
"""
    free_before = shutil.disk_usage("/tmp").free
    with Sandbox(bwrap_config(scratch_mb=32, file_size_mb=8, timeout_s=20)) as sb:
        result = sb.execute(code)
        assert sb.execute("print('alive')").stdout == "alive\n"
    first, second = result.stdout.splitlines()
    written, error = first.split(" | ")
    assert int(written) < 33 and error == "No space left on device", result.stdout
    assert second == "big: File too large"
    assert shutil.disk_usage("/tmp").free > free_before - 16 * 1024 * 1024


def test_the_kernel_cannot_signal_or_see_host_processes() -> None:
    host_pid = os.getpid()
    code = f"""
import os
print(sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))
try:
    os.kill({host_pid}, 0); print('SEEN')
except OSError as e:
    print('unseen', type(e).__name__)
"""
    with Sandbox(bwrap_config()) as sb:
        result = sb.execute(code)
    pids, verdict = result.stdout.splitlines()
    assert max(eval(pids)) < 100  # only the sandbox's own small PID namespace
    assert verdict.startswith("unseen") or str(host_pid) not in pids
