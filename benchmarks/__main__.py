"""Run every benchmark and print its figures: ``python -m benchmarks [name ...]``.

Figures are medians unless stated; expect 20-30% noise between runs on a shared machine.
"""

from __future__ import annotations

import importlib
import sys

SUITES = [
    "foundation",
    "cli_errors",
    "llm_overhead",
    "policy_overhead",
    "pipeline",
    "sandbox",
    "rr",
    "rr_scale",
    "batch",
    "trace_streaming",
    "server",
    "scale",
]


def main(argv: list[str]) -> None:
    """Run the named suites (all by default), in order."""
    if any(arg in ("-h", "--help") for arg in argv):
        print(f"usage: python -m benchmarks [name ...]\n\n{__doc__}\nsuites: {', '.join(SUITES)}")
        print("options of one suite: python -m benchmarks.<name> --help (where it has any)")
        return
    chosen = argv or SUITES
    unknown = [name for name in chosen if name not in SUITES]
    if unknown:
        raise SystemExit(
            f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(SUITES)}"
        )
    for name in chosen:
        module = importlib.import_module(f"benchmarks.{name}")
        if name in ("policy_overhead", "sandbox"):
            module.main([])
        else:
            module.main()
        print(flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
