"""Batch analysis throughput: ``--jobs 1`` against ``--jobs 2`` on the same traces.

Run: ``python -m benchmarks.batch``. Each session is two turns of a scripted model that
answers after a fixed latency (a hosted model's wait), on its own real kernel; the
figure is the median wall time of each setting and their ratio.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from ace.eval import RRReflector, evaluate
from ace.executors import LocalExecutor
from ace.rr import RRConfig
from ace.testing import FunctionModel, RecordedRequest, code_reply
from ace.traces import LabelledTrace, load_labelled_traces

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "who_and_when"
LATENCY_S = 0.5
TRACES = 6
ROUNDS = 3


def scripted() -> FunctionModel:
    """Explore once, then FINAL, whatever order the sessions run in."""

    def reply(request: RecordedRequest) -> str:
        if not any(m["role"] == "assistant" for m in request.messages):
            return code_reply("print(len(trace))")
        return code_reply(
            "FINAL({'key_insight': 'k', 'attribution': {'agent': trace.agents()[0], 'step': 0}})"
        )

    return FunctionModel(reply, delay_s=LATENCY_S)


def run(items: list[LabelledTrace], model: str, jobs: int) -> float:
    """Wall time of one batch of ``items`` at ``jobs``."""
    reflector = RRReflector(model, RRConfig(warm_kernels=jobs))
    started = time.perf_counter()
    with LocalExecutor(jobs) as executor:
        report = evaluate(items, reflector, executor=executor)
    elapsed = time.perf_counter() - started
    reflector.close()
    assert all(r.outcome == "final" for r in report.results), report.results
    return elapsed


def main() -> None:
    """Print the median seconds of jobs=1 and jobs=2 and their ratio."""
    items = (
        load_labelled_traces(DATA / "algorithm_generated")
        + load_labelled_traces(DATA / "hand_crafted")
    )[:TRACES]
    model = scripted().name
    run(items[:1], model, 1)  # warm-up: imports, litellm
    times: dict[int, list[float]] = {1: [], 2: []}
    for _ in range(ROUNDS):
        for jobs in (1, 2):
            times[jobs].append(run(items, model, jobs))
    one, two = statistics.median(times[1]), statistics.median(times[2])
    print(
        f"batch of {len(items)} traces, 2 turns each, {LATENCY_S * 1000:.0f} ms model latency: "
        f"jobs=1 {one:.2f} s, jobs=2 {two:.2f} s (median of {ROUNDS}); "
        f"speed-up {one / two:.2f}x"
    )


if __name__ == "__main__":
    main()
