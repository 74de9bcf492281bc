"""``ace rr eval``: score failure attribution on a labelled trace set."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ace.cli._main import CLIError

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from ace.eval import TraceReflector
    from ace.traces import LabelledTrace


def run(args: argparse.Namespace) -> int:
    """Load the set, run the chosen reflector over it, print and save the report."""
    from ace.cli._outputs import check_file, check_folder, write_or_rescue
    from ace.eval import DEFAULT_TOLERANCES, evaluate, format_report
    from ace.traces import load_labelled_traces

    directory = Path(args.directory)
    out = check_file("--out", args.out) or Path(f"ace-eval-{directory.name}-{args.reflector}.json")
    check_file("--out", str(out))
    check_folder("--transcripts", args.transcripts)
    if not directory.exists():
        raise CLIError(f"{directory}: no such file or directory")
    items = load_labelled_traces(directory)
    if args.limit is not None:
        items = items[: args.limit]
    if not items:
        raise CLIError(f"{directory}: no trace files found (.json, .jsonl, .txt, .log)")
    if all(item.labels.is_empty() for item in items):
        raise CLIError(f"{directory}: no trace carries labels (mistake_agent / mistake_step)")
    reflector, model = _reflector(args)
    with _Progress(len(items)) as progress:
        report = evaluate(
            items,
            reflector,
            tolerances=args.tolerance or DEFAULT_TOLERANCES,
            on_result=lambda i, r: progress.advance(i, items, r.agent_correct, r.step_distance),
            model=model,
            dataset=directory.name,
            seed=args.seed if args.reflector == "random" else None,
            limit=args.limit,
        )
    print(format_report(report))
    saved = write_or_rescue(
        "eval-report", out, report.save, lambda: report.model_dump_json(indent=2)
    )
    print(f"results: {saved}")
    return 0


def _reflector(args: argparse.Namespace) -> tuple[TraceReflector, str | None]:
    from ace.eval import RandomReflector, RRReflector, SimpleReflector

    if args.reflector == "random":
        return RandomReflector(args.seed), None
    if not args.model:
        raise CLIError(f"--model is required with --reflector {args.reflector}")
    from ace.cli._models import resolve

    models = resolve(args.model, args.subagent_model)
    if args.reflector == "simple":
        reflector: TraceReflector = SimpleReflector(models.model)
    else:
        from ace.cli._session import rr_config

        reflector = RRReflector(
            models.model, rr_config(args, models), transcripts_dir=args.transcripts
        )
    return reflector, args.model


class _Progress:
    """A progress bar on a terminal; one line per trace elsewhere."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.tty = sys.stderr.isatty()
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> _Progress:
        if self.tty:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            bar = Progress(
                TextColumn("eval"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                TextColumn("{task.description}"),
                console=Console(file=sys.stderr),
            )
            bar.start()
            self._task = bar.add_task("", total=self.total)
            self._bar = bar
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def advance(
        self, position: int, items: list[LabelledTrace], agent_ok: bool, distance: int | None
    ) -> None:
        """Report one finished trace."""
        name = items[position].trace.id
        verdict = f"agent {'✓' if agent_ok else '✗'} step {'✓' if distance == 0 else '✗'}"
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, advance=1, description=f"{name}: {verdict}")
        else:
            print(f"[{position + 1}/{self.total}] {name}: {verdict}", file=sys.stderr, flush=True)
