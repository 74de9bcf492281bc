"""A launcher that exits before the kernel is up is started once more; a second failure
names both."""

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


def _failing_first(times: int, real: object) -> object:
    calls = {"n": 0}

    def command(spec: dict[str, object]) -> list[str]:
        if "sandbox._kernel" not in str(spec.get("argv")):  # the walls' own probes
            return real(spec)  # type: ignore[operator,no-any-return]
        calls["n"] += 1
        return list(_FAILING) if calls["n"] <= times else real(spec)  # type: ignore[operator]

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
