"""Atomic file writes: every file ACE saves goes through here.

A save writes a temporary file beside the target, fsyncs it and renames it over the
target, so readers see the old file or the new one, never half of one. On top of that:
- the file keeps what it had: an existing target keeps its mode (a new one gets the
  umask's), and a symlink is written through (its target is replaced, the link stays);
- the temporary file (``.<name>.<pid>.<random>.tmp``) is removed on every failure the
  writer survives; one left by a writer killed with SIGKILL is removed by the next save
  of the same file, once its writer is known to be gone: the pid in its name is not a
  running process and nobody holds the ``flock`` a writer keeps on it while writing.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
from pathlib import Path

_DEFAULT_UMASK = 0o022


def atomic_write(
    path: str | os.PathLike[str], data: bytes | str, *, mode: int | None = None
) -> Path:
    """Write ``data`` to ``path`` atomically (see the module docstring); returns ``path``.

    ``mode`` forces the file's permission bits (e.g. 0o600 for a file holding keys); by
    default an existing file keeps its mode. The data is never readable under another mode.
    """
    file = Path(path)
    target = Path(os.path.realpath(file)) if file.is_symlink() else file
    target.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    if mode is None:
        try:
            mode = target.stat().st_mode & 0o7777
        except FileNotFoundError:
            mode = 0o666 & ~_umask()
    remove_stale_temporaries(target)
    tmp = target.parent / f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # released when the writer dies, however it dies
        with os.fdopen(fd, "wb", closefd=False) as handle:
            handle.write(payload)
            handle.flush()
            os.fchmod(fd, mode)
            os.fsync(fd)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        os.close(fd)
    return file


def remove_stale_temporaries(target: Path) -> list[Path]:
    """Remove temporary files of `target` whose writer is gone; returns what was removed."""
    removed: list[Path] = []
    with contextlib.suppress(OSError):
        candidates = list(target.parent.glob(f".{_glob_escape(target.name)}.*.tmp"))
        for candidate in candidates:
            if not _writer_alive(candidate) and _unlocked(candidate):
                with contextlib.suppress(OSError):
                    candidate.unlink()
                    removed.append(candidate)
    return removed


def _writer_alive(path: Path) -> bool:
    parts = path.name.rsplit(".", 3)  # ".<name>", "<pid>", "<random>", "tmp"
    if len(parts) == 4 and parts[1].isdigit():
        try:
            os.kill(int(parts[1]), 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return False  # an older naming scheme: the lock alone decides


def _unlocked(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False  # a live writer holds it
    finally:
        os.close(fd)
    return True


def _umask() -> int:
    """The process umask, read without changing it (``os.umask`` would race threads)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return _DEFAULT_UMASK


def _glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)
