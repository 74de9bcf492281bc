"""``ace rr analyse``: the Recursive Reflector on one trace file."""

from __future__ import annotations

import argparse
import sys

from ace.cli._main import EXIT_RUN_ERROR


def run(args: argparse.Namespace) -> int:
    """Load the trace, check the models, run the session, print and save the results."""
    from ace.cli._models import resolve
    from ace.cli._progress import loading
    from ace.cli._session import (
        print_result,
        rr_config,
        run_session,
        save_outputs,
        session_failed,
    )
    from ace.traces import load_trace_file

    trace = load_trace_file(args.trace_file)
    loading(sys.stderr)
    models = resolve(args.model, args.subagent_model)
    config = rr_config(args, models)
    result = run_session(
        trace,
        models,
        config,
        record=args.record,
        cassette_models=(models.model, models.subagent_model),
    )
    saved, page = save_outputs(result, save=args.save, html=args.html)
    print_result(result, as_json=args.json)
    if args.record:
        print(f"cassette: {args.record} (replay with --model replay:{args.record})")
    if saved is not None:
        print(f"transcript: {saved} (view with: ace rr show {saved})")
    if page is not None:
        print(f"page: {page}")
    failure = session_failed(result)
    if failure is not None:
        print(f"ace: error: {failure}", file=sys.stderr)
        return EXIT_RUN_ERROR
    return 0
