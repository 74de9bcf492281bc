"""``ace rr eval``: score failure attribution on a labelled trace set."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ace.cli._main import CLIError

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from ace.eval import SkippedFile, TraceReflector
    from ace.traces import LabelledTrace, TraceLabels


def run(args: argparse.Namespace) -> int:
    """Load the set, run the chosen reflector over it, print and save the report.

    Each finished trace goes to the journal beside the report as it finishes; Ctrl-C or
    SIGTERM writes the report of what is done (marked interrupted), and ``--resume``
    continues from the journal.
    """
    from ace.cli._outputs import check_file, check_folder, write_or_rescue
    from ace.cli._signals import exit_code, terminate_as_interrupt
    from ace.eval import (
        DEFAULT_TOLERANCES,
        EvalReport,
        TraceResult,
        evaluate,
        format_report,
        summarise,
    )
    from ace.eval.journal import Journal

    directory = Path(args.directory)
    if args.resume and args.out and Path(args.resume) != Path(args.out):
        raise CLIError(
            "--resume names the report to continue; leave --out out (or make them equal)"
        )
    option = "--resume" if args.resume else "--out"
    chosen = args.resume or args.out or f"ace-eval-{directory.name}-{args.reflector}.json"
    out = check_file(option, chosen)
    assert out is not None
    check_folder("--transcripts", args.transcripts)
    if not directory.exists():
        raise CLIError(f"{directory}: no such file or directory")
    label_file = _label_file(args.labels)
    items, skipped = _load_set(directory, need_labels=label_file is None)
    if label_file is not None:
        from ace.eval import apply_label_file

        items, unlabelled = apply_label_file(items, label_file, name=args.labels)
        skipped += unlabelled
    if args.limit is not None:
        items = items[: args.limit]
    if not items:
        reasons = f" ({len(skipped)} skipped: {skipped[0].reason})" if skipped else ""
        raise CLIError(
            f"{directory}: no labelled trace files found (.json, .jsonl, .txt, .log){reasons}"
        )
    reflector, model = _reflector(args)
    tolerances = args.tolerance or DEFAULT_TOLERANCES
    settings = _settings(args, directory, model, tolerances)
    if args.resume:
        journal, done = Journal.resume(out, settings)
    else:
        journal, done = Journal.start(out, settings), []
    finished: list[TraceResult] = []

    def on_result(position: int, result: TraceResult) -> None:
        finished.append(result)
        progress.advance(position, items, result.agent_correct, result.step_distance)

    common = {
        "model": model,
        "dataset": directory.name,
        "seed": args.seed if args.reflector == "random" else None,
        "limit": args.limit,
    }
    try:
        with terminate_as_interrupt(), _Progress(len(items)) as progress:
            report = evaluate(
                items,
                reflector,
                tolerances=tolerances,
                on_result=on_result,
                done=done,
                journal=journal,
                skipped=skipped,
                **common,
            )
    except KeyboardInterrupt as interrupt:
        journal.close()
        partial = EvalReport(
            reflector=reflector.name,
            summary=summarise(finished, tolerances),
            results=finished,
            interrupted=True,
            skipped=skipped,
            **common,
        )
        saved = write_or_rescue(
            "eval-report", out, partial.save, lambda: partial.model_dump_json(indent=2)
        )
        print(
            f"ace: error: interrupted after {len(finished)} of {len(items)} traces; the report "
            f"so far is {saved}; continue with the same command and --resume {out}",
            file=sys.stderr,
        )
        return exit_code(interrupt)
    print(format_report(report))
    saved = write_or_rescue(
        "eval-report", out, report.save, lambda: report.model_dump_json(indent=2)
    )
    journal.close(remove=saved == out)
    files = sum(1 for item in skipped if item.trace_id is None)
    if files:
        print(f"skipped {files} files that are not labelled traces (listed in the report)")
    traces = len(skipped) - files
    if traces:
        print(
            f"skipped {traces} trace{'' if traces == 1 else 's'} with no failure labelled in "
            f"{args.labels} (listed in the report)"
        )
    print(f"results: {saved}")
    return 0


def _label_file(option: str | None) -> dict[str, TraceLabels] | None:
    """The ``--labels`` file's labels by trajectory id (read before any trace)."""
    if option is None:
        return None
    from ace.eval import load_label_file

    return load_label_file(option)


def _load_set(
    directory: Path, *, need_labels: bool = True
) -> tuple[list[LabelledTrace], list[SkippedFile]]:
    """Every trace of the set; files that are not traces, or (``need_labels``) whose traces
    carry no mistake labels, are skipped with the reason."""
    from ace.errors import TraceFormatError
    from ace.eval import SkippedFile
    from ace.traces import load_labelled_traces
    from ace.traces._files import trace_files

    items: list[LabelledTrace] = []
    skipped: list[SkippedFile] = []
    for file in trace_files(directory):
        try:
            loaded = load_labelled_traces(file)
        except TraceFormatError as exc:
            skipped.append(SkippedFile(path=str(file), reason=str(exc).splitlines()[0]))
            continue
        if need_labels and all(
            item.labels.mistake_agent is None and item.labels.mistake_step is None
            for item in loaded
        ):
            skipped.append(
                SkippedFile(path=str(file), reason="no labels (mistake_agent / mistake_step)")
            )
            continue
        items += loaded
    return items, skipped


def _settings(
    args: argparse.Namespace,
    directory: Path,
    model: str | None,
    tolerances: list[int] | tuple[int, ...],
) -> dict[str, object]:
    """What must be equal for a resumed run to continue the same evaluation."""
    from ace import __version__

    return {
        "version": __version__,
        "dataset": str(directory.resolve()),
        "reflector": args.reflector,
        "model": model,
        "subagent_model": args.subagent_model,
        "seed": args.seed if args.reflector == "random" else None,
        "limit": args.limit,
        "tolerances": sorted(tolerances),
        "max_llm_calls": args.max_llm_calls,
        "max_iterations": args.max_iterations,
        "labels": str(Path(args.labels).resolve()) if args.labels else None,
    }


def _reflector(args: argparse.Namespace) -> tuple[TraceReflector, str | None]:
    from ace.eval import RandomReflector, RRReflector, SimpleReflector

    if args.reflector == "random":
        return RandomReflector(args.seed), None
    from ace.cli._models import configured_models, resolve

    args.model, args.subagent_model = configured_models(args.model, args.subagent_model)
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
