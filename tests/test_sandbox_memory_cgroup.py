"""The kernel tree's memory cgroup: attacks judged from the host's side, life cycle, fallback.

Harmless if the wall fails: four children allocate 200 MB each, sleep two seconds and exit
on their own; the parent reaps them, and closing the sandbox kills whatever is left. No
signal goes to a process group or to -1.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import skip_missing_capability, skip_missing_system_package

from sandbox import Sandbox, SandboxConfig, SandboxConfigError, _cgroup
from sandbox._cgroup import Hierarchy, TreeCgroups, find_hierarchies

MiB = 1024 * 1024
ROOT = Path(__file__).resolve().parents[1]

FORK_ATTACK = """
import os, time
pids = []
for _ in range(4):
    pid = os.fork()
    if pid == 0:
        try:
            block = b'x' * (200 * 1024 ** 2)  # written, so every page is charged
            time.sleep(2)
            os._exit(0)
        except MemoryError:
            os._exit(3)
        finally:
            os._exit(4)
    pids.append(pid)
print([os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in pids])
"""


def memory_config(**changes: object) -> SandboxConfig:
    """bwrap, no code policy, every layer required, and a tree limit the attacks exceed."""
    if shutil.which("bwrap") is None:
        skip_missing_system_package("bubblewrap")
    trial = TreeCgroups.create({"memory": 300 * MiB})
    try:
        if "memory" not in trial.controllers:
            skip_missing_capability("memory cgroup", "no writable v1 memory or v2 memory.max")
    finally:
        trial.remove()
    options: dict[str, object] = {
        "policy": "none",
        "launcher": "bwrap",
        "require_isolation": True,
        "memory_mb": 1024,
        "tree_memory_mb": 300,
        "timeout_s": 30,
    }
    options.update(changes)
    return SandboxConfig(**options)  # type: ignore[arg-type]


def cgroup_paths(sb: Sandbox) -> list[Path]:
    return [Path(p) for p in sb._state["kernel"].cgroups.paths]


@contextmanager
def peak_sampler(sb: Sandbox) -> Iterator[dict[str, int]]:
    """Read the running kernel's memory cgroup from the host every 10 ms: its peak use (which
    outlives no cgroup, so a kernel killed mid-cell is still measured) and its OOM kills."""
    cgroups: TreeCgroups = sb._state["kernel"].cgroups
    seen = {"peak": 0, "oom_kills": 0}
    stop = threading.Event()

    def sample() -> None:
        while True:
            seen["peak"] = max(seen["peak"], cgroups.memory_peak() or 0)
            seen["oom_kills"] = max(seen["oom_kills"], cgroups.oom_kills())
            if stop.wait(0.01):
                return

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        stop.set()
        thread.join()
        seen["peak"] = max(seen["peak"], cgroups.memory_peak() or 0)
        seen["oom_kills"] = max(seen["oom_kills"], cgroups.oom_kills())


def test_forked_children_cannot_together_exceed_the_tree_limit() -> None:
    config = memory_config()
    with Sandbox(config) as sb:
        assert sb.isolation.memory_limit == "cgroup-memory"
        assert "memory_limit" in sb.isolation.active
        kernel = sb._state["kernel"]
        with peak_sampler(sb) as seen:
            result = sb.execute(FORK_ATTACK)
        # Each child stays far under its own 1024 MB RLIMIT_AS: only the tree limit can act.
        assert seen["peak"] > 0, "the host could not read the cgroup's peak"
        assert seen["peak"] <= 300 * MiB, seen
        assert seen["oom_kills"] >= 1 or kernel.oom_kills >= 1, (seen, result)
        if result.error is None:  # the OOM killer took children, the kernel lived
            codes = [int(c) for c in result.stdout.strip("[]\n").split(",")]
            assert codes.count(-9) >= 2, codes
        else:  # the kernel itself was the largest process: revived
            assert result.error.type == "KernelDied" and result.restarted, result.error
        after = sb.execute("print('alive')")
        assert after.stdout == "alive\n", after.error
        assert sb.kernel_pids(), "no kernel running after the attack"


def test_the_same_attack_goes_past_300_mb_under_a_looser_tree_limit() -> None:
    """The control: the attack above is real, only the limit stops it."""
    with Sandbox(memory_config(tree_memory_mb=2048)) as sb, peak_sampler(sb) as seen:
        result = sb.execute(FORK_ATTACK)
    assert result.stdout == "[0, 0, 0, 0]\n", result.error
    assert seen["peak"] > 700 * MiB and seen["oom_kills"] == 0, seen


def test_a_kernel_killed_at_the_tree_limit_comes_back_and_is_told_why() -> None:
    with Sandbox(memory_config()) as sb:
        assert sb.execute("kept = [1, 2, 3]").ok
        with peak_sampler(sb) as seen:
            result = sb.execute("block = b'x' * (400 * 1024 ** 2)")
        assert seen["peak"] <= 300 * MiB, seen
        assert result.error is not None and result.error.type == "KernelDied", result.error
        assert "memory limit of 300 MB" in result.error.message
        assert "OOM killer" in result.error.message
        assert result.restarted and result.restored == ("kept",)
        assert sb.execute("print(kept)").stdout == "[1, 2, 3]\n"


def test_each_kernel_has_fresh_cgroups_removed_with_it() -> None:
    with Sandbox(memory_config()) as sb:
        first = cgroup_paths(sb)
        assert first and all(p.is_dir() for p in first)
        sb.restart()
        second = cgroup_paths(sb)
        assert not any(p.exists() for p in first)
        assert all(p.is_dir() for p in second) and set(second).isdisjoint(first)
        died = sb.execute("import os\nos._exit(1)")
        assert died.error is not None and died.error.type == "KernelDied"
        third = cgroup_paths(sb)
        assert not any(p.exists() for p in second) and all(p.is_dir() for p in third)
    assert not any(p.exists() for p in third)


def test_cgroups_are_removed_when_the_host_exits_without_closing() -> None:
    memory_config()
    script = (
        "from sandbox import Sandbox, SandboxConfig\n"
        "sb = Sandbox(SandboxConfig(policy='none', launcher='bwrap', tree_memory_mb=300))\n"
        "sb.start()\n"
        "print('\\n'.join(sb._state['kernel'].cgroups.paths), flush=True)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    paths = [Path(line) for line in done.stdout.split()]
    assert len(paths) >= 1
    assert not any(p.exists() for p in paths)


def _own_pids_line() -> str:
    """The real mountinfo line of a v1 pids hierarchy, or skip."""
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        _left, _, right = line.partition(" - ")
        tail = right.split()
        if len(tail) >= 3 and tail[0] == "cgroup" and "pids" in tail[2].split(","):
            return line
    skip_missing_capability("cgroup v1 pids hierarchy", "needed to build the fallback's view")
    raise AssertionError("unreachable")


def test_without_a_writable_memory_hierarchy_the_report_says_rlimit_as(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if shutil.which("bwrap") is None:
        skip_missing_system_package("bubblewrap")
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(_own_pids_line() + "\n")  # pids only: no memory controller mounted
    monkeypatch.setattr(_cgroup, "MOUNTINFO", mountinfo)
    config = SandboxConfig(policy="none", launcher="bwrap", require_isolation=True)
    with Sandbox(config) as sb:
        report = sb.isolation
        assert report.memory_limit == "rlimit-as"
        assert report.process_limit == "cgroup-pids"
        assert report.cpu_limit == "rlimit-cpu"  # no cpu hierarchy either
        assert report.missing == ()
        assert "rlimit-as" in report.details["memory_limit"]
        assert sb.execute("print(6 * 7)").stdout == "42\n"
        assert sb._state["kernel"].cgroups.controllers == {"pids"}


def _view(tmp_path: Path, mountinfo: list[str], membership: list[str]) -> None:
    (tmp_path / "mountinfo").write_text("\n".join(mountinfo) + "\n")
    (tmp_path / "cgroup").write_text("\n".join(membership) + "\n")


def test_discovery_reads_v1_v2_and_hybrid_views(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_cgroup, "MOUNTINFO", tmp_path / "mountinfo")
    monkeypatch.setattr(_cgroup, "MEMBERSHIP", tmp_path / "cgroup")
    unified = tmp_path / "unified"
    (unified / "box").mkdir(parents=True)
    v1_memory = "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory"
    v1_pids = "39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids"
    v2 = f"41 31 0:38 / {unified} rw,relatime - cgroup2 cgroup2 rw"

    _view(tmp_path, [v1_memory, v1_pids, v2], ["8:pids:/", "4:memory:/api/x", "0::/box"])
    assert find_hierarchies() == {
        "pids": Hierarchy(1, Path("/sys/fs/cgroup/pids")),
        "memory": Hierarchy(1, Path("/sys/fs/cgroup/memory/api/x")),
    }

    (unified / "box" / "cgroup.subtree_control").write_text("io pids\n")
    _view(tmp_path, [v2], ["0::/box"])
    assert find_hierarchies() == {"pids": Hierarchy(2, unified / "box")}

    (unified / "box" / "cgroup.subtree_control").write_text("memory pids\n")
    assert find_hierarchies() == {
        "pids": Hierarchy(2, unified / "box"),
        "memory": Hierarchy(2, unified / "box"),
    }

    _view(tmp_path, [v1_pids], ["8:pids:/"])
    assert find_hierarchies() == {"pids": Hierarchy(1, Path("/sys/fs/cgroup/pids"))}

    (tmp_path / "mountinfo").unlink()
    assert find_hierarchies() == {}


def test_tree_memory_config_is_checked() -> None:
    with pytest.raises(SandboxConfigError, match="tree_memory_mb"):
        SandboxConfig(tree_memory_mb=0)
    with pytest.raises(SandboxConfigError, match="tree_memory_mb=64 is too low"):
        SandboxConfig(tree_memory_mb=64)
    assert SandboxConfig().tree_memory_mb == 4096
    assert SandboxConfig(tree_memory_mb=None).tree_memory_mb is None
    with pytest.raises(ValueError, match="unknown cgroup controllers"):
        TreeCgroups.create({"io": 1})


def test_a_sandbox_without_a_tree_limit_reports_rlimit_as() -> None:
    if shutil.which("bwrap") is None:
        skip_missing_system_package("bubblewrap")
    config = SandboxConfig(policy="none", launcher="bwrap", tree_memory_mb=None)
    with Sandbox(config) as sb:
        assert sb.isolation.memory_limit == "rlimit-as"
        assert "memory" not in sb._state["kernel"].cgroups.controllers
        assert sb.execute("print(1)").stdout == "1\n"
