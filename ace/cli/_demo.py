"""``ace demo``: the real Recursive Reflector on a bundled trace, driven by a bundled,
scripted session, so it runs without an API key."""

from __future__ import annotations

import argparse
from importlib import resources
from pathlib import Path

from ace.cli._main import EXIT_RUN_ERROR, CLIError

TRACE_FILE = "who_and_when_hand_crafted_3.json"
SESSION_FILE = "scripted_session.json"
LOCAL_TRACE_FILE = "who_and_when_algorithm_generated_47.json"
"""A short trace (6.5 kB) for the local model: a long one would take it many minutes."""


def run(args: argparse.Namespace) -> int:
    """Run the scripted session, print the reflection, save and render the transcript."""
    from ace.cli._outputs import check_folder

    check_folder("--out", args.out)
    data = resources.files("ace.cli") / "demo_data"
    with (
        resources.as_file(data / TRACE_FILE) as trace_path,
        resources.as_file(data / SESSION_FILE) as session_path,
    ):
        code = _run(Path(trace_path), Path(session_path), Path(args.out))
    if code == 0 and not getattr(args, "no_local", False):
        with resources.as_file(data / LOCAL_TRACE_FILE) as local_trace:
            code = _run_local(Path(local_trace), Path(args.out))
    return code


def _run_local(trace_path: Path, out: Path) -> int:
    """The same analysis with the real local model, when it is installed.

    Not installed: one line, exit 0 (the scripted session is the demo). A llama.cpp that
    crashes, or a server that dies: one line naming the cause, exit 1. A session that runs
    but analyses badly is a result like any other (exit 0).
    """
    from ace.local_model import LocalModelNotInstalled, LocalServerError, require_installed
    from ace.local_model._check import check_library

    try:
        check_library(require_installed())
    except LocalModelNotInstalled as exc:
        print(f"\nskipped the real-model part: {exc}; the scripted session above is the demo")
        return 0
    except LocalServerError as exc:
        print(f"\nthe real-model part cannot run: {exc}")
        return EXIT_RUN_ERROR
    from ace.cli._models import resolve
    from ace.cli._session import print_result, rr_config, run_session, save_outputs
    from ace.traces import load_labelled_traces

    labelled = load_labelled_traces(trace_path)[0]
    print(
        "\nNow a REAL model: Qwen2.5-Coder-1.5B through llama.cpp on this CPU, on Who&When\n"
        f"algorithm_generated/47.json ({len(labelled.trace.steps)} steps). Expect a few minutes;\n"
        "a 1.5B model often writes broken code, and the session must cope with that.\n"
    )
    models = resolve("local", None)
    result = run_session(labelled.trace, models, rr_config(argparse.Namespace(), models))
    saved, page = save_outputs(
        result,
        save=str(out / "local_transcript.json"),
        html=str(out / "local_transcript.html"),
        trace=labelled.trace,
        labels=labelled.labels,
    )
    print_result(result)
    labels = labelled.labels
    print(f"Who&When's label: agent {labels.mistake_agent}, step {labels.mistake_step}")
    print(f"transcript: {saved}\nHTML page:  {page}")
    cause = result.transcript.cause or ""
    if cause.startswith(("LocalServerError", "LocalLibraryError")):
        print(f"\nthe real-model part failed: {cause}")
        return EXIT_RUN_ERROR
    return 0


def _run(trace_path: Path, session_path: Path, out: Path) -> int:
    try:
        from ace.rr import RRStep  # noqa: F401
    except ImportError as exc:
        raise CLIError(
            f"the Recursive Reflector is not available in this installation ({exc})",
            code=EXIT_RUN_ERROR,
        ) from None
    from ace.cli._models import resolve
    from ace.cli._session import print_result, run_session, save_outputs
    from ace.rr import RRConfig
    from ace.traces import load_labelled_traces

    labelled = load_labelled_traces(trace_path)[0]
    trace = labelled.trace
    print(
        f"ACE demo: the Recursive Reflector on Who&When hand_crafted/3.json "
        f"({len(trace.steps)} steps, {trace_path.stat().st_size // 1024} KB; MIT licence).\n"
        "The model is SCRIPTED: its replies come from a bundled file written by hand\n"
        f"  ({session_path})\n"
        "while the kernel, the code policy, the budget ledger and the transcript are real.\n"
    )
    models = resolve(f"scripted:{session_path}", None)
    config = RRConfig(max_llm_calls=20, subagent_model=models.subagent_model)
    result = run_session(trace, models, config)
    saved, page = save_outputs(
        result,
        save=str(out / "transcript.json"),
        html=str(out / "transcript.html"),
        trace=trace,
        labels=labelled.labels,
    )
    print_result(result)
    labels = labelled.labels
    print(
        f"Who&When's label for this trace: agent {labels.mistake_agent}, step {labels.mistake_step}"
    )
    print(f"\ntranscript: {saved}\n  view it:  ace rr show {saved}")
    print(f"HTML page:  {page}")
    print(
        "\nRun the same trace with a hosted model (needs its API key):\n"
        f"  ace rr analyse {trace_path} --model openai/gpt-4o-mini "
        "--subagent-model openai/gpt-4o-mini --save transcript.json"
    )
    return 0
