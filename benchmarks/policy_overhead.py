"""Overhead of the code policy on the benign corpus: compile + run, policy vs plain exec.

Run: .venv/bin/python -m benchmarks.policy_overhead [--repeat N]
Each cell is compiled and run N times in a fresh namespace (the namespace and the data
copy are made outside the timed part, stdout is discarded); a cell's time is its median
over the repeats, and the report gives the median over cells.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import CodeType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from policy_corpus.corpus import data, load_cells

from sandbox._policy import CellPolicy

Compile = Callable[[str, str], CodeType]
Exec = Callable[[CodeType, dict[str, Any]], None]


def _time_cell(
    source: str, compile_fn: Compile, exec_fn: Exec, namespace: Callable[[], dict[str, Any]]
) -> tuple[float, float]:
    ns = namespace()
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink):
        t0 = time.perf_counter()
        code = compile_fn(source, "<bench>")
        t1 = time.perf_counter()
        exec_fn(code, ns)
        t2 = time.perf_counter()
    return t1 - t0, t2 - t1


def measure(repeat: int) -> dict[str, list[tuple[float, float]]]:
    """Per cell, the median (compile, run) seconds for "plain" and "policy"."""
    policy = CellPolicy(max_output_chars=None)
    modes: dict[str, tuple[Compile, Exec, Callable[[], dict[str, Any]]]] = {
        "plain": (
            lambda s, f: compile(s, f, "exec", dont_inherit=True),
            lambda c, ns: exec(c, ns),
            lambda: {"__name__": "__main__", **data()},
        ),
        "policy": (policy.compile, policy.exec, lambda: {**policy.new_namespace(), **data()}),
    }
    results: dict[str, list[tuple[float, float]]] = {mode: [] for mode in modes}
    for _name, source in load_cells():
        for mode, (compile_fn, exec_fn, namespace) in modes.items():
            runs = [_time_cell(source, compile_fn, exec_fn, namespace) for _ in range(repeat)]
            results[mode].append(
                (statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs))
            )
    return results


def main(argv: list[str] | None = None) -> None:
    """Print median per-cell compile, run and total time under the policy and plain exec."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="runs per cell (default 7)")
    args = parser.parse_args(argv)
    results = measure(args.repeat)
    cells = len(results["plain"])

    def med(mode: str, part: Callable[[tuple[float, float]], float]) -> float:
        return statistics.median(part(r) for r in results[mode])

    parts: dict[str, Callable[[tuple[float, float]], float]] = {
        "compile": lambda r: r[0],
        "run": lambda r: r[1],
        "compile+run": lambda r: r[0] + r[1],
    }
    print(f"benign corpus: {cells} cells, {args.repeat} runs each, median per cell")
    print(f"{'':12} {'plain exec':>12} {'policy':>12} {'ratio':>7}")
    for label, part in parts.items():
        plain, policy = med("plain", part), med("policy", part)
        print(f"{label:12} {plain * 1e3:9.3f} ms {policy * 1e3:9.3f} ms {policy / plain:6.2f}x")
    per_cell = [
        (p[0] + p[1]) / (q[0] + q[1])
        for p, q in zip(results["policy"], results["plain"], strict=True)
    ]
    print(
        f"per-cell ratio of compile+run: median {statistics.median(per_cell):.2f}x, "
        f"max {max(per_cell):.2f}x"
    )


if __name__ == "__main__":
    main()
