"""How fast the CLI reports mistakes that need no model, against a bare interpreter start.

Run: ``python -m benchmarks.cli_errors`` (or all benchmarks: ``make bench``). Each row is
the median wall time of one command in a fresh process, and its ratio to ``python -c
pass`` measured in the same run. The target is under 1 s: these errors come before
litellm (3-4 s to import) is loaded.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TRACE = (
    Path(__file__).resolve().parents[1]
    / "ace"
    / "cli"
    / "demo_data"
    / "who_and_when_hand_crafted_3.json"
)
CASES = {
    "missing trace file": ["rr", "analyse", "/no/such/trace.json", "--model", "openai/gpt-4o-mini"],
    "bad --save folder": ["rr", "analyse", str(TRACE), "--model", "openai/gpt-4o-mini", "--save", "/no/dir/t.json"],
    "missing OPENAI_API_KEY": ["rr", "analyse", str(TRACE), "--model", "openai/gpt-4o-mini"],
}  # fmt: skip


def wall(argv: list[str], runs: int = 7) -> float:
    """Median seconds of ``argv`` in a fresh process, without any provider key."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    samples = []
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(runs):
            started = time.perf_counter()
            subprocess.run(argv, capture_output=True, env=env, cwd=folder)
            samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> None:
    """Print one row per case: seconds and the ratio to a bare interpreter start."""
    baseline = wall([sys.executable, "-c", "pass"])
    print("CLI errors that need no model (median of 7, fresh processes)")
    print(f"  python -c pass (baseline): {baseline * 1000:.0f} ms")
    for name, argv in CASES.items():
        seconds = wall([sys.executable, "-m", "ace.cli", *argv])
        print(
            f"  {name}: {seconds * 1000:.0f} ms ({seconds / baseline:.1f}x the baseline; target < 1 s)"
        )


if __name__ == "__main__":
    main()
