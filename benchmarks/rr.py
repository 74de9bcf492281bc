"""Recursive Reflector engine figures.

- engine overhead per iteration with a zero-latency scripted model (tracing off and on);
  target p50 <= 10 ms;
- 32 sub-calls of 200 ms simulated latency at concurrency 8; target <= 1.0 s.

Run: ``python -m benchmarks.rr``.
"""

from __future__ import annotations

import itertools
import statistics
import time

from ace.rr import ProgressEvent, RRConfig, RRStep
from ace.testing import FunctionModel, ScriptedModel, code_reply, reflection
from ace.traces import Trace

TRACE = Trace.model_validate(
    {
        "id": "bench",
        "format": "ace",
        "question": "q",
        "steps": [
            {"index": i, "content": f"step {i} " * 20, "agent": f"agent{i % 3}"} for i in range(40)
        ],
    }
)


def iteration_times(iterations: int = 30) -> list[float]:
    """Seconds between the starts of consecutive iterations (model call + cell + bookkeeping)."""
    replies = [code_reply(f"x{i} = len(trace.steps) + {i}") for i in range(iterations - 1)]
    replies.append(code_reply(f"FINAL({reflection('agent0', 0)!r})"))
    model = ScriptedModel(replies)
    starts: list[float] = []

    def on_progress(event: ProgressEvent) -> None:
        if event.phase == "model":
            starts.append(time.perf_counter())

    config = RRConfig(max_iterations=iterations, max_llm_calls=iterations + 2)
    RRStep(model.name, config).analyse(TRACE, on_progress=on_progress)
    return [b - a for a, b in itertools.pairwise(starts)][2:]  # skip warm-up


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def batch_time(n: int = 32, delay_s: float = 0.2, concurrency: int = 8) -> float:
    """Wall time of one cell running ``llm_batch`` of ``n`` prompts of ``delay_s`` each."""
    sub = FunctionModel(lambda request: "ok", delay_s=delay_s)
    main = ScriptedModel(
        [
            code_reply(f"out = llm_batch(['p' + str(i) for i in range({n})])\nprint(len(out))"),
            code_reply(f"FINAL({reflection()!r})"),
        ]
    )
    config = RRConfig(
        subagent_model=sub.name, subagent_concurrency=concurrency, max_llm_calls=n + 5
    )
    result = RRStep(main.name, config).analyse(TRACE)
    return result.transcript.iterations[0].duration_s


def main() -> None:
    """Print the RR figures."""
    print("== recursive reflector ==")
    off = iteration_times()
    print(
        f"engine overhead per iteration, tracing off: p50 {statistics.median(off) * 1000:.1f} ms, "
        f"p90 {percentile(off, 0.9) * 1000:.1f} ms (n={len(off)}; target p50 <= 10 ms)"
    )
    import logfire
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    logfire.configure(
        send_to_logfire=False,
        console=False,
        additional_span_processors=[SimpleSpanProcessor(exporter)],
    )
    on = iteration_times()
    print(
        f"engine overhead per iteration, tracing on:  p50 {statistics.median(on) * 1000:.1f} ms, "
        f"p90 {percentile(on, 0.9) * 1000:.1f} ms ({len(exporter.get_finished_spans())} spans)"
    )
    took = batch_time()
    print(f"llm_batch of 32 sub-calls x 200 ms at concurrency 8: {took:.2f} s (target <= 1.0 s)")


if __name__ == "__main__":
    main()
