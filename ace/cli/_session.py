"""Running one RR session for the CLI: config, live line, recording, saving, printing."""

from __future__ import annotations

import argparse
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ace.cli._main import EXIT_RUN_ERROR, CLIError
from ace.cli._models import Models

if TYPE_CHECKING:
    from ace.rr import RRConfig, RRResult
    from ace.traces import Trace

_CLEAN_OUTCOMES = frozenset({"final", "direct_json", "synthesis"})


def rr_config(args: argparse.Namespace, models: Models) -> RRConfig:
    """An ``RRConfig`` from the command's options (unset options keep the defaults)."""
    from ace.llm.local import is_local_model
    from ace.rr import RRConfig

    options: dict[str, Any] = {"subagent_model": models.subagent_model}
    if is_local_model(models.model):
        from ace.local_model import SMALL_MODEL_RR_SETTINGS

        options.update(SMALL_MODEL_RR_SETTINGS)
    if getattr(args, "max_llm_calls", None) is not None:
        options["max_llm_calls"] = args.max_llm_calls
    if getattr(args, "max_iterations", None) is not None:
        options["max_iterations"] = args.max_iterations
    return RRConfig(**options)


def run_session(
    trace: Trace,
    models: Models,
    config: RRConfig,
    *,
    record: str | None = None,
    cassette_models: tuple[str | None, str | None] = (None, None),
) -> RRResult:
    """Run the session with a live line on stderr; record it when asked.

    A replay that met a request it has no reply for is an error here even when the
    session itself carried on, because the result would not be the recorded one.
    """
    from ace.cli._progress import LiveLine
    from ace.rr import RRStep

    step = RRStep(models.model, config=config)
    recorder: Any = nullcontext()
    if record is not None:
        from ace.replay import Recorder

        main, sub = cassette_models
        recorder = Recorder(model=main or models.model, subagent_model=sub)
    with LiveLine(sys.stderr) as live, recorder:
        result = step.analyse(trace, on_progress=live)
    if record is not None:
        recorder.save(record)
    mismatches = getattr(models.replayer, "mismatches", None)
    if mismatches:
        raise CLIError(mismatches[0], code=EXIT_RUN_ERROR)
    return result


def save_outputs(
    result: RRResult, *, save: str | None, html: str | None
) -> tuple[Path | None, Path | None]:
    """Write the transcript and its page where asked."""
    saved = result.transcript.save(save) if save else None
    page = None
    if html:
        from ace.viewer import write_html

        page = write_html(result.transcript, html)
    return saved, page


def print_result(result: RRResult, *, as_json: bool = False) -> None:
    """The reflection (readable, or JSON) and a one-line account of the session."""
    reflection = result.reflection
    if as_json:
        print(reflection.model_dump_json(indent=2, exclude={"raw"}))
        return
    from ace.viewer import make_console, print_reflection
    from ace.viewer._facts import money, session_facts

    console = make_console()
    print_reflection(reflection, console)
    transcript = result.transcript
    facts = session_facts(transcript)
    budget = f"/{facts.max_calls}" if facts.max_calls else ""
    print(
        f"\nsession: {transcript.outcome} · {facts.iterations} iterations · "
        f"{facts.calls or 0}{budget} calls · {facts.tokens:,} tokens · "
        f"{money(facts.cost_usd)} · {transcript.duration_s:.1f} s"
    )
    if transcript.cause:
        print(f"cause: {transcript.cause}")


def session_failed(result: RRResult) -> str | None:
    """Why the session did not produce a real reflection, or None when it did."""
    transcript = result.transcript
    if transcript.outcome in _CLEAN_OUTCOMES:
        return None
    reason = transcript.cause or (transcript.notes[-1] if transcript.notes else transcript.outcome)
    return f"the session ended with outcome {transcript.outcome!r}: {reason}"
