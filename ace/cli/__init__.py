"""The ``ace`` command line: run the Recursive Reflector, view transcripts, evaluate.

::

    ace rr analyse TRACE_FILE --model M    analyse one failed trace
    ace rr show TRANSCRIPT [--html OUT]    render a saved session
    ace rr eval DIR --model M              score attribution on a labelled set
    ace rr analyse-batch DIR --jobs N      one session per trace, N at a time, one budget
    ace demo                               the RR on a bundled trace, no API key needed
    ace traces inspect|convert FILE        what a trace file holds, the normalised form
    ace setup | models | validate | config choose and check models, see the configuration
    ace model pull|check                   the offline local model

Importing this package is cheap: ``--help`` never loads litellm, logfire or pydantic.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``ace`` command with ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
    from ace.cli._main import run

    return run(argv)
