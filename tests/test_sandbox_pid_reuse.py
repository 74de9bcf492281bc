"""A kernel's launcher, once reaped, is never looked up by its pid again: the kernel may
give that pid to another process (pid_max is 32768 on some hosts), and killing "the
launcher's children" would then kill that process's children, such as another
sandbox's kernel. Seen as unshare's misleading "sigprocmask unblock failed" (what
util-linux 2.38 prints when its child was killed by a signal)."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from sandbox import _process
from sandbox._process import KernelProcess


def test_a_reaped_launchers_pid_is_not_used_to_kill_its_new_owners_children(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    launcher = KernelProcess([sys.executable, "-c", "pass"], {}, "/", None)
    deadline = time.monotonic() + 10
    while launcher.alive() and time.monotonic() < deadline:  # alive() reaps it
        time.sleep(0.01)
    assert not launcher.alive()
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        # the pid was reused: /proc now shows the bystander as a child of that number
        real_children = _process.children
        monkeypatch.setattr(
            _process,
            "children",
            lambda pid: [bystander.pid] if pid == launcher.pid else real_children(pid),
        )
        assert launcher.descendants() == []
        launcher.kill()
        time.sleep(0.2)
        assert bystander.poll() is None, "the bystander was killed"
    finally:
        bystander.kill()
        bystander.wait()


def test_a_running_launchers_children_are_still_found_and_killed() -> None:
    launcher = KernelProcess(
        [sys.executable, "-c", "import subprocess, sys, time; "
         "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)']); "
         "time.sleep(30)"],
        {}, "/", None,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while not launcher.descendants() and time.monotonic() < deadline:
            time.sleep(0.02)
        child = launcher.descendants()
        assert len(child) == 1
    finally:
        launcher.kill()
    assert not launcher.alive()
    deadline = time.monotonic() + 5
    while _alive(child[0]) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not _alive(child[0])


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False
