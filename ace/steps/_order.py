"""Argument order shared by the steps that take a file path and the real skillbook."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ace.errors import UsageError
from ace.skillbook import Skillbook


def interval_of(interval: int | None, every: int | None, step: str) -> int:
    """The step's period: ``interval`` (the established name) or ``every`` (ours), default 1."""
    if interval is not None and every is not None and interval != every:
        raise UsageError(f"{step}: interval={interval} and every={every} disagree; pass one")
    value = interval if interval is not None else every if every is not None else 1
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UsageError(f"{step}: interval (every) must be an int >= 1, got {value!r}")
    return value


def path_and_skillbook(
    first: Any, second: Any, step: str, books: tuple[type, ...] = (Skillbook,)
) -> tuple[Path, Any]:
    """``(path, skillbook)`` from arguments given in the established order (path first)
    or in this package's first order (skillbook first); anything else is a UsageError."""
    if isinstance(second, books) and isinstance(first, str | os.PathLike):
        return Path(first), second
    if isinstance(first, books) and isinstance(second, str | os.PathLike):
        return Path(second), first
    raise UsageError(
        f"{step}: pass a file path and the Skillbook, e.g. {step}('out/dir', skillbook); "
        f"got {type(first).__name__} and {type(second).__name__}"
    )
