"""The argument parser: argparse only, so building it (and ``--help``) stays fast."""

from __future__ import annotations

import argparse

from ace import __version__

_MODEL_HELP = (
    "litellm model string (e.g. openai/gpt-4o-mini), replay:CASSETTE.json to replay a "
    "recorded session, or scripted:SESSION.json for a scripted one"
)


_FROM_CONFIG = " (default: the reflector model of ace.toml / ACE_REFLECTOR_MODEL; see ace config)"


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
    _add_eval_report(rr_commands)
    _add_analyse_batch(rr_commands)
    _add_traces(commands)

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
    from ace.integrations.mcp._cli import add_mcp_command

    add_mcp_command(commands)
    _add_setup(commands)
    _add_models(commands)
    _add_validate(commands)
    _add_config(commands)
    from ace.cli._service import add_service_commands

    add_service_commands(commands)
    from ace.cli._serve import add_serve_commands

    add_serve_commands(commands)
    from ace.cli._claude_code import add_claude_code_commands

    add_claude_code_commands(commands)
    return parser


def _add_role_models(p: argparse.ArgumentParser, *, subagent: bool = True) -> None:
    p.add_argument("--model", metavar="M", help="the default model of every role")
    p.add_argument("--agent-model", metavar="M", help="the agent's model")
    p.add_argument("--reflector-model", metavar="M", help="the reflector's (and RR's) model")
    p.add_argument("--skill-manager-model", metavar="M", help="the skill manager's model")
    if subagent:
        p.add_argument("--subagent-model", metavar="M", help="the RR's sub-call model")


def _add_setup(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = commands.add_parser(
        "setup",
        help="choose a model per role, store API keys, check each model, write ace.toml and .env",
        description="Asks for a model per role (agent, reflector, skill manager, the RR's "
        "sub-agent) and the API keys they need (read without echo), makes one cheap call per "
        "model, then writes ace.toml (no secrets) and .env (mode 0600). Every answer is also a "
        "flag; --non-interactive never asks.",
    )
    _add_role_models(p)
    p.add_argument(
        "--dir", default=".", metavar="DIR", help="where to write the files (default: .)"
    )
    p.add_argument(
        "--key-stdin",
        action="store_true",
        help="read API keys as NAME=VALUE lines from standard input (never from the command line)",
    )
    p.add_argument("--replace-keys", action="store_true", help="ask again for keys already set")
    p.add_argument(
        "--non-interactive", action="store_true", help="never ask; flags and defaults only"
    )
    p.add_argument(
        "--no-validate",
        dest="validate",
        action="store_false",
        help="write the files without checking the models",
    )
    p.add_argument(
        "--timeout", type=_positive_float, default=30.0, metavar="S", help="per check (default 30)"
    )
    p.set_defaults(handler="ace.cli._setup")


def _add_models(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = commands.add_parser(
        "models",
        help="search litellm's model list with context size and prices (no network)",
        description="Lists the chat models of litellm's bundled price map whose name or "
        "provider contains every word of QUERY, with context size and $ per million tokens.",
    )
    p.add_argument("query", nargs="*", metavar="QUERY", help="words to match (all must match)")
    p.add_argument("--provider", metavar="P", help="only this litellm provider (e.g. openai)")
    p.add_argument("--all", action="store_true", help="include embedding, image and audio models")
    p.add_argument("--limit", type=_positive_int, default=30, metavar="N", help="rows (default 30)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler="ace.cli._config_cmds", action="models")


def _add_validate(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = commands.add_parser(
        "validate",
        help="make one cheap call to a model: the answer and latency, or why it failed",
    )
    p.add_argument("model", metavar="MODEL", help="a litellm model string")
    p.add_argument("--timeout", type=_positive_float, default=30.0, metavar="S", help="default 30")
    p.set_defaults(handler="ace.cli._config_cmds", action="validate")


def _add_config(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = commands.add_parser(
        "config",
        help="show the resolved configuration and where each value came from",
        description="Precedence: flags > environment (ACE_MODEL, ACE_<ROLE>_MODEL) > .env > "
        "ace.toml > defaults.",
    )
    _add_role_models(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler="ace.cli._config_cmds", action="config")


def _add_analyse(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = commands.add_parser(
        "analyse",
        aliases=["analyze"],
        help="run the RR on one trace file and print the reflection",
        description="Runs the Recursive Reflector on one trace (any format the loaders "
        "accept: ACE, OpenAI messages, Who&When, LangChain pairs, JSONL, plain-text logs).",
    )
    p.add_argument(
        "trace_file", metavar="TRACE_FILE", help="the trace to analyse (- reads standard input)"
    )
    p.add_argument(
        "--index",
        type=_index,
        metavar="N",
        help="which trace of a file holding several (0-based, as ace traces inspect lists them)",
    )
    p.add_argument("--model", metavar="M", help=_MODEL_HELP + _FROM_CONFIG)
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
        "--trace",
        metavar="FILE",
        help="the trace the session analysed: adds its timeline, and its label to the verdict",
    )
    p.add_argument("--index", type=_index, metavar="N", help="which trace of --trace (0-based)")
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
    p.add_argument("--model", metavar="M", help=_MODEL_HELP + _FROM_CONFIG)
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
        "--html",
        metavar="REPORT.html",
        help="also write the report as a standalone page (with --transcripts: a page per trace)",
    )
    p.add_argument(
        "--labels",
        metavar="GT.json",
        help="labels kept apart from the trajectories: a JSON list of {trajectory_id, "
        "failures: [{step_number, failed_agent}]}, matched to each trace's id (or the stem "
        "of a file holding one trace); they replace the labels the records carry",
    )
    p.add_argument(
        "--resume",
        metavar="RESULTS.json",
        help="continue an interrupted run from the journal beside RESULTS.json (same options)",
    )
    _add_rr_options(p)
    _add_jobs(p)
    _add_ray(p)
    _add_telemetry(p)
    p.set_defaults(handler="ace.cli._eval")


def _add_eval_report(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = commands.add_parser(
        "eval-report",
        help="compare results files of ace rr eval, in the terminal or as one HTML page",
        description="Accuracy by step tolerance (exact to ±5) for each results file, a "
        "per-trace table, an agent confusion table, cost and time distributions.",
    )
    p.add_argument("results", nargs="+", metavar="RESULTS.json", help="files ace rr eval wrote")
    p.add_argument("--html", metavar="OUT.html", help="write the standalone report page")
    p.add_argument(
        "--transcripts",
        action="append",
        metavar="DIR",
        help="where the RR transcripts of the runs are (ace rr eval --transcripts): each "
        "trace links to its page; once for every results file, or once per file in order",
    )
    p.set_defaults(handler="ace.cli._eval_report")


def _add_jobs(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--jobs",
        type=_positive_int,
        default=1,
        metavar="N",
        help="analyse N traces at once, each in its own kernel (default 1); the report "
        "lists them in input order whatever finishes first",
    )


def _add_ray(p: argparse.ArgumentParser) -> None:
    group = p.add_argument_group(
        "Ray cluster (needs pip install 'ace-rr[ray]'; see the README, Scale-out)"
    )
    group.add_argument(
        "--ray",
        nargs="?",
        const="auto",
        metavar="ADDRESS",
        help="run the sessions on a Ray cluster: auto (default: the cluster this machine "
        "belongs to), HOST:PORT, ray://HOST:PORT, or local (start one here with --jobs "
        "kernel slots); on a cluster every node's ace_kernel slots are used",
    )
    group.add_argument(
        "--max-attempts",
        type=_positive_int,
        default=3,
        metavar="N",
        help="with --ray: run a trace whose worker or node died at most N times in all (default 3)",
    )
    group.add_argument(
        "--shared-storage",
        action="append",
        metavar="DIR",
        help="with --ray: DIR is mounted at the same path on every node; its trace files "
        "are read there (size and SHA-256 checked), not shipped (repeatable)",
    )
    group.add_argument(
        "--require-isolation",
        action="store_true",
        help="with --ray: refuse nodes whose sandbox probes find a wall missing",
    )


def _add_analyse_batch(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = commands.add_parser(
        "analyse-batch",
        aliases=["analyze-batch"],
        help="run the RR on every trace of a folder or file, N at a time, under one budget",
        description="Runs one Recursive Reflector session per trace (labels not needed) and "
        "writes the report and journal of ace rr eval; --resume continues it. "
        "--max-cost-usd and --max-llm-calls-total bound the whole run: once spent, the "
        "traces left are listed as not run.",
    )
    p.add_argument("directory", metavar="DIR|FILE", help="a folder or file of traces")
    p.add_argument("--model", metavar="M", help=_MODEL_HELP + _FROM_CONFIG)
    p.add_argument(
        "--out",
        metavar="RESULTS.json",
        help="where to save the results (default: ace-batch-<set>.json)",
    )
    p.add_argument(
        "--resume",
        metavar="RESULTS.json",
        help="continue an interrupted or budget-stopped run from the journal beside "
        "RESULTS.json (same options; the budget may be raised)",
    )
    p.add_argument("--transcripts", metavar="DIR", help="save each session's transcript in DIR")
    p.add_argument(
        "--max-cost-usd",
        type=_positive_float,
        metavar="X",
        help="cost limit of the whole run in US dollars (models must have a price)",
    )
    p.add_argument(
        "--max-llm-calls-total",
        type=_positive_int,
        metavar="N",
        help="model calls of the whole run, every session and sub-call included",
    )
    _add_rr_options(p)
    _add_jobs(p)
    _add_ray(p)
    _add_telemetry(p)
    p.set_defaults(
        handler="ace.cli._eval",
        batch=True,
        reflector="rr",
        seed=0,
        limit=None,
        tolerance=None,
        labels=None,
    )


def _add_traces(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    traces = commands.add_parser(
        "traces",
        help="inspect trace files, convert them to the normalised form (no model)",
        description="Reads trace files the way the RR does: the detected format, the "
        "traces and steps, and which keys were taken out as labels.",
    )
    actions = traces.add_subparsers(dest="traces_command", metavar="COMMAND", required=True)
    inspect = actions.add_parser(
        "inspect",
        help="format, traces, steps, agents, time span, labels, first and last steps",
    )
    inspect.add_argument("file", metavar="FILE", help="a trace file or folder (- reads stdin)")
    inspect.add_argument("--format", metavar="NAME", help="read with this format, not detected")
    inspect.add_argument("--json", action="store_true", help="print JSON")
    inspect.set_defaults(handler="ace.cli._traces", action="inspect")
    convert = actions.add_parser(
        "convert",
        help="write the normalised traces as JSON (labels left out unless --with-labels)",
        description="Writes a JSON list with one normalised trace per trace of FILE, which "
        "every ace command reads back as it was. --with-labels writes {trace, labels} "
        "items instead.",
    )
    convert.add_argument("file", metavar="FILE", help="a trace file or folder (- reads stdin)")
    convert.add_argument("-o", "--out", metavar="OUT.json", help="write here (default: stdout)")
    convert.add_argument("--format", metavar="NAME", help="read with this format, not detected")
    convert.add_argument(
        "--with-labels", action="store_true", help="keep each trace's labels beside it"
    )
    convert.set_defaults(handler="ace.cli._traces", action="convert")
    show = actions.add_parser(
        "show",
        help="a trace's timeline: one lane per agent, one mark per step (terminal or page)",
        description="Draws one trace as a timeline (tool calls and errors marked, the "
        "labelled step pointed at) in the terminal, or with --html as a standalone page.",
    )
    show.add_argument("file", metavar="FILE", help="a trace file (- reads stdin)")
    show.add_argument("--index", type=_index, metavar="N", help="which trace of FILE (0-based)")
    show.add_argument("--format", metavar="NAME", help="read with this format, not detected")
    show.add_argument(
        "--html",
        nargs="?",
        const="",
        metavar="OUT.html",
        help="write the page (default name: the trace file's stem with .html, here)",
    )
    show.set_defaults(handler="ace.cli._trace_show")


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


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {value}")
    return value


def _index(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {value}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value
