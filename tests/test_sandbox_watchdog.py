"""The watchdog: wall-clock timeouts, interrupts, kills, CPU exhaustion and restarts."""

from __future__ import annotations

import shutil
import time

import pytest
from conftest import skip_missing_system_package

from sandbox import Sandbox, SandboxConfig


def bwrap_config(**changes: object) -> SandboxConfig:
    if shutil.which("bwrap") is None:
        skip_missing_system_package("bubblewrap")
    options: dict[str, object] = {"policy": "none", "launcher": "bwrap", "require_isolation": True}
    options.update(changes)
    return SandboxConfig(**options)  # type: ignore[arg-type]


def test_a_busy_cell_is_interrupted_and_the_namespace_survives() -> None:
    with Sandbox(bwrap_config(timeout_s=1.0)) as sb:
        sb.execute("kept = 'yes'")
        started = time.monotonic()
        result = sb.execute("print('before')\nwhile True:\n    pass")
        assert time.monotonic() - started < 3
        assert result.timed_out and not result.restarted
        assert result.error is not None and result.error.type == "SandboxTimeout"
        assert "namespace is intact" in result.error.message
        assert result.stdout == "before\n"
        assert sb.execute("print(kept)").stdout == "yes\n"


def test_a_cell_that_ignores_sigint_is_killed_and_the_next_cell_runs() -> None:
    code = (
        "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
        "print('stubborn', flush=True)\ntime.sleep(0.5)\nwhile True:\n    pass"
    )
    with Sandbox(bwrap_config(timeout_s=1.5, interrupt_grace_s=0.5)) as sb:
        sb.inject("data", {"a": 1})
        old_pids = sb.kernel_pids()
        started = time.monotonic()
        result = sb.execute(code)
        assert time.monotonic() - started < 5
        assert result.timed_out and result.restarted
        assert result.error is not None and "killed and restarted" in result.error.message
        assert "stubborn" in result.stdout  # partial output streamed before the kill
        assert set(old_pids).isdisjoint(sb.kernel_pids())
        after = sb.execute("print(data)")
        assert after.stdout == "{'a': 1}\n", after.error


def test_a_kernel_that_dies_is_reported_and_restarted() -> None:
    with Sandbox(bwrap_config()) as sb:
        result = sb.execute("import os\nos._exit(3)")
        assert result.error is not None and result.error.type == "KernelDied"
        assert "restarted" in result.error.message and result.restarted
        assert sb.execute("print('back')").stdout == "back\n"


@pytest.mark.slow
def test_cpu_exhaustion_is_a_clear_error_and_the_next_cell_works() -> None:
    with Sandbox(bwrap_config(cpu_s=3, timeout_s=30)) as sb:
        started = time.monotonic()
        result = sb.execute("while True:\n    pass")
        assert time.monotonic() - started < 10
        assert result.error is not None and result.error.type == "KernelDied"
        assert "SIGKILL" in result.error.message and "CPU 3 s" in result.error.message
        assert sb.execute("print('fresh')").stdout == "fresh\n"


def test_threads_left_running_do_not_block_the_next_cell() -> None:
    code = "import threading, time\nthreading.Thread(target=time.sleep, args=(30,), daemon=True).start()"
    with Sandbox(bwrap_config(timeout_s=5)) as sb:
        assert sb.execute(code).ok
        assert sb.execute("print('next')").stdout == "next\n"


def test_host_call_time_pauses_the_clock_unless_the_call_charges_it() -> None:
    with Sandbox(bwrap_config(timeout_s=1.0)) as sb:

        def slow(charge: bool) -> str:
            time.sleep(0.6)
            if charge:
                sb.charge_cell_time(0.6)
            return "done"

        sb.register_host_function("slow", slow)
        paused = sb.execute("for _ in range(3):\n    slow(False)\nprint('ok')")
        assert paused.ok and paused.stdout == "ok\n" and paused.duration_s > 1.5
        charged = sb.execute("for _ in range(3):\n    slow(True)\nprint('ok')")
        assert charged.timed_out and charged.error is not None
