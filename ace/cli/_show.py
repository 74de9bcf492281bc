"""``ace rr show``: render a saved transcript in the terminal, or as an HTML page.

Both open with the verdict card; ``--trace FILE`` (the trace the session analysed) adds
its timeline with the attributed step marked, and its label to the card.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ace.rr.transcript import Transcript
    from ace.traces import LabelledTrace


def run(args: argparse.Namespace) -> int:
    """Load the transcript (and the trace when given), then print it or write the page."""
    from ace.rr.transcript import Transcript

    transcript = Transcript.load(args.transcript)
    item = _trace(args, transcript)
    trace = item.trace if item is not None else None
    labels = item.labels if item is not None else None
    if args.html:
        from ace.viewer import write_html

        path = write_html(transcript, args.html, trace=trace, labels=labels)
        print(f"wrote {path} ({len(transcript.iterations)} iterations)")
        return 0
    from ace.viewer import make_console, print_transcript
    from ace.viewer.terminal_cards import print_timeline, print_verdict
    from ace.viewer.verdict import verdict_of

    console = make_console()
    verdict = verdict_of(transcript, labels)
    print_verdict(verdict, console)
    if trace is not None:
        print_timeline(trace, console, highlight=verdict.step)
    print_transcript(transcript, console, max_chars=args.max_chars)
    return 0


def _trace(args: argparse.Namespace, transcript: Transcript) -> LabelledTrace | None:
    """The ``--trace`` trace with its labels; a note when it is not the one analysed."""
    if not args.trace:
        if args.index is not None:
            from ace.cli._main import CLIError

            raise CLIError("--index chooses a trace of --trace FILE; give --trace too")
        return None
    from ace.cli._traces import pick_labelled

    item = pick_labelled(args.trace, args.index)
    if transcript.trace_id and item.trace.id != transcript.trace_id:
        from ace.viewer import clean_text

        print(
            clean_text(
                f"note: the session analysed trace {transcript.trace_id}, "
                f"{args.trace} holds trace {item.trace.id}"
            ),
            file=sys.stderr,
        )
    return item
