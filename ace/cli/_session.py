"""Running one RR session for the CLI: config, live line, recording, saving, printing."""

from __future__ import annotations

import argparse
import os
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ace.cli._main import EXIT_RUN_ERROR, CLIError
from ace.cli._models import Models

if TYPE_CHECKING:
    from ace.rr import RRConfig, RRResult
    from ace.traces import Trace, TraceLabels

_CLEAN_OUTCOMES = frozenset({"final", "direct_json", "synthesis"})


def rr_config(args: argparse.Namespace, models: Models) -> RRConfig:
    """An ``RRConfig`` from the command's options (unset options keep the defaults); an
    impossible combination is one line naming the option."""
    from pydantic import ValidationError

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
    try:
        return RRConfig(**options)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        option = f"--{where.replace('_', '-')}: " if where else ""
        raise CLIError(f"{option}{first['msg'].removeprefix('Value error, ')}") from None


def run_session(
    trace: Trace,
    models: Models,
    config: RRConfig,
    *,
    record: Path | None = None,
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
        from ace.cli._outputs import write_or_rescue

        saved = write_or_rescue(
            "cassette", record, recorder.save, lambda: recorder.cassette.model_dump_json(indent=2)
        )
        say(f"cassette: {saved} (replay with --model replay:{saved})")
    mismatches = getattr(models.replayer, "mismatches", None)
    if mismatches:
        raise CLIError(mismatches[0], code=EXIT_RUN_ERROR)
    return result


def save_outputs(
    result: RRResult,
    *,
    save: str | os.PathLike[str] | None,
    html: str | os.PathLike[str] | None,
    trace: Trace | None = None,
    labels: TraceLabels | None = None,
) -> tuple[Path | None, Path | None]:
    """Write the transcript and its page where asked; a write that fails goes to a rescue
    file instead (`write_or_rescue`), so nothing paid for is lost. The page shows the
    ``trace``'s timeline and compares the verdict with its ``labels`` when given."""
    from ace.cli._outputs import write_or_rescue

    transcript = result.transcript
    saved = page = None
    if save:
        saved = write_or_rescue(
            "transcript", Path(save), transcript.save, lambda: transcript.model_dump_json(indent=2)
        )
    if html:
        from ace.viewer import render_html, write_html

        page = write_or_rescue(
            "page",
            Path(html),
            lambda p: write_html(transcript, p, trace=trace, labels=labels),
            lambda: render_html(transcript, trace=trace, labels=labels),
        )
    return saved, page


def say(line: str) -> None:
    """A line for the person at the terminal: on stderr, so stdout carries only results."""
    print(line, file=sys.stderr)


def print_result(result: RRResult, *, as_json: bool = False) -> None:
    """The reflection (readable, or JSON) and a one-line account of the session."""
    reflection = result.reflection
    if as_json:
        print(reflection.model_dump_json(indent=2, exclude={"raw"}))
        say(session_line(result))
        return
    from ace.viewer import make_console, print_reflection

    console = make_console()
    print_reflection(reflection, console)
    print(f"\n{session_line(result)}")


def session_line(result: RRResult) -> str:
    """``session: final · 3 iterations · 5/30 calls · ...`` and, after a failure, its cause."""
    from ace.viewer._facts import money, session_facts

    transcript = result.transcript
    facts = session_facts(transcript)
    budget = f"/{facts.max_calls}" if facts.max_calls else ""
    line = (
        f"session: {transcript.outcome} · {facts.iterations} iterations · "
        f"{facts.calls or 0}{budget} calls · {facts.tokens:,} tokens · "
        f"{money(facts.cost_usd)} · {transcript.duration_s:.1f} s"
    )
    if transcript.cause:
        line += f"\ncause: {root_cause(transcript.cause)}"
    return line


_CAUSES = (
    (("LocalLibraryError",), "the local model's llama.cpp does not run on this CPU"),
    (("LocalServerError",), "the local model server crashed"),
    (("AuthenticationError", "401", "invalid api key", "Incorrect API key"), "authentication failed: check the API key"),
    (("RateLimitError", "429"), "rate limited by the provider"),
    (("BudgetExceededError",), "the budget ran out"),
    (("Connection refused", "ConnectionRefusedError"), "connection refused: no model server answers at that address"),
    (("Timeout",), "the model did not answer in time"),
    (("APIConnectionError", "Connection error"), "the model could not be reached"),
)  # fmt: skip


def root_cause(cause: str) -> str:
    """The first failure of a session, named for a person: the kind (connection refused,
    authentication, rate limit, server crash, budget) and then the error's own words."""
    first = cause.strip().splitlines()[0] if cause.strip() else cause
    for marks, name in _CAUSES:
        if any(mark.lower() in cause.lower() for mark in marks):
            return f"{name} ({first[:300]})"
    return first[:400]


def session_failed(result: RRResult) -> str | None:
    """Why the session did not produce a real reflection, or None when it did."""
    transcript = result.transcript
    if transcript.outcome in _CLEAN_OUTCOMES:
        return None
    if transcript.cause:
        return (
            f"the session ended with outcome {transcript.outcome!r}: {root_cause(transcript.cause)}"
        )
    reason = transcript.notes[-1] if transcript.notes else transcript.outcome
    return f"the session ended with outcome {transcript.outcome!r}: {reason}"
