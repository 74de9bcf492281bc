"""Pipeline figures: engine overhead per sample per step, and throughput with a slow model.

Run: ``python -m benchmarks.pipeline``.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

from ace.llm import LLMClient
from ace.pipeline import Pipeline, StepContext
from ace.testing import FunctionModel


@dataclass(frozen=True, kw_only=True)
class Ctx(StepContext):
    """One sample: a question in, an answer out."""

    question: str | None = None
    answer: str | None = None


class NoOp:
    """Returns the context it was given."""

    requires: frozenset[str] = frozenset()
    provides: frozenset[str] = frozenset()

    def __call__(self, ctx: Ctx) -> Ctx:
        return ctx


class Ask:
    """Asks the model the sample's question."""

    requires = frozenset({"question"})
    provides = frozenset({"answer"})

    def __init__(self, client: LLMClient) -> None:
        self.client = client

    def __call__(self, ctx: Ctx) -> Ctx:
        assert ctx.question is not None
        return ctx.replace(answer=self.client.complete(ctx.question).text)


def overhead_per_step(samples: int = 2_000, steps: int = 10, runs: int = 7) -> float:
    """Median seconds of engine overhead per sample per step, with no-op steps."""
    pipe = Pipeline([NoOp() for _ in range(steps)])
    contexts = [Ctx(question=str(i)) for i in range(samples)]
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        pipe.run(contexts)
        timings.append((time.perf_counter() - start) / (samples * steps))
    return statistics.median(timings)


def throughput(workers: int, samples: int = 1_000, delay_s: float = 0.010) -> float:
    """Samples per second through one model step whose every call takes ``delay_s``."""
    model = FunctionModel(lambda request: "ok", delay_s=delay_s)
    pipe = Pipeline([Ask(LLMClient(model.name))])
    contexts = [Ctx(question=f"question {i}") for i in range(samples)]
    pipe.run(contexts[:5], workers=workers)  # warm litellm up outside the timing
    start = time.perf_counter()
    results = pipe.run(contexts, workers=workers)
    elapsed = time.perf_counter() - start
    assert all(r.ok for r in results)
    return samples / elapsed


def main() -> None:
    """Print the figures."""
    per_step = overhead_per_step()
    print(f"overhead per sample per step (no-op steps, median of 7): {per_step * 1e6:.1f} µs")
    for workers in (1, 8):
        rate = throughput(workers)
        print(
            f"throughput, 1,000 samples, 10 ms scripted model, workers={workers}: "
            f"{rate:.1f} samples/s ({1000 / rate:.2f} s total)"
        )


if __name__ == "__main__":
    main()
