"""Does the installed llama.cpp run on this CPU? One tiny completion in a child process.

A llama.cpp built for CPU features the machine lacks (or mishandles: native builds on
CPUs with AMX) loads fine and then dies with SIGSEGV or SIGILL at its first decode. The
check runs that first decode in a child process, bounded in time, so the crash is named
with its fix instead of surfacing as a connection error from a dead server. A passed
check is remembered by the SHA-256 of the installed libraries, so it runs once per
build: after ``make local``, and on the first ``--model local`` use of a library that was
installed some other way.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from ace._files import atomic_write
from ace.local_model._errors import LocalLibraryError, LocalModelNotInstalled
from ace.local_model._spec import cache_dir

CHECK_TIMEOUT_S = 300.0
"""Loading 1.1 GB from a cold disk and one decode; far more than the ~5 s it takes."""


@dataclass(frozen=True)
class LibraryCheck:
    """A passed check: which libraries, how long, and llama.cpp's own system report."""

    fingerprint: str
    """SHA-256 over the installed llama.cpp libraries (names and contents)."""
    seconds: float
    system_info: str
    """llama.cpp's ``llama_print_system_info()``: the instruction sets compiled in."""
    version: str


def library_dir() -> Path:
    """The folder holding the installed llama.cpp shared libraries."""
    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or not spec.submodule_search_locations:
        raise LocalModelNotInstalled("llama-cpp-python is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "lib"


def library_fingerprint() -> str:
    """SHA-256 of every shared library llama-cpp-python installed (~10 MB, ~30 ms)."""
    digest = hashlib.sha256()
    for path in sorted(library_dir().glob("*.so*")):
        digest.update(path.name.encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def check_library(
    model_path: Path, *, force: bool = False, timeout: float = CHECK_TIMEOUT_S
) -> LibraryCheck:
    """Run (or recall) the check; raises ``LocalLibraryError`` naming the cause and the fix."""
    fingerprint = library_fingerprint()
    record = _record_path(fingerprint)
    if not force:
        cached = _recall(record)
        if cached is not None:
            return cached
    started = time.monotonic()
    system_info = run_check(model_path, timeout=timeout)
    from ace.local_model._build import installed_version

    check = LibraryCheck(
        fingerprint=fingerprint,
        seconds=round(time.monotonic() - started, 2),
        system_info=system_info,
        version=installed_version() or "?",
    )
    atomic_write(record, json.dumps(asdict(check), indent=2) + "\n")
    return check


def run_check(
    model_path: Path, *, command: Sequence[str] | None = None, timeout: float = CHECK_TIMEOUT_S
) -> str:
    """Run the one-token completion in a child process; return llama.cpp's system info.

    ``command`` replaces the child (``python -m ace.local_model._smoke MODEL``; tests use a
    program that crashes). Raises ``LocalLibraryError`` on a crash, an error exit, a
    timeout or a missing report.
    """
    argv = list(command or [sys.executable, "-m", "ace.local_model._smoke", str(model_path)])
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, errors="replace", timeout=timeout
        )
    except subprocess.TimeoutExpired:
        raise LocalLibraryError(
            f"llama.cpp did not finish a one-token test completion within {timeout:.0f} s "
            f"({_library_location()}). {_fix()}"
        ) from None
    if done.returncode != 0:
        raise LocalLibraryError(_crash_message(done.returncode, done.stdout + done.stderr))
    try:
        report = json.loads(done.stdout.strip().splitlines()[-1])
        return str(report["system_info"])
    except (ValueError, IndexError, KeyError, TypeError):
        raise LocalLibraryError(
            f"llama.cpp's test completion printed no report: {_tail(done.stdout)}"
        ) from None


def _crash_message(returncode: int, output: str) -> str:
    from ace.local_model._build import installed_version

    if returncode < 0:
        try:
            how = f"crashed with {signal.Signals(-returncode).name}"
        except ValueError:
            how = f"was killed by signal {-returncode}"
    else:
        how = f"failed (exit status {returncode})"
    return (
        f"llama.cpp {how} in a one-token test completion: the installed llama-cpp-python "
        f"{installed_version()} ({_library_location()}) does not run on this CPU (a build "
        f"for another machine's CPU features, such as a native build on a CPU with AMX, "
        f"fails this way). {_fix()}. Its last output: {_tail(output)}"
    )


def _fix() -> str:
    from ace.local_model._build import pinned_version, recipe

    return (
        "Rebuild it portably: in a clone, `make local`; elsewhere, "
        f"`python -m ace.local_model._build` or {recipe().pip_command(pinned_version())}"
    )


def _library_location() -> str:
    try:
        return str(library_dir())
    except LocalModelNotInstalled:
        return "llama-cpp-python not found"


def _tail(text: str, lines: int = 3) -> str:
    kept = [line.strip() for line in text.strip().splitlines() if line.strip()][-lines:]
    return " | ".join(kept)[-600:] or "(nothing)"


def _record_path(fingerprint: str) -> Path:
    return cache_dir().parent / "checks" / f"llama-cpp-{fingerprint[:32]}.json"


def _recall(record: Path) -> LibraryCheck | None:
    try:
        return LibraryCheck(**json.loads(record.read_text()))
    except (OSError, ValueError, TypeError):
        return None
