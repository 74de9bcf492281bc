"""Dispatch a parsed command and turn every expected failure into one line."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ace.cli._parser import build_parser

if TYPE_CHECKING:
    import argparse

    from ace.cli._telemetry import Telemetry

EXIT_RUN_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class CLIError(Exception):
    """A failure to report as one line, with the exit code to use."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


def run(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, run the command, and map failures to exit codes."""
    args = build_parser().parse_args(argv)
    try:
        handler = importlib.import_module(args.handler)
        telemetry = _telemetry(args)
        try:
            code: int = handler.run(args)
        finally:
            if telemetry is not None:
                telemetry.close()
        return code
    except KeyboardInterrupt:
        _error("interrupted")
        return EXIT_INTERRUPTED
    except Exception as exc:
        return _report(exc)


def _telemetry(args: argparse.Namespace) -> Telemetry | None:
    use_logfire = bool(getattr(args, "logfire", False))
    otlp_file = getattr(args, "otlp_file", None)
    if not use_logfire and not otlp_file:
        return None
    from ace.cli._telemetry import Telemetry

    return Telemetry.start(logfire=use_logfire, otlp_file=otlp_file)


def _report(exc: Exception) -> int:
    from ace.errors import InputError, RunError, UsageError

    if isinstance(exc, CLIError):
        _error(str(exc))
        return exc.code
    if isinstance(exc, UsageError | InputError):
        _error(str(exc))
        return EXIT_USAGE
    if isinstance(exc, RunError):
        _error(str(exc))
        return EXIT_RUN_ERROR
    if isinstance(exc, FileNotFoundError):
        _error(f"{exc.filename}: no such file or directory")
        return EXIT_USAGE
    if _is_sandbox_error(exc):
        _error(f"sandbox: {exc}")
        return EXIT_RUN_ERROR
    if isinstance(exc, OSError):
        where = f" {exc.filename}" if exc.filename else ""
        _error(f"cannot access{where}: {exc.strerror or exc}")
        return EXIT_RUN_ERROR
    if os.environ.get("ACE_DEBUG"):
        raise exc
    _error(
        f"internal error: {type(exc).__name__}: {_first_line(exc)} "
        "(set ACE_DEBUG=1 to see the traceback, and please report it)"
    )
    return EXIT_RUN_ERROR


def _is_sandbox_error(exc: Exception) -> bool:
    errors = sys.modules.get("sandbox.errors")
    return errors is not None and isinstance(exc, errors.SandboxError)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


def _error(message: str) -> None:
    lines = message.strip().splitlines() or [""]
    print(f"ace: error: {lines[0]}", file=sys.stderr)
