"""RR at scale: a batch of 20 traces against 20 single sessions, and a 100 MB trace.

Run: ``python -m benchmarks.rr_scale``. The scripted model answers after a fixed
latency, so wall time shows what batching saves beyond the calls themselves.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from ace.rr import ProgressEvent, RRConfig, RRStep
from ace.testing import FunctionModel, RecordedRequest, code_reply
from ace.traces import Trace, load_trace

DATA = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "who_and_when" / "algorithm_generated"
)
LATENCY_S = 0.05


def who_and_when_traces(n: int) -> list[Trace]:
    """The first ``n`` algorithm-generated Who&When traces (labels removed by the loader)."""
    files = sorted(DATA.glob("*.json"), key=lambda p: int(p.stem))[:n]
    return [load_trace(json.loads(f.read_text())) for f in files]


def scripted_session(per_task: bool) -> FunctionModel:
    """Explore once, then FINAL (one result per task for a batch)."""

    def reply(request: RecordedRequest) -> str:
        turn = sum(1 for m in request.messages if m["role"] == "assistant")
        if turn == 0:
            return code_reply("print(len(tasks), sum(len(t) for t in tasks))")
        if per_task:
            return code_reply(
                "FINAL({'tasks': [{'key_insight': 'k', 'attribution': {'agent': t.agents()[0], 'step': 0}} for t in tasks]})"
            )
        return code_reply(
            "FINAL({'key_insight': 'k', 'attribution': {'agent': trace.agents()[0], 'step': 0}})"
        )

    return FunctionModel(reply, delay_s=LATENCY_S)


def batch_vs_single(n: int = 20) -> None:
    """Print calls and wall time of one batch session against ``n`` single sessions."""
    traces = who_and_when_traces(n)
    RRStep(scripted_session(per_task=False).name).analyse(
        traces[0]
    )  # warm-up: imports, first kernel
    model = scripted_session(per_task=True)
    started = time.perf_counter()
    result = RRStep(model.name).analyse(traces)
    batch_s = time.perf_counter() - started
    assert len(result.reflections) == n
    single = scripted_session(per_task=False)
    started = time.perf_counter()
    calls = 0
    for trace in traces:
        calls += RRStep(single.name).analyse(trace).transcript.usage["calls"]
    single_s = time.perf_counter() - started
    print(
        f"batch of {n} traces: {result.transcript.usage['calls']} calls, {batch_s:.1f} s | "
        f"{n} single sessions: {calls} calls, {single_s:.1f} s (model latency {LATENCY_S * 1000:.0f} ms)"
    )


def big_trace(megabytes: int = 100) -> Trace:
    """A Who&When-shaped trace of about ``megabytes`` MB, built by repeating real steps."""
    seed = [s for t in who_and_when_traces(30) for s in t.steps]
    steps = []
    size = 0
    while size < megabytes * 1_000_000:
        step = seed[len(steps) % len(seed)]
        steps.append(
            {"index": len(steps), "agent": step.agent, "role": step.role, "content": step.content}
        )
        size += len(step.content) + 60
    return Trace.model_validate(
        {"id": f"big-{megabytes}mb", "format": "who_and_when", "question": "q", "steps": steps}
    )


def big_trace_session(megabytes: int = 100) -> None:
    """Time to first cell and kernel peak memory for a session over a big trace."""
    trace = big_trace(megabytes)
    first_cell: list[float] = []
    started = time.perf_counter()

    def on_progress(event: ProgressEvent) -> None:
        if event.phase == "kernel" and not first_cell:
            first_cell.append(time.perf_counter() - started)

    peak: dict[str, int] = {}

    def reply(request: RecordedRequest) -> str:
        turn = sum(1 for m in request.messages if m["role"] == "assistant")
        if turn == 0:
            prompt_chars = sum(len(m["content"]) for m in request.messages)
            peak["prompt_chars"] = prompt_chars
            return code_reply("hits = trace.search(r'exitcode: 1')\nprint(len(trace), len(hits))")
        return code_reply(
            "FINAL({'key_insight': 'big', 'attribution': {'agent': trace.agents()[0], 'step': 0}})"
        )

    model = FunctionModel(reply)
    step = RRStep(model.name, RRConfig(timeout=120))
    result = step.analyse(trace, on_progress=on_progress)
    total = time.perf_counter() - started
    print(
        f"{megabytes} MB trace ({len(trace.steps):,} steps): time to first cell {first_cell[0]:.1f} s, "
        f"session {total:.1f} s, outcome {result.transcript.outcome}, first prompt "
        f"{peak.get('prompt_chars', 0):,} chars (previews only), first cell {result.transcript.iterations[0].duration_s:.1f} s"
    )


def main() -> None:
    """Print the scale figures."""
    print("== recursive reflector at scale ==")
    batch_vs_single()
    big_trace_session()


if __name__ == "__main__":
    main()
