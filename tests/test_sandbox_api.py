"""The sandbox's interface against a real kernel: execute, inject, host calls, caps, layers."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import skip_missing_system_package

import sandbox
from sandbox import (
    IsolationError,
    IsolationWarning,
    Sandbox,
    SandboxClosedError,
    SandboxConfig,
    SandboxConfigError,
)

ROOT = Path(__file__).resolve().parents[1]


def bwrap_config(**changes: object) -> SandboxConfig:
    if shutil.which("bwrap") is None:
        skip_missing_system_package("bubblewrap")
    options: dict[str, object] = {"policy": "none", "launcher": "bwrap", "require_isolation": True}
    options.update(changes)
    return SandboxConfig(**options)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with Sandbox(bwrap_config(timeout_s=10, max_output_chars=2000)) as box:
        yield box


def test_public_names_are_exactly_all() -> None:
    public = {name for name in dir(sandbox) if not name.startswith("_")}
    submodules = {"config", "errors", "results"}
    assert public - submodules == set(sandbox.__all__)
    for name in sandbox.__all__:
        assert getattr(sandbox, name).__doc__, name


def test_sandbox_imports_nothing_from_ace() -> None:
    code = "import sys, sandbox; print(sorted(m for m in sys.modules if m.split('.')[0] == 'ace'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    for path in (ROOT / "sandbox").glob("*.py"):
        text = path.read_text()
        assert "from ace" not in text and "import ace" not in text, path


def test_execute_returns_output_errors_and_keeps_the_namespace(sb: Sandbox) -> None:
    first = sb.execute("import sys\nx = 41\nprint('out')\nprint('err', file=sys.stderr)")
    assert first.ok and first.stdout == "out\n" and first.stderr == "err\n"
    assert first.duration_s > 0 and not first.timed_out
    second = sb.execute("print(x + 1)\nraise ValueError('bad value')")
    assert second.stdout == "42\n"
    assert second.error is not None
    assert (second.error.type, second.error.message) == ("ValueError", "bad value")
    assert 'File "<cell>", line 2' in second.error.traceback
    assert "_kernel.py" not in second.error.traceback
    syntax = sb.execute("def (:")
    assert syntax.error is not None and syntax.error.type == "SyntaxError"


def test_kernel_is_minimal_no_ipython(sb: Sandbox) -> None:
    result = sb.execute("print('get_ipython' in dir(__builtins__) or 'get_ipython' in globals())")
    assert result.stdout == "False\n"
    assert sb.execute("%ls").error is not None
    assert sb.execute("!ls").error is not None


def test_output_is_capped_with_a_marker(sb: Sandbox) -> None:
    result = sb.execute("print('a' * 5000)")
    assert result.truncated_chars == 5001 - 2000
    assert result.stdout.startswith("a" * 2000)
    assert f"{5001 - 2000} more characters were cut" in result.stdout


def test_inject_places_json_data_without_the_code_string(sb: Sandbox) -> None:
    value = {"steps": [{"i": i, "text": "é" * 10} for i in range(1000)], "none": None}
    sb.inject("trace", value)
    result = sb.execute("print(len(trace['steps']), trace['steps'][999]['i'], trace['none'])")
    assert result.stdout == "1000 999 None\n"
    with pytest.raises(SandboxConfigError):
        sb.inject("_hidden", 1)
    with pytest.raises(SandboxConfigError):
        sb.inject("not json", 1)
    with pytest.raises(SandboxConfigError):
        sb.inject("obj", object())


@pytest.mark.slow
def test_inject_hundreds_of_megabytes() -> None:
    big = ["x" * 1000] * 200_000  # 200 MB of JSON
    with Sandbox(bwrap_config(memory_mb=6000)) as box:
        started = time.monotonic()
        box.inject("big", big)
        elapsed = time.monotonic() - started
        assert box.execute("print(len(big), len(big[-1]))").stdout == "200000 1000\n"
    assert elapsed < 30


def test_a_thousand_host_calls_in_one_cell(sb: Sandbox) -> None:
    sb.register_host_function("double", lambda x: 2 * x)
    result = sb.execute("total = 0\nfor i in range(1000):\n    total += double(i)\nprint(total)")
    assert result.ok, result.error
    assert result.stdout == f"{2 * sum(range(1000))}\n"
    assert result.host_calls == 1000
    assert result.duration_s / 1000 < 0.02  # measured ~1 ms per call


def test_host_calls_carry_nested_json_both_ways(sb: Sandbox) -> None:
    sb.register_host_function("echo", lambda *args, **kwargs: {"args": args, "kwargs": kwargs})
    code = "r = echo([1, {'a': [None, True, 2.5]}], key={'deep': [[['x']]]})\nprint(r)"
    result = sb.execute(code)
    expected = {"args": [[1, {"a": [None, True, 2.5]}]], "kwargs": {"key": {"deep": [[["x"]]]}}}
    assert result.stdout == f"{expected}\n"
    bad = sb.execute("echo(object())")
    assert bad.error is not None and bad.error.type == "TypeError"
    assert "JSON" in bad.error.message


def test_oversized_host_replies_are_refused() -> None:
    with Sandbox(bwrap_config(max_host_reply_bytes=10_000)) as box:
        box.register_host_function("blob", lambda n: "x" * n)
        assert box.execute("print(len(blob(100)))").stdout == "100\n"
        result = box.execute("blob(20_000)")
        assert result.error is not None and result.error.type == "HostFunctionError"
        assert "ReplyTooLarge" in result.error.message and "10000-byte" in result.error.message
        big_request = box.execute("blob('y' * 9_000_000)")
        assert big_request.error is not None and big_request.error.type == "ValueError"


def test_a_host_function_that_raises_gives_a_clear_kernel_exception(sb: Sandbox) -> None:
    def broken(question: str) -> str:
        raise RuntimeError(f"model unavailable for {question!r}")

    sb.register_host_function("ask", broken)
    result = sb.execute(
        "try:\n    ask('why?')\nexcept HostFunctionError as exc:\n    print('caught', exc)"
    )
    assert (
        result.stdout == "caught host function 'ask': RuntimeError: model unavailable for 'why?'\n"
    )
    with pytest.raises(SandboxConfigError):
        sb.register_host_function("_private", print)


def test_host_call_time_does_not_count_against_the_timeout() -> None:
    with Sandbox(bwrap_config(timeout_s=1.0)) as box:
        box.register_host_function("slow", lambda: time.sleep(0.4) or "done")
        result = box.execute("print([slow() for _ in range(4)])")
        assert result.ok, result.error
        assert result.duration_s > 1.6 and result.host_call_s > 1.6


def test_isolation_report_is_measured_and_complete_with_bwrap(sb: Sandbox) -> None:
    report = sb.isolation
    assert report.launcher == "bwrap"
    assert report.missing == ()
    assert report.process_limit == "cgroup-pids"
    assert report.memory_limit in ("cgroup-memory", "rlimit-as")  # tests/*memory_cgroup.py
    assert report.uid == 65534
    assert report.rlimits["core"] == 0


def test_requested_limits_are_clamped_to_the_hosts() -> None:
    import resource

    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with Sandbox(bwrap_config(open_files=10**9)) as box:
        assert box.isolation.rlimits["open_files"] == min(hard, 10**9)


def test_unshare_layer_on_its_own() -> None:
    if shutil.which("unshare") is None:
        skip_missing_system_package("util-linux")
    config = SandboxConfig(policy="none", launcher="unshare")
    with pytest.warns(IsolationWarning, match="filesystem"), Sandbox(config) as box:
        report = box.isolation
        assert report.launcher == "unshare"
        assert report.network and report.pid_namespace and report.mount_namespace
        assert report.environment and report.resource_limits
        assert not report.filesystem and not report.scratch_tmpfs
        assert box.execute("print(1 + 1)").stdout == "2\n"


def test_rlimits_and_environment_alone_and_require_isolation() -> None:
    with (
        pytest.warns(IsolationWarning),
        Sandbox(SandboxConfig(launcher="none", policy="none")) as box,
    ):
        report = box.isolation
        assert report.environment and report.resource_limits
        assert not report.network and not report.pid_namespace
    with pytest.raises(IsolationError, match="network"):
        Sandbox(SandboxConfig(launcher="none", policy="none", require_isolation=True)).start()


def test_restricted_policy_runs_or_fails_cleanly() -> None:
    with Sandbox(bwrap_config(policy="restricted")) as box:
        result = box.execute("print(1 + 1)")
    if importlib.util.find_spec("sandbox._policy") is None:
        assert result.error is not None and result.error.type == "PolicyUnavailable"
        assert "policy module unavailable" in result.error.message
    else:
        assert result.stdout == "2\n", result.error


def test_config_and_closed_sandbox_errors() -> None:
    with pytest.raises(SandboxConfigError, match="timeout_s"):
        SandboxConfig(timeout_s=0)
    with pytest.raises(SandboxConfigError, match="policy"):
        SandboxConfig(policy="lax")  # type: ignore[arg-type]
    box = Sandbox(bwrap_config())
    box.close()
    with pytest.raises(SandboxClosedError):
        box.execute("1")


def test_restart_keeps_injected_data_and_host_functions(sb: Sandbox) -> None:
    sb.inject("kept", [1, 2])
    sb.register_host_function("one", lambda: 1)
    sb.execute("lost = 1")
    sb.restart()
    result = sb.execute("print(kept, one())\nprint(lost)")
    assert result.stdout == "[1, 2] 1\n"
    assert result.error is not None and result.error.type == "NameError"
