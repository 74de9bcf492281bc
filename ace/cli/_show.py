"""``ace rr show``: render a saved transcript in the terminal, or as an HTML page."""

from __future__ import annotations

import argparse


def run(args: argparse.Namespace) -> int:
    """Load the transcript, then print it or write the page."""
    from ace.rr.transcript import Transcript

    transcript = Transcript.load(args.transcript)
    if args.html:
        from ace.viewer import write_html

        path = write_html(transcript, args.html)
        print(f"wrote {path} ({len(transcript.iterations)} iterations)")
        return 0
    from ace.viewer import print_transcript

    print_transcript(transcript, max_chars=args.max_chars)
    return 0
