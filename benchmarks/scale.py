"""Scale-out: RR sessions on a loopback Ray cluster against the local pool, same concurrency.

Run: ``python -m benchmarks.scale [--traces 200] [--slots 2] [--latency 0.2]``. Starts a
two-node Ray cluster on 127.0.0.1 (head and one worker node, ``--slots`` kernel slots
each, dashboard off, 200 MB object store each), runs ``--traces`` Who&When traces
through the RR with a scripted model answering after ``--latency`` seconds, once on a
``LocalExecutor`` with ``2 * slots`` threads and warm kernels, once on a
``RayExecutor``, and prints throughput, the ratio to the local run measured here,
scheduling overhead per session (launch to result, minus the session itself) and peak
memory per node (the node's whole Ray process tree: raylet, workers, kernels) against
the local process tree. Needs ``pip install 'ace-rr[ray]'``; both "nodes" share this
machine's CPUs, so the figure is the cost of Ray's path, not a gain from more machines.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

# Before Ray is imported: keep every node on 127.0.0.1 and send no usage statistics.
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "who_and_when" / "algorithm_generated"
MODEL = "scale-rr"
EXPLORE = "print(len(trace), trace.agents())"
FINAL = (
    "_i = len(trace) // 2\n"
    "FINAL({'reasoning': 'r', 'key_insight': 'k', "
    "'attribution': {'agent': trace.steps[_i]['agent'], 'step': _i, 'reason': 'middle'}})"
)
_models: list[Any] = []
_latency = [0.2]


def _reply(request: Any) -> str:
    from ace.testing import code_reply

    turns = sum(1 for m in request.messages if m.get("role") == "assistant")
    return code_reply(EXPLORE if turns == 0 else FINAL)


def setup(latency_s: float = 0.2) -> None:
    """Register the scripted model in this process (each node actor runs this)."""
    if not _models:
        from ace.testing import FunctionModel

        _models.append(FunctionModel(_reply, name=MODEL, delay_s=latency_s))


def _traces(count: int) -> list[Any]:
    from ace.traces.load import load_labelled_traces

    base = load_labelled_traces(DATA)
    return [base[i % len(base)] for i in range(count)]


class _PeakRSS:
    """Samples the resident memory of this process and its children (the local run)."""

    def __init__(self) -> None:
        from ace.executors._ray_actors import tree_rss

        self._measure = tree_rss
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.25):
            self.peak = max(self.peak, self._measure(os.getpid()))

    def __enter__(self) -> _PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _start_cluster(slots: int) -> tuple[Any, Path]:
    from ray.cluster_utils import Cluster

    root = Path(tempfile.mkdtemp(prefix="acebench-", dir="/tmp"))
    os.environ["RAY_TMPDIR"] = str(root)
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    node = {
        "node_ip_address": "127.0.0.1",
        "num_cpus": 1,
        "object_store_memory": 200 * 1024 * 1024,
        "resources": {"ace_kernel": slots},
        "env_vars": env,
    }
    cluster = Cluster(initialize_head=True, head_node_args={**node, "include_dashboard": False})
    cluster.add_node(**node)
    cluster.wait_for_nodes()
    return cluster, root


def run(traces: int = 200, slots: int = 2, latency_s: float = 0.2) -> dict[str, float]:
    """Measure both runs; return the figures (also printed)."""
    import functools

    from ace.eval import RRReflector, evaluate
    from ace.executors import LocalExecutor, RayExecutor
    from ace.rr import RRConfig

    jobs = 2 * slots
    config = RRConfig(max_iterations=4, warm_kernels=jobs)
    items = _traces(traces)
    setup(latency_s)
    warm = RRReflector(f"scripted/{MODEL}", config)
    evaluate(items[:2], warm)  # imports and a first kernel, outside the timing
    warm.close()

    reflector = RRReflector(f"scripted/{MODEL}", config)
    with _PeakRSS() as local_memory, LocalExecutor(jobs) as local:
        started = time.perf_counter()
        local_report = evaluate(items, reflector, executor=local)
        local_s = time.perf_counter() - started
    reflector.close()

    print(f"local pool: {traces / local_s:.2f} traces/s ({local_s:.1f} s)", flush=True)
    from benchmarks import scale  # by reference (not __main__'s copy): nodes import it

    cluster, root = _start_cluster(slots)
    try:
        with RayExecutor(
            cluster.address,
            setup=functools.partial(scale.setup, latency_s),
            measure_memory=True,
        ) as executor:
            evaluate(items[: 2 * jobs], RRReflector(f"scripted/{MODEL}", config), executor=executor)
            executor.overheads_s.clear()  # the warm-up's first kernels are not the figure
            started = time.perf_counter()
            ray_report = evaluate(
                items, RRReflector(f"scripted/{MODEL}", config), executor=executor
            )
            ray_s = time.perf_counter() - started
            overheads = list(executor.overheads_s)
            nodes = executor.node_status()
    finally:
        cluster.shutdown()
        shutil.rmtree(root, ignore_errors=True)

    differ = [
        (a.trace_id, a.outcome, a.error, b.outcome, b.error)
        for a, b in zip(local_report.results, ray_report.results, strict=True)
        if (a.predicted_agent, a.predicted_step) != (b.predicted_agent, b.predicted_step)
    ]
    figures = {
        "local_traces_per_s": traces / local_s,
        "ray_traces_per_s": traces / ray_s,
        "throughput_ratio": local_s / ray_s,
        "overhead_ms_median": statistics.median(overheads) * 1000,
        "overhead_ms_p90": statistics.quantiles(overheads, n=10)[-1] * 1000,
        "local_peak_rss_mb": local_memory.peak / 2**20,
        "node_peak_rss_mb_max": max(n.peak_rss_mb for n in nodes),
    }
    print(f"== scale-out: {traces} traces, scripted model {latency_s * 1000:.0f} ms/reply ==")
    print(f"concurrency: {jobs} (local threads) vs {len(nodes)} nodes x {slots} kernel slots")
    print(
        f"local pool      {figures['local_traces_per_s']:.2f} traces/s ({local_s:.1f} s)\n"
        f"ray cluster     {figures['ray_traces_per_s']:.2f} traces/s ({ray_s:.1f} s)\n"
        f"ratio ray/local {figures['throughput_ratio']:.2f}x (target >= 0.9x)\n"
        f"scheduling overhead per session: median {figures['overhead_ms_median']:.1f} ms, "
        f"p90 {figures['overhead_ms_p90']:.1f} ms\n"
        f"peak memory: local process tree {figures['local_peak_rss_mb']:.0f} MB; "
        + ", ".join(
            f"node {n.node_id[:8]} {n.peak_rss_mb:.0f} MB ({n.sessions} sessions, "
            f"{n.peak_rss_mb / max(figures['local_peak_rss_mb'], 1):.2f}x local)"
            for n in nodes
        )
    )
    print(f"attributions equal to the local run's: {traces - len(differ)} of {traces}")
    for trace_id, *outcomes in differ[:5]:
        print(f"  differs: {trace_id} local/ray outcome and error {outcomes}")
    return figures


def main(argv: list[str] | None = None) -> None:
    """Parse the options and run."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.scale", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--traces", type=int, default=200, help="traces per run (default 200)")
    parser.add_argument("--slots", type=int, default=2, help="kernel slots per node (default 2)")
    parser.add_argument(
        "--latency", type=float, default=0.2, help="scripted reply latency, s (default 0.2)"
    )
    options = parser.parse_args(argv if argv is not None else [])
    run(options.traces, options.slots, options.latency)


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
