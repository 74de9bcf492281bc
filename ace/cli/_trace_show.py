"""``ace traces show``: one trace as a timeline, in the terminal or as a standalone page."""

from __future__ import annotations

import argparse
from pathlib import Path


def run(args: argparse.Namespace) -> int:
    """Draw the chosen trace; ``--html`` writes its page instead (the path checked first)."""
    from ace.cli._outputs import check_file
    from ace.cli._traces import pick_labelled

    out = None
    if args.html is not None:
        out = check_file("--html", args.html or _default_name(args.file, args.index))
    item = pick_labelled(args.file, args.index, args.format)
    labels = item.labels
    if out is not None:
        from ace.viewer.trace_page import write_trace_html

        path = write_trace_html(item.trace, out, labels)
        print(f"wrote {path} ({len(item.trace.steps):,} steps)")
        return 0
    from rich.text import Text

    from ace.viewer import clean_text, make_console
    from ace.viewer.terminal_cards import print_timeline

    console = make_console()
    print_timeline(item.trace, console, highlight=labels.mistake_step)
    if labels.mistake_agent is not None or labels.mistake_step is not None:
        where = f"agent {labels.mistake_agent or '?'} · step {labels.mistake_step}"
        console.print(Text(clean_text(f"label: {where}")))
    return 0


def _default_name(file: str, index: int | None) -> str:
    """``runs.json`` -> ``runs.html`` here (``runs-3.html`` for ``--index 3``)."""
    from ace.cli._traces import STDIN

    stem = "trace" if file == STDIN else Path(file).stem or "trace"
    return f"{stem}-{index}.html" if index is not None else f"{stem}.html"
