"""The argument parser: argparse only, so building it (and ``--help``) stays fast."""

from __future__ import annotations

import argparse

from ace import __version__

_MODEL_HELP = (
    "litellm model string (e.g. openai/gpt-4o-mini), replay:CASSETTE.json to replay a "
    "recorded session, or scripted:SESSION.json for a scripted one"
)


def build_parser() -> argparse.ArgumentParser:
    """The ``ace`` parser; each command sets ``handler`` to the module that runs it."""
    parser = argparse.ArgumentParser(
        prog="ace",
        description="Agentic Context Engineering with the Recursive Reflector (RR).",
    )
    parser.add_argument("--version", action="version", version=f"ace {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    rr = commands.add_parser("rr", help="the Recursive Reflector: analyse, show, eval")
    rr_commands = rr.add_subparsers(dest="rr_command", metavar="COMMAND", required=True)
    _add_analyse(rr_commands)
    _add_show(rr_commands)
    _add_eval(rr_commands)

    demo = commands.add_parser(
        "demo",
        help="run the RR on a bundled trace with a bundled scripted session (no API key)",
        description="Runs the real Recursive Reflector (real kernel and policy) on a bundled "
        "Who&When trace; the model's replies come from a bundled, scripted session.",
    )
    demo.add_argument(
        "--out",
        metavar="DIR",
        default="ace-demo",
        help="where the transcript and HTML page go (default: ./ace-demo)",
    )
    demo.add_argument(
        "--no-local",
        action="store_true",
        help="skip the second run with the offline local model, even when it is installed",
    )
    _add_telemetry(demo)
    demo.set_defaults(handler="ace.cli._demo")

    from ace.local_model._cli import add_model_command

    add_model_command(commands)
    return parser


def _add_analyse(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = commands.add_parser(
        "analyse",
        aliases=["analyze"],
        help="run the RR on one trace file and print the reflection",
        description="Runs the Recursive Reflector on one trace (any format the loaders "
        "accept: ACE, OpenAI messages, Who&When, LangChain pairs, JSONL, plain-text logs).",
    )
    p.add_argument("trace_file", metavar="TRACE_FILE", help="the trace to analyse")
    p.add_argument("--model", required=True, metavar="M", help=_MODEL_HELP)
    _add_rr_options(p)
    p.add_argument("--save", metavar="TRANSCRIPT.json", help="save the session's transcript")
    p.add_argument("--html", metavar="OUT.html", help="also write the transcript as a page")
    p.add_argument("--record", metavar="CASSETTE.json", help="store every model request and reply")
    p.add_argument("--json", action="store_true", help="print the reflection as JSON")
    _add_telemetry(p)
    p.set_defaults(handler="ace.cli._analyse")


def _add_show(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = commands.add_parser(
        "show",
        help="render a saved transcript in the terminal or as one HTML page",
        description="Renders each iteration's code, output, sub-calls, usage and cost.",
    )
    p.add_argument("transcript", metavar="TRANSCRIPT.json")
    p.add_argument("--html", metavar="OUT.html", help="write a standalone page (no network needed)")
    p.add_argument(
        "--max-chars",
        type=_positive_int,
        default=4_000,
        metavar="N",
        help="cut each output shown in the terminal to N characters (default 4000)",
    )
    p.set_defaults(handler="ace.cli._show")


def _add_eval(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = commands.add_parser(
        "eval",
        help="score failure attribution on a labelled set (Who&When format)",
        description="Runs a reflector over every trace of DIR and reports agent accuracy, "
        "exact-step accuracy, step accuracy within ±k, and calls, tokens, cost and time "
        "per trace. The results are saved as JSON.",
    )
    p.add_argument("directory", metavar="DIR", help="a directory (or file) of labelled traces")
    p.add_argument("--model", metavar="M", help=_MODEL_HELP + " (not needed for random)")
    p.add_argument(
        "--reflector",
        choices=("rr", "simple", "random"),
        default="rr",
        help="rr: the Recursive Reflector (default); simple: one-pass Reflector; "
        "random: uniform guess of agent and step",
    )
    p.add_argument("--limit", type=_positive_int, metavar="N", help="only the first N traces")
    p.add_argument("--seed", type=int, default=0, help="seed of the random baseline (default 0)")
    p.add_argument(
        "--tolerance",
        type=_positive_int,
        action="append",
        metavar="K",
        help="report step accuracy within ±K (repeatable; default 1, 2 and 3)",
    )
    p.add_argument(
        "--out",
        metavar="RESULTS.json",
        help="where to save the results (default: ace-eval-<set>-<reflector>.json)",
    )
    p.add_argument("--transcripts", metavar="DIR", help="save each RR session's transcript in DIR")
    p.add_argument(
        "--resume",
        metavar="RESULTS.json",
        help="continue an interrupted run from the journal beside RESULTS.json (same options)",
    )
    _add_rr_options(p)
    _add_telemetry(p)
    p.set_defaults(handler="ace.cli._eval")


def _add_rr_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--subagent-model",
        metavar="M2",
        help="cheaper model for sub-LLM calls from kernel code (default: --model)",
    )
    p.add_argument(
        "--max-llm-calls",
        type=_positive_int,
        metavar="N",
        help="budget of model calls per session, sub-calls included",
    )
    p.add_argument(
        "--max-iterations", type=_positive_int, metavar="N", help="model turns per session"
    )


def _add_telemetry(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--logfire",
        action="store_true",
        help="emit logfire spans (sent to Logfire only when LOGFIRE_TOKEN is set)",
    )
    p.add_argument(
        "--otlp-file",
        metavar="SPANS.jsonl",
        help="write the spans as OTLP JSON lines to a file (no network)",
    )


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value
