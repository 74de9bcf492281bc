"""``ace rr eval``: score failure attribution on a labelled trace set."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, overload

from ace.cli._main import CLIError

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from ace.eval import SkippedFile, TraceReflector
    from ace.eval.scoring import TraceResult
    from ace.executors import Executor
    from ace.rr.run_ledger import RunLedger
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
        evaluate,
        format_report,
        summarise,
    )
    from ace.eval.journal import Journal

    directory = Path(args.directory)
    batch = getattr(args, "batch", False)  # ace rr analyse-batch: no labels needed
    if args.resume and args.out and Path(args.resume) != Path(args.out):
        raise CLIError(
            "--resume names the report to continue; leave --out out (or make them equal)"
        )
    option = "--resume" if args.resume else "--out"
    default = f"ace-batch-{directory.name}.json" if batch else None
    chosen = (
        args.resume or args.out or default or f"ace-eval-{directory.name}-{args.reflector}.json"
    )
    out = check_file(option, chosen)
    assert out is not None
    check_folder("--transcripts", args.transcripts)
    html = check_file("--html", getattr(args, "html", None))
    if not directory.exists():
        raise CLIError(f"{directory}: no such file or directory")
    label_file = _label_file(args.labels)
    headers, skipped, places = _load_set(directory, need_labels=label_file is None and not batch)
    if label_file is not None:
        from ace.eval import apply_label_file

        headers, unlabelled = apply_label_file(headers, label_file, name=args.labels)
        skipped += unlabelled
    if args.limit is not None:
        headers = headers[: args.limit]
    items = _TraceSet(headers, places)
    if not items:
        reasons = f" ({len(skipped)} skipped: {skipped[0].reason})" if skipped else ""
        kind = "trace" if batch else "labelled trace"
        raise CLIError(f"{directory}: no {kind} files found (.json, .jsonl, .txt, .log){reasons}")
    from ace.cli._batch import budget_of, charge_done

    executor = _executor(args)
    try:
        from ace.executors import share_budget

        budget = share_budget(executor, budget_of(args))
        reflector, model = _reflector(args, budget)
    except BaseException:
        executor.close(wait=False)
        raise
    tolerances = args.tolerance or DEFAULT_TOLERANCES
    settings = _settings(args, directory, model, tolerances)
    if batch:
        settings["command"] = "analyse-batch"
    if args.resume:
        journal, done = Journal.resume(out, settings)
        charge_done(budget, done)
    else:
        journal, done = Journal.start(out, settings), []
    finished: list[TraceResult] = []
    positions: dict[int, int] = {}  # id(result) -> its input position (jobs finish in any order)
    from ace.cli._batch import progress_for

    progress = progress_for(batch, len(items), budget, done, _Progress)

    def on_result(position: int, result: TraceResult) -> None:
        finished.append(result)
        positions[id(result)] = position
        progress.advance(position, result)

    common = {
        "model": model,
        "dataset": directory.name,
        "seed": args.seed if args.reflector == "random" else None,
        "limit": args.limit,
    }
    try:
        with terminate_as_interrupt(), progress, _closing(executor):
            report = evaluate(
                items,
                reflector,
                tolerances=tolerances,
                on_result=on_result,
                done=done,
                journal=journal,
                skipped=skipped,
                executor=executor,
                budget=budget,
                **common,
            )
    except KeyboardInterrupt as interrupt:
        journal.close()
        _close(reflector)
        finished.sort(key=lambda r: positions[id(r)])
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
    _close(reflector)
    print(format_report(report))
    saved = write_or_rescue(
        "eval-report", out, report.save, lambda: report.model_dump_json(indent=2)
    )
    from ace.cli._batch import report_not_run

    not_run = report_not_run(report, out)
    journal.close(remove=saved == out and not not_run)
    files = sum(1 for item in skipped if item.trace_id is None)
    if files and batch:
        print(f"skipped {files} files that are not traces (listed in the report)")
    elif files:
        print(f"skipped {files} files that are not labelled traces (listed in the report)")
    traces = len(skipped) - files
    if traces:
        print(
            f"skipped {traces} trace{'' if traces == 1 else 's'} with no failure labelled in "
            f"{args.labels} (listed in the report)"
        )
    print(f"results: {saved}")
    if html is not None:
        from ace.cli._eval_report import write_report_page

        folder = Path(args.transcripts) if args.transcripts else None
        page, _ = write_report_page([(saved.name, report)], html, [folder])
        print(f"report page: {page}")
    return 0


def _label_file(option: str | None) -> dict[str, TraceLabels] | None:
    """The ``--labels`` file's labels by trajectory id (read before any trace)."""
    if option is None:
        return None
    from ace.eval import load_label_file

    return load_label_file(option)


def _load_set(
    directory: Path, *, need_labels: bool = True
) -> tuple[list[LabelledTrace], list[SkippedFile], _Places]:
    """A header of every trace of the set (its id, source and labels, without steps; see
    ``_TraceSet``) and where each trace is, read one trace at a time; files that are not
    traces, or (``need_labels``) whose traces carry no mistake labels, are skipped with
    the reason."""
    from ace.errors import TraceFormatError
    from ace.eval import SkippedFile
    from ace.traces._files import trace_files
    from ace.traces.load import iter_labelled_traces

    headers: list[LabelledTrace] = []
    skipped: list[SkippedFile] = []
    places: _Places = {}
    for file in trace_files(directory):
        try:
            loaded = [
                _header(item, file, i, places) for i, item in enumerate(iter_labelled_traces(file))
            ]
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
        headers += loaded
    return headers, skipped, places


_Places = dict[int, tuple[Path, int]]
"""Where each header's trace is: its file and its position among the file's traces, by
the header ``Trace``'s identity (which ``apply_label_file`` keeps)."""


def _header(item: LabelledTrace, file: Path, position: int, places: _Places) -> LabelledTrace:
    """``item`` without its steps and record; ``places`` notes where its trace is."""
    trace = item.trace.model_copy(update={"steps": [], "raw": None})
    places[id(trace)] = (file, position)
    return item.model_copy(update={"trace": trace})


class _TraceSet(Sequence["LabelledTrace"]):
    """The traces to evaluate, read again from their files one at a time when iterated.

    Loading keeps only headers (id, source, labels), so a set bigger than memory (a large
    OpenTelemetry JSONL file) is evaluated with one trace in memory at a time: each file
    is read again up to its last chosen trace, each trace paired with its header's labels.
    """

    def __init__(self, headers: list[LabelledTrace], places: _Places) -> None:
        self.headers = headers
        self.places = places

    def __len__(self) -> int:
        return len(self.headers)

    @overload
    def __getitem__(self, index: int) -> LabelledTrace: ...

    @overload
    def __getitem__(self, index: slice) -> _TraceSet: ...

    def __getitem__(self, index: int | slice) -> LabelledTrace | _TraceSet:
        if isinstance(index, slice):
            return _TraceSet(self.headers[index], self.places)
        return next(iter(_TraceSet([self.headers[index]], self.places)))

    def __iter__(self) -> Iterator[LabelledTrace]:
        from ace.traces import LabelledTrace
        from ace.traces.load import iter_labelled_traces

        position = 0
        while position < len(self.headers):
            file = self.places[id(self.headers[position].trace)][0]
            wanted: dict[int, LabelledTrace] = {}
            while position < len(self.headers):
                where = self.places[id(self.headers[position].trace)]
                if where[0] != file:
                    break
                wanted[where[1]] = self.headers[position]
                position += 1
            last, given = max(wanted), 0
            for place, item in enumerate(iter_labelled_traces(file)):
                header = wanted.get(place)
                if header is not None:
                    if item.trace.id != header.trace.id:
                        break
                    given += 1
                    yield LabelledTrace(trace=item.trace, labels=header.labels)
                if place == last:
                    break
            if given != len(wanted):
                raise CLIError(f"{file} changed while it was evaluated; run again")


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


def _executor(args: argparse.Namespace) -> Executor:
    """``--jobs`` threads here, or the Ray cluster of ``--ray`` (connected now, so a bad
    address or a cluster without kernel slots stops the command before any model call)."""
    from ace.executors import executor_for

    if getattr(args, "ray", None) is None:
        for flag, given in (
            ("--shared-storage", getattr(args, "shared_storage", None)),
            ("--require-isolation", getattr(args, "require_isolation", False)),
        ):
            if given:
                raise CLIError(f"{flag} applies to Ray runs only: add --ray")
    return executor_for(
        getattr(args, "ray", None),
        args.jobs,
        max_attempts=getattr(args, "max_attempts", 3),
        require_isolation=getattr(args, "require_isolation", False),
        shared_storage=getattr(args, "shared_storage", None) or (),
    )


@contextlib.contextmanager
def _closing(executor: Executor) -> Iterator[Executor]:
    """Close ``executor`` on the way out; on an error or Ctrl-C without waiting for the
    sessions still running."""
    try:
        yield executor
    except BaseException:
        executor.close(wait=False)
        raise
    executor.close()


def _close(reflector: object) -> None:
    """Stop the warm kernels of an RR reflector (other reflectors hold none)."""
    close = getattr(reflector, "close", None)
    if close is not None:
        close()


def _reflector(
    args: argparse.Namespace, budget: RunLedger | None = None
) -> tuple[TraceReflector, str | None]:
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

        config = rr_config(args, models)
        warm = min(max(config.warm_kernels, args.jobs), 8)  # RRConfig's bound; more start cold
        config = config.model_copy(update={"warm_kernels": warm})
        reflector = RRReflector(
            models.model, config, transcripts_dir=args.transcripts, budget=budget
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

    def advance(self, position: int, result: TraceResult) -> None:
        """Report one finished trace."""
        name, agent_ok, distance = result.trace_id, result.agent_correct, result.step_distance
        verdict = f"agent {'✓' if agent_ok else '✗'} step {'✓' if distance == 0 else '✗'}"
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, advance=1, description=f"{name}: {verdict}")
        else:
            print(f"[{position + 1}/{self.total}] {name}: {verdict}", file=sys.stderr, flush=True)
