"""``ace rr analyse``: the Recursive Reflector on one trace file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ace.cli._main import EXIT_RUN_ERROR


def run(args: argparse.Namespace) -> int:
    """Check the outputs, load the trace, check the models, run, print and save.

    Everything that needs no model is checked first (output paths, the trace, the model
    names and keys), so a mistake costs nothing. With ``--json`` stdout holds exactly one
    JSON document (the reflection); every other line goes to stderr. ``-`` reads the trace
    from standard input; a file holding several traces needs ``--index N``.
    """
    from ace.cli._outputs import check_file

    save = check_file("--save", args.save)
    html = check_file("--html", args.html)
    record = check_file("--record", args.record)

    from ace.cli._models import configured_models, resolve
    from ace.cli._progress import loading
    from ace.cli._session import (
        print_result,
        rr_config,
        run_session,
        save_outputs,
        say,
        session_failed,
    )
    from ace.cli._signals import exit_code, terminate_as_interrupt
    from ace.cli._traces import pick_labelled

    item = pick_labelled(args.trace_file, args.index)
    trace = item.trace  # the labels stay here: only the page shows them
    models = resolve(*configured_models(args.model, args.subagent_model))
    config = rr_config(args, models)
    loading(sys.stderr)
    try:
        with terminate_as_interrupt():
            result = run_session(
                trace,
                models,
                config,
                record=record,
                cassette_models=(models.model, models.subagent_model),
            )
    except KeyboardInterrupt as interrupt:
        _keep_interrupted(interrupt, save)
        return exit_code(interrupt)
    saved, page = save_outputs(result, save=save, html=html, trace=trace, labels=item.labels)
    print_result(result, as_json=args.json)
    if saved is not None:
        say(f"transcript: {saved} (view with: ace rr show {saved})")
    if page is not None:
        say(f"page: {page}")
    failure = session_failed(result)
    if failure is not None:
        print(f"ace: error: {failure}", file=sys.stderr)
        return EXIT_RUN_ERROR
    return 0


def _keep_interrupted(interrupt: KeyboardInterrupt, save: Path | None) -> None:
    """Write the transcript of an interrupted session to ``--save``, else to
    ``ace-interrupted-<time>.json`` here (or in the temporary folder), and say where."""
    import time

    from ace.cli._outputs import rescue, write_or_rescue

    transcript = getattr(interrupt, "transcript", None)
    if transcript is None:
        print("ace: error: interrupted before the session started", file=sys.stderr)
        return
    if save is not None:
        where = write_or_rescue(
            "transcript", save, transcript.save, lambda: transcript.model_dump_json(indent=2)
        )
    else:
        name = f"ace-interrupted-{time.strftime('%Y%m%d-%H%M%S')}.json"
        try:
            where = transcript.save(Path.cwd() / name)
        except OSError:
            where = rescue("interrupted", transcript.model_dump_json(indent=2))
    print(
        f"ace: error: interrupted; the transcript so far ({len(transcript.iterations)} "
        f"iterations) is in {where}",
        file=sys.stderr,
    )
