"""The sandbox against a plain ipykernel started by jupyter_client, on this machine, side by side.

Run: ``.venv/bin/python -m benchmarks.sandbox [--cells N]``

Rows: trivial cell round trip (p50/p99), cold start, warm acquire from a `SandboxPool`,
injection of 1/10/100 MB of trace-shaped JSON (against in-process ``orjson.loads`` of the same
bytes, with the garbage collector on as a user's process has it, and off), restart after a
SIGKILL of the kernel (the sandbox restores the session's state, ipykernel's restart does
not), and the peak resident memory (VmHWM) of a kernel holding the 100 MB trace.
The plain ipykernel gets the trace the fastest way a client can give it one: a file that a
cell reads and parses with orjson (the code string would be ~40x slower).
"""

from __future__ import annotations

import argparse
import functools
import gc
import os
import signal
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from sandbox import Sandbox, SandboxConfig, SandboxPool

SIZES_MB = (1, 10, 100)
STATE = """
import json
counts = {"a": 1, "b": [1, 2, 3]}
THRESHOLD = 5
def scaled(x, factor=THRESHOLD):
    return x * factor
class Box:
    def __init__(self, value):
        self.value = value
"""


def trace_of(megabytes: int) -> dict[str, Any]:
    """A trace-shaped value of about `megabytes` MB of JSON."""
    step = {"role": "assistant", "content": "checking the invoice total " * 8, "tool": None}
    count = megabytes * 1_000_000 // 260
    return {"question": "q", "steps": [{**step, "i": i, "score": i / 7} for i in range(count)]}


def vm_hwm_mb(pid: int) -> float:
    """Peak resident memory of `pid` in MB, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


class PlainKernel:
    """A plain ipykernel (full IPython) driven the usual way through jupyter_client."""

    def __init__(self) -> None:
        from jupyter_client.manager import KernelManager

        self.manager = KernelManager(kernel_name="python3")
        self.client: Any = None

    def start(self) -> None:
        self.manager.start_kernel()
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=60)

    def execute(self, code: str) -> dict[str, Any]:
        msg_id = self.client.execute(code)
        while True:
            reply: dict[str, Any] = self.client.get_shell_msg(timeout=300)
            if reply["parent_header"].get("msg_id") == msg_id:
                return reply

    def restart(self) -> None:
        self.manager.restart_kernel(now=True)
        self.client.wait_for_ready(timeout=60)

    @property
    def pid(self) -> int:
        provisioner: Any = self.manager.provisioner  # a LocalProvisioner here
        return int(provisioner.process.pid)

    def close(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


def in_process_loads(data: bytes, *, collect: bool) -> float:
    """Median seconds of ``orjson.loads(data)`` here (gc as a user has it, or off); the
    result is freed after the clock stops, as the injections' old values are."""
    samples = []
    for _ in range(3):
        gc.collect()
        if not collect:
            gc.disable()
        try:
            started = time.perf_counter()
            value = orjson.loads(data)
            samples.append(time.perf_counter() - started)
        finally:
            gc.enable()
        del value
    return statistics.median(samples)


def main(argv: list[str] | None = None) -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=1000, help="cells for the round trip")
    args = parser.parse_args(argv)
    config = SandboxConfig(require_isolation=True)
    rows: list[tuple[str, str, str, str]] = []

    # Round trip and cold start.
    box = Sandbox(config)
    cold = [timed(box.start)]
    plain = PlainKernel()
    plain_cold = [timed(plain.start)]
    for _ in range(50):
        box.execute("1+1")
        plain.execute("1+1")
    ours = [timed(lambda: box.execute("1+1")) for _ in range(args.cells)]
    theirs = [timed(lambda: plain.execute("1+1")) for _ in range(args.cells)]
    ms = 1000.0
    rows.append(
        (
            "trivial cell p50",
            f"{percentile(ours, 0.5) * ms:.2f} ms",
            f"{percentile(theirs, 0.5) * ms:.2f} ms",
            "target <= 2 ms",
        )
    )
    rows.append(
        (
            "trivial cell p99",
            f"{percentile(ours, 0.99) * ms:.2f} ms",
            f"{percentile(theirs, 0.99) * ms:.2f} ms",
            "",
        )
    )
    for _ in range(2):
        extra = Sandbox(config)
        cold.append(timed(extra.start))
        extra.close()
    rows.append(
        (
            "cold start",
            f"{statistics.median(cold) * ms:.0f} ms",
            f"{statistics.median(plain_cold) * ms:.0f} ms",
            "sandbox: walls + isolation probes",
        )
    )

    # Warm acquire.
    with SandboxPool(config, size=2) as pool:
        acquires = []
        for _ in range(5):
            pool.wait_ready(60)
            started = time.perf_counter()
            warm = pool.acquire()
            acquires.append(time.perf_counter() - started)
            warm.close()
    rows.append(
        (
            "warm acquire (pool)",
            f"{statistics.median(acquires) * ms:.2f} ms",
            "n/a",
            "target <= 20 ms",
        )
    )

    # Injection, each into a fresh kernel (as a session does); peak memory of the last.
    box.close()
    peaks: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for size in SIZES_MB:
            value = trace_of(size)
            data = orjson.dumps(value)
            path = Path(tmp) / f"trace{size}.json"
            path.write_bytes(data)
            base_gc = in_process_loads(data, collect=True)
            base_nogc = in_process_loads(data, collect=False)
            load = (
                f"import orjson\nwith open({str(path)!r}, 'rb') as f:\n"
                "    traces = orjson.loads(f.read())"
            )
            ours_runs, theirs_runs = [], []
            for _ in range(5 if size < 100 else 3):
                with Sandbox(config) as fresh:
                    ours_runs.append(timed(functools.partial(fresh.inject, "traces", value)))
                    peaks["sandbox"] = vm_hwm_mb(fresh.kernel_pids()[-1])
                plain.restart()
                theirs_runs.append(timed(functools.partial(plain.execute, load)))
                peaks["plain"] = vm_hwm_mb(plain.pid)
            inject, theirs_inject = statistics.median(ours_runs), statistics.median(theirs_runs)
            rows.append(
                (
                    f"inject {size} MB ({len(data) / 1e6:.0f} MB JSON)",
                    f"{inject * ms:.0f} ms",
                    f"{theirs_inject * ms:.0f} ms",
                    f"{inject / base_gc:.2f}x / {inject / base_nogc:.2f}x in-process loads "
                    f"({base_gc * ms:.0f} / {base_nogc * ms:.0f} ms, gc on / off); target <= 1.6x",
                )
            )
            del value
    rows.append(
        (
            "peak RSS, 100 MB trace",
            f"{peaks['sandbox']:.0f} MB",
            f"{peaks['plain']:.0f} MB",
            "VmHWM of the kernel process holding the 114 MB JSON trace",
        )
    )

    # Restart after a kill, with the session's state restored.
    restarts = []
    with Sandbox(config) as box:
        box.inject("traces", trace_of(1))
        box.execute(STATE)
        for _ in range(3):
            os.kill(box.kernel_pids()[-1], signal.SIGKILL)
            time.sleep(0.1)
            started = time.perf_counter()
            result = box.execute("print(counts['a'], scaled(2), len(traces['steps']))")
            restarts.append(time.perf_counter() - started)
            assert result.restarted and result.ok, result.error
    plain_restarts = [timed(plain.restart) for _ in range(3)]
    plain.close()
    rows.append(
        (
            "restart after SIGKILL",
            f"{statistics.median(restarts) * ms:.0f} ms",
            f"{statistics.median(plain_restarts) * ms:.0f} ms",
            "sandbox: + 1 MB trace, helpers, globals, defs restored; ipykernel: empty kernel",
        )
    )

    widths = [
        max(len(r[i]) for r in [*rows, ("measure", "sandbox", "plain ipykernel", "")])
        for i in range(4)
    ]
    header = ("measure", "sandbox", "plain ipykernel", "note")
    print(f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f}")
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print("| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) + " |")


if __name__ == "__main__":
    main()
