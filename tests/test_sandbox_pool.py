"""The warm pool: one kernel per session, never reused, refilled, shut down when idle, and no
process left behind, also when the host ends by an exception or SIGTERM. Judged from /proc.

Harmless if the sandbox fails: the only signals go to the child interpreter this test starts.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from conftest import skip_missing_system_package

from sandbox import Sandbox, SandboxClosedError, SandboxConfig, SandboxConfigError, SandboxPool
from sandbox._cgroup import find_hierarchies

ROOT = Path(__file__).resolve().parents[1]


def bwrap_config(**changes: object) -> SandboxConfig:
    if shutil.which("bwrap") is None:
        skip_missing_system_package("bubblewrap")
    options: dict[str, object] = {"policy": "none", "launcher": "bwrap", "require_isolation": True}
    options.update(changes)
    return SandboxConfig(**options)  # type: ignore[arg-type]


def alive(pids: set[int]) -> set[int]:
    """Those of `pids` that still exist and are not zombies."""
    found = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            found.add(pid)
    return found


def wait_gone(pids: set[int], timeout: float = 10.0) -> set[int]:
    deadline = time.monotonic() + timeout
    while alive(pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return alive(pids)


def test_acquire_gives_a_fresh_started_kernel_and_close_destroys_it() -> None:
    with SandboxPool(bwrap_config(), size=1, idle_shutdown_s=None) as pool:
        assert pool.wait_ready(30)
        started = time.perf_counter()
        first = pool.acquire()
        assert time.perf_counter() - started < 0.02  # measured ~0.05 ms
        pids = set(first.kernel_pids())
        assert alive(pids) == pids and first.isolation.missing == ()
        assert first.execute("secret = 'session one'").ok
        first.close()
        assert wait_gone(pids) == set()
        assert pool.wait_ready(30)
        second = pool.acquire()
        with second:
            assert set(second.kernel_pids()).isdisjoint(pids)
            result = second.execute("print(secret)")
            assert result.error is not None and result.error.type == "NameError"


def test_an_empty_pool_starts_cold_and_a_closed_pool_refuses() -> None:
    pool = SandboxPool(bwrap_config(), size=0)
    with pool.acquire() as box:
        assert box.execute("print(1)").stdout == "1\n"
    pool.close()
    with pytest.raises(SandboxClosedError):
        pool.acquire()
    with pytest.raises(SandboxConfigError):
        SandboxPool(bwrap_config(), size=-1)
    with pytest.raises(SandboxConfigError):
        SandboxPool(bwrap_config(), idle_shutdown_s=0)


def test_idle_kernels_are_shut_down_and_the_pool_wakes_on_acquire() -> None:
    with SandboxPool(bwrap_config(), size=1, idle_shutdown_s=0.5) as pool:
        assert pool.wait_ready(30)
        idle_pids = set(pool._idle[0][0].kernel_pids())
        assert wait_gone(idle_pids, timeout=10) == set()
        assert pool.ready == 0
        with pool.acquire() as box:  # cold start, then the pool refills
            assert box.execute("print(2)").stdout == "2\n"
        assert pool.wait_ready(30)


def test_closing_the_pool_leaves_acquired_sandboxes_working() -> None:
    pool = SandboxPool(bwrap_config(), size=2)
    assert pool.wait_ready(60)
    box = pool.acquire()
    idle_pids = {pid for sandbox, _w in pool._idle for pid in sandbox.kernel_pids()}
    pool.close()
    assert wait_gone(idle_pids) == set()
    with box:
        assert box.execute("print(3)").stdout == "3\n"


@pytest.mark.slow
def test_twenty_concurrent_sessions_get_distinct_kernels_and_leave_nothing() -> None:
    results: dict[int, tuple[set[int], str, Path]] = {}
    errors: list[BaseException] = []
    data_dirs: list[Path] = []

    def session(pool: SandboxPool, i: int) -> None:
        try:
            with pool.acquire() as box:
                box.execute(f"mine = {i}")
                time.sleep(0.2)  # overlap with the other sessions
                out = box.execute("print(mine)").stdout
                rundir = box._state["rundir"]
                data_dir = (rundir / "inject").resolve()  # on /dev/shm when there is one
                results[i] = (set(box.kernel_pids()), out, rundir)
                data_dirs.append(data_dir)
        except BaseException as exc:
            errors.append(exc)

    with SandboxPool(bwrap_config(timeout_s=60, start_timeout_s=120), size=2) as pool:
        assert pool.wait_ready(60)
        threads = [threading.Thread(target=session, args=(pool, i)) for i in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(300)
        idle_pids = {pid for sandbox, _w in pool._idle for pid in sandbox.kernel_pids()}
    assert not errors, errors
    assert sorted(results) == list(range(20))
    for i, (_pids, out, _rundir) in results.items():
        assert out == f"{i}\n"
    all_pids = [pid for pids, _out, _rundir in results.values() for pid in pids]
    assert len(all_pids) == len(set(all_pids))  # no kernel served two sessions
    assert wait_gone(set(all_pids) | idle_pids) == set()
    assert not any(rundir.exists() for _pids, _out, rundir in results.values())
    assert len(data_dirs) == 20 and not any(path.exists() for path in data_dirs)


CHILD = """
import json, os, sys, time
sys.path.insert(0, {root!r})
from sandbox import SandboxConfig, SandboxPool
pool = SandboxPool(SandboxConfig(policy="none", launcher={launcher!r}), size=2)
assert pool.wait_ready(60)
held = pool.acquire()  # acquired and never closed
boxes = [held] + [sandbox for sandbox, _w in pool._idle]
print(json.dumps({{"pids": [p for b in boxes for p in b.kernel_pids()],
                  "dirs": [str(b._state["rundir"]) for b in boxes]}}), flush=True)
if {mode!r} == "raise":
    raise RuntimeError("the host fails")
for _ in range(600):
    time.sleep(0.1)
"""


def cgroups_of(pid: int) -> list[Path]:
    """Kernel cgroups a host process `pid` made (named sbx-<pid>-...) that still exist."""
    parents = {h.directory for h in find_hierarchies().values()}
    return [path for parent in parents for path in parent.glob(f"sbx-{pid}-*")]


def run_child(mode: str, launcher: str) -> tuple[subprocess.Popen[str], dict[str, list[object]]]:
    code = CHILD.format(root=str(ROOT), launcher=launcher, mode=mode)
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    line = child.stdout.readline()
    if not line:
        child.kill()
        pytest.fail(f"child did not start: {child.communicate(timeout=10)[1][-2000:]}")
    return child, json.loads(line)


@pytest.mark.slow
@pytest.mark.parametrize("launcher", ["bwrap", "unshare"])
def test_sigterm_to_the_host_leaves_no_process_and_no_files(launcher: str) -> None:
    if shutil.which(launcher) is None:
        skip_missing_system_package("bubblewrap" if launcher == "bwrap" else "util-linux")
    child, info = run_child("wait", launcher)
    pids = {int(p) for p in info["pids"]}  # type: ignore[call-overload]
    assert alive(pids) == pids and len(pids) >= 3
    os.kill(child.pid, signal.SIGTERM)
    _out, err = child.communicate(timeout=30)
    assert child.returncode == -signal.SIGTERM, err[-2000:]  # still ends "killed by SIGTERM"
    assert wait_gone(pids) == set()
    assert not any(Path(str(d)).exists() for d in info["dirs"])
    assert cgroups_of(child.pid) == []


@pytest.mark.slow
def test_an_exception_in_the_host_leaves_no_process_and_no_files() -> None:
    child, info = run_child("raise", "bwrap" if shutil.which("bwrap") else "none")
    _out, err = child.communicate(timeout=60)
    assert child.returncode == 1 and "the host fails" in err
    assert wait_gone({int(p) for p in info["pids"]}) == set()  # type: ignore[call-overload]
    assert not any(Path(str(d)).exists() for d in info["dirs"])
    # Also the kernel a refill thread was still starting when the host failed.
    assert cgroups_of(child.pid) == []


def test_pool_kernels_start_from_one_long_lived_thread() -> None:
    """A kernel forked by a thread that then ends must not die with it (bwrap's
    --die-with-parent is PR_SET_PDEATHSIG, which follows the forking thread)."""
    made: list[Sandbox] = []
    worker = threading.Thread(target=lambda: made.append(Sandbox(bwrap_config())))
    worker.start()
    worker.join()
    box = made[0]
    starter = threading.Thread(target=box.start)
    starter.start()
    starter.join()
    with box:
        time.sleep(0.3)
        assert box.execute("print('still here')").stdout == "still here\n"
        assert not box.execute("1").restarted
