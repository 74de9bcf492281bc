"""The first real-model result: the local model on the first Who&When traces.

Runs ``rr`` (Recursive Reflector), ``simple`` (single-pass Reflector) and ``random`` on
the first N algorithm-generated Who&When traces with ``local/qwen2.5-coder-1.5b`` and
prints one Markdown table (agent and exact-step accuracy, ±1, how often no step was
named, tokens, median seconds per trace). Each reflector's full report is saved as JSON
next to the table, and results are written after every trace so a long run can be
watched and interrupted.

Run (slow: minutes per trace on two cores)::

    python -m benchmarks.local_eval [--limit 10] [--reflectors rr,simple,random] [--out DIR]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from ace.eval import (
    EvalReport,
    RandomReflector,
    RRReflector,
    SimpleReflector,
    TraceReflector,
    TraceResult,
    evaluate_one,
    format_report,
    summarise,
)
from ace.local_model import SMALL_MODEL_RR_SETTINGS, ensure_local_model
from ace.rr import RRConfig
from ace.traces import LabelledTrace, load_labelled_traces

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "who_and_when"
MODEL = "local/qwen2.5-coder-1.5b"

RR_CONFIG = RRConfig(**SMALL_MODEL_RR_SETTINGS)
"""Budget for a 1.5B model on two cores: fewer, shorter turns than the defaults."""


def reflector(name: str, transcripts: Path) -> TraceReflector:
    """The reflector called ``name`` with the local model."""
    if name == "rr":
        return RRReflector(MODEL, RR_CONFIG, transcripts_dir=transcripts)
    if name == "simple":
        return SimpleReflector(MODEL)  # replies capped by ace.llm.local.DEFAULT_MAX_TOKENS
    if name == "random":
        return RandomReflector(seed=0)
    raise SystemExit(f"unknown reflector {name!r}: use rr, simple or random")


def table(reports: list[EvalReport]) -> str:
    """A Markdown table of the reports' summaries."""
    lines = [
        "| reflector | traces | agent acc. | exact step acc. | step ±1 | no step named "
        "| errors | calls/trace | tokens/trace | s/trace (median) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for report in reports:
        s = report.summary
        unnamed = sum(r.predicted_step is None for r in report.results)
        median_s = statistics.median(r.duration_s for r in report.results) if report.results else 0
        lines.append(
            f"| {report.reflector} | {s.traces} | {_pct(s.agent_accuracy)} "
            f"| {_pct(s.step_accuracy)} | {_pct(s.step_within.get(1))} | {unnamed} | {s.errors} "
            f"| {s.calls_per_trace:.1f} | {s.tokens_per_trace:,.0f} | {median_s:.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark trace by trace (every reflector on a trace before the next trace,
    so a partial run compares like with like) and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--limit", type=int, default=10)
    parser.add_argument("--reflectors", default="random,simple,rr")
    parser.add_argument("--data", type=Path, default=DATA / "algorithm_generated")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/local_eval"))
    args = parser.parse_args(argv)

    ensure_local_model()
    items: list[LabelledTrace] = load_labelled_traces(args.data)[: args.limit]
    args.out.mkdir(parents=True, exist_ok=True)
    names = args.reflectors.split(",")
    chosen = {name: reflector(name, args.out / "transcripts") for name in names}
    results: dict[str, list[TraceResult]] = {name: [] for name in names}
    reports: list[EvalReport] = []
    for i, item in enumerate(items):
        for name in names:
            result = evaluate_one(item, chosen[name])
            results[name].append(result)
            print(
                f"[{i + 1}/{len(items)} {result.trace_id}] {name}: agent "
                f"{'ok' if result.agent_correct else 'wrong'}, step distance "
                f"{result.step_distance}, {result.duration_s:.0f} s, "
                f"{result.prompt_tokens + result.completion_tokens} tokens"
                + (f", error {result.error[:120]}" if result.error else ""),
                file=sys.stderr,
                flush=True,
            )
        reports = [
            EvalReport(
                reflector=name,
                model=None if name == "random" else MODEL,
                dataset="who_and_when/algorithm_generated",
                limit=args.limit,
                summary=summarise(results[name]),
                results=results[name],
            )
            for name in names
        ]
        for report in reports:
            report.save(args.out / f"{report.reflector}.json")
        (args.out / "table.md").write_text(table(reports) + "\n")
    for report in reports:
        print(format_report(report), file=sys.stderr)
    print(table(reports))
    return 0


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.0f}%"


if __name__ == "__main__":
    raise SystemExit(main())
