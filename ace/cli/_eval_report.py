"""``ace rr eval-report`` (and ``ace rr eval --html``): the evaluation report page.

Reads results files of ``ace rr eval``; prints each run's summary with accuracy by step
tolerance, or with ``--html`` writes one page comparing them. With the runs' transcript
folders (``--transcripts``), each trace whose transcript is there gets its own page
beside it (``<trace id>.html``: verdict card with the label, trace timeline when the
trace file can still be read, iterations), and the report links to it.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ace.cli._main import CLIError

if TYPE_CHECKING:
    from ace.eval import EvalReport, TraceResult
    from ace.traces import Trace


def run(args: argparse.Namespace) -> int:
    """Load every results file (each error names its file), then print or write."""
    from ace.cli._outputs import check_file
    from ace.viewer.eval_report import load_report

    out = check_file("--html", args.html)
    folders = _folders(args.transcripts or [], len(args.results))
    reports = [(Path(name).name, load_report(name)) for name in args.results]
    if out is None:
        if folders:
            raise CLIError("--transcripts links the traces of the page; give --html OUT too")
        _print(reports)
        return 0
    path, pages = write_report_page(reports, out, folders)
    extra = f", {pages} transcript page{'' if pages == 1 else 's'}" if pages else ""
    print(f"wrote {path} ({len(reports)} run{'' if len(reports) == 1 else 's'}{extra})")
    return 0


def write_report_page(
    reports: Sequence[tuple[str, EvalReport]],
    out: Path,
    folders: Sequence[Path | None] = (),
) -> tuple[Path, int]:
    """Write the report page to ``out``, first the transcript page of every trace whose
    transcript is in its run's folder; returns the page and how many transcript pages."""
    from ace.viewer.eval_report import write_eval_html

    links: list[dict[str, str]] = []
    written = 0
    for position, (_, report) in enumerate(reports):
        folder = folders[position] if position < len(folders) else None
        own: dict[str, str] = {}
        if folder is not None:
            for result in report.results:
                page = transcript_page(result, folder)
                if page is not None:
                    own[result.trace_id] = Path(
                        os.path.relpath(page, out.resolve().parent)
                    ).as_posix()
                    written += 1
        links.append(own)
    return write_eval_html(reports, out, links), written


def transcript_page(result: TraceResult, folder: Path) -> Path | None:
    """Render ``<folder>/<trace id>.html`` from the transcript saved beside it, with the
    result's label and, when its source file still holds it, the trace; None when the
    folder has no transcript of this trace."""
    from ace.errors import InputError
    from ace.eval.reflectors import transcript_file_name
    from ace.rr.transcript import Transcript
    from ace.traces import TraceLabels
    from ace.viewer import write_html

    file = folder / transcript_file_name(result.trace_id)
    if not file.is_file():
        return None
    try:
        transcript = Transcript.load(file)
    except InputError:
        return None
    labels = TraceLabels(mistake_agent=result.label_agent, mistake_step=result.label_step)
    page = file.with_suffix(".html")
    write_html(transcript, page, trace=_source_trace(result), labels=labels)
    return page.resolve()


def _source_trace(result: TraceResult) -> Trace | None:
    """The trace of ``result`` read again from its source file, if it is still there."""
    from ace.errors import TraceFormatError
    from ace.traces.load import iter_labelled_traces

    if not result.source or not Path(result.source).is_file():
        return None
    try:
        for item in iter_labelled_traces(Path(result.source)):
            if item.trace.id == result.trace_id:
                return item.trace
    except (TraceFormatError, OSError):
        return None
    return None


def _folders(given: list[str], runs: int) -> list[Path | None]:
    """One transcripts folder per run: the one given for all, or one each in order."""
    if not given:
        return []
    if len(given) not in (1, runs):
        raise CLIError(
            f"--transcripts given {len(given)} times for {runs} results files; give it once "
            "(for every file) or once per file, in the same order"
        )
    folders: list[Path | None] = []
    for name in given:
        folder = Path(name)
        if not folder.is_dir():
            raise CLIError(f"--transcripts {folder}: no such folder")
        folders.append(folder)
    return folders * runs if len(folders) == 1 else folders


def _print(reports: Sequence[tuple[str, EvalReport]]) -> None:
    from ace.eval import format_report
    from ace.viewer import clean_text
    from ace.viewer.eval_report import TOLERANCES, build_runs

    for (name, report), view in zip(reports, build_runs(reports), strict=True):
        print(clean_text(f"{name}: {format_report(report)}"))
        shown = " · ".join(
            f"{'exact' if k == 0 else f'±{k}'} {'n/a' if v is None else f'{100 * v:.1f}%'}"
            for k, v in view.accuracy.items()
            if k in TOLERANCES
        )
        print(f"  {'step by tolerance':<22}{shown}\n")
