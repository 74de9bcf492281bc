"""Paths from tool arguments: resolved, then refused outside the allowed roots."""

from __future__ import annotations

from pathlib import Path


class PathRefused(ValueError):
    """A tool was given a path outside the roots the server may touch."""


def allowed_path(raw: str, roots: list[Path], *, must_exist: bool = False) -> Path:
    """``raw`` resolved (relative to the first root; symlinks and ``..`` followed); raises
    ``PathRefused`` unless it lies inside one of ``roots``."""
    if not isinstance(raw, str) or not raw.strip() or "\x00" in raw:
        raise PathRefused("give a non-empty path")
    given = Path(raw).expanduser()
    path = (given if given.is_absolute() else roots[0] / given).resolve()
    if not any(path == root or path.is_relative_to(root) for root in roots):
        shown = ", ".join(str(r) for r in roots)
        raise PathRefused(f"{raw!r} resolves to {path}, outside the allowed roots ({shown})")
    if must_exist and not path.is_file():
        raise PathRefused(f"{raw!r}: no such file")
    return path
