"""Where the CLI writes its results: checked before anything is paid for, rescued after.

Every output path (``--save``, ``--html``, ``--record``, ``--out``, ``--transcripts``) is
checked before the first model call: its folder exists and is writable, and the path is
not a folder. A write that still fails after the session (a full disk, a folder removed
meanwhile) must not lose what was paid for: the content goes to ``ace-rescued-<time>-<what>``
in the current folder (else the temporary folder) and the path is printed on stderr.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from ace.cli._main import CLIError


def check_file(option: str, value: str | None) -> Path | None:
    """The path of a file option, checked for writing; raises ``CLIError`` naming it."""
    if value is None:
        return None
    path = Path(value).expanduser()
    if path.is_dir():
        raise CLIError(f"{option} {value}: is a directory; give a file name")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise CLIError(f"{option} {value}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise CLIError(f"{option} {value}: the folder {folder} is not writable")
    if path.exists() and not os.access(path, os.W_OK):
        raise CLIError(f"{option} {value}: the file exists and is not writable")
    return path


def check_folder(option: str, value: str | None) -> Path | None:
    """The path of a folder option: an existing writable folder, or one that can be made."""
    if value is None:
        return None
    path = Path(value).expanduser()
    if path.exists() and not path.is_dir():
        raise CLIError(f"{option} {value}: exists and is not a folder")
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise CLIError(f"{option} {value}: {existing} is not a writable folder")
    return path


def write_or_rescue(
    what: str, path: Path, write: Callable[[Path], object], text: Callable[[], str]
) -> Path:
    """``write(path)``; when that fails, the content (``text()``) goes to a rescue file.

    Returns where it ended up. The rescue is announced on stderr with the reason.
    """
    try:
        write(path)
        return path
    except OSError as exc:
        rescued = rescue(what, text())
        print(
            f"ace: error: could not write {what} to {path} ({exc.strerror or exc}); "
            f"saved it to {rescued} instead",
            file=sys.stderr,
        )
        return rescued


def rescue(what: str, content: str) -> Path:
    """Write `content` to ``ace-rescued-<time>-<what>.json`` in the current folder, else in
    the temporary folder; returns the path."""
    name = f"ace-rescued-{time.strftime('%Y%m%d-%H%M%S')}-{what}.json"
    for folder in (Path.cwd(), Path(tempfile.gettempdir())):
        target = folder / name
        try:
            target.write_text(content, encoding="utf-8")
        except OSError:
            continue
        return target
    raise CLIError(f"could not write {what} anywhere (tried {Path.cwd()} and the temporary folder)")
