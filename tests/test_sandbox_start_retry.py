"""A launcher that exits before the kernel is up is started once more; a second failure
names both. So is a kernel killed after binding its sockets whose launcher exits a moment
later (what util-linux unshare does when its child dies by SIGKILL)."""

from __future__ import annotations

import shutil
import sys

import pytest
from conftest import skip_missing_system_package

from sandbox import Sandbox, SandboxConfig, SandboxStartError, _walls

_FAILING = [sys.executable, "-I", "-S", "-c", "import sys; print('launcher gave up'); sys.exit(1)"]


def _config() -> SandboxConfig:
    if shutil.which("bwrap") is None:
        skip_missing_system_package("bubblewrap")
    return SandboxConfig(policy="none", launcher="bwrap", require_isolation=True)


# Stands in for a kernel SIGKILLed once its sockets are bound: the socket files stay with
# nobody listening (the host's connect is refused), and the launcher, like unshare, says
# its last words and exits a moment after the host noticed.
_BOUND_THEN_KILLED = (
    "import json, socket, sys, time\n"
    "info = json.load(open(sys.argv[1]))\n"
    "for key in [k for k in info if k.endswith('_port')]:\n"
    "    s = socket.socket(socket.AF_UNIX)\n"
    "    s.bind(f\"{info['ip']}-{info[key]}\")\n"
    "    s.close()\n"
    "time.sleep(0.5)\n"
    "print('unshare: sigprocmask unblock failed: Invalid argument', flush=True)\n"
    "sys.exit(1)\n"
)


def _bound_then_killed(spec: dict[str, object]) -> list[str]:
    argv = [str(part) for part in spec["argv"]]  # type: ignore[attr-defined]
    conn_file = argv[len(argv) - 1 - argv[::-1].index("-f") + 1]
    return [sys.executable, "-I", "-S", "-c", _BOUND_THEN_KILLED, conn_file]


def _failing_first(times: int, real: object, failing: object = None) -> object:
    calls = {"n": 0}

    def command(spec: dict[str, object]) -> list[str]:
        if "sandbox._kernel" not in str(spec.get("argv")):  # the walls' own probes
            return real(spec)  # type: ignore[operator,no-any-return]
        calls["n"] += 1
        if calls["n"] > times:
            return real(spec)  # type: ignore[operator,no-any-return]
        return failing(spec) if callable(failing) else list(_FAILING)

    command.calls = calls  # type: ignore[attr-defined]
    return command


def test_a_launcher_that_exits_at_once_is_started_once_more(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    command = _failing_first(1, _walls.launcher_command)
    monkeypatch.setattr(_walls, "launcher_command", command)
    with Sandbox(_config()) as sandbox:  # the same walls on the second start
        assert sandbox.execute("print(6 * 7)").stdout.strip() == "42"
        assert not sandbox.isolation.missing
    assert command.calls["n"] == 2  # type: ignore[attr-defined]


def test_two_failed_starts_raise_naming_both(monkeypatch: pytest.MonkeyPatch) -> None:
    command = _failing_first(2, _walls.launcher_command)
    monkeypatch.setattr(_walls, "launcher_command", command)
    sandbox = Sandbox(_config())
    with pytest.raises(SandboxStartError, match="a first start failed too") as raised:
        sandbox.start()
    assert "exit status 1" in str(raised.value)
    assert command.calls["n"] == 2  # type: ignore[attr-defined]


def _host_ipc_config() -> SandboxConfig:
    """Walls whose IPC sockets are host paths (the stand-in above binds them there)."""
    launcher = "unshare" if _walls.unshare_path() else "none"
    return SandboxConfig(policy="none", launcher=launcher)


@pytest.mark.filterwarnings("ignore::sandbox.IsolationWarning")
def test_a_kernel_killed_after_binding_is_started_once_more(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    command = _failing_first(1, _walls.launcher_command, _bound_then_killed)
    monkeypatch.setattr(_walls, "launcher_command", command)
    with Sandbox(_host_ipc_config()) as sandbox:
        assert sandbox.execute("print(6 * 7)").stdout.strip() == "42"
    assert command.calls["n"] == 2  # type: ignore[attr-defined]


@pytest.mark.filterwarnings("ignore::sandbox.IsolationWarning")
def test_a_kernel_killed_twice_is_named_as_killed(monkeypatch: pytest.MonkeyPatch) -> None:
    command = _failing_first(2, _walls.launcher_command, _bound_then_killed)
    monkeypatch.setattr(_walls, "launcher_command", command)
    sandbox = Sandbox(_host_ipc_config())
    with pytest.raises(SandboxStartError, match="a first start failed too") as raised:
        sandbox.start()
    message = str(raised.value)
    assert "refused the connection" in message and "exit status 1" in message
    assert message.count("the kernel was killed by SIGKILL from outside the sandbox") == 2
    assert command.calls["n"] == 2  # type: ignore[attr-defined]
