"""Shared by the tests that need the real local model (llama-cpp-python + the GGUF)."""

from __future__ import annotations

import os
import time

import pytest

from ace.local_model import (
    LocalLibraryError,
    check_library,
    local_model_available,
    require_installed,
)

MISSING = (
    "needs the `local` extra and the pulled model "
    "(uv pip install -e '.[local]' && ace model pull; make test does both under CI=true)"
)


def require_local_model() -> None:
    """Skip without the real local model (under CI=true that is a failure instead); fail
    with the named cause when the installed llama.cpp does not run on this CPU, so no
    local-model test fails with a bare connection error."""
    if not local_model_available():
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true: {MISSING}")
        pytest.skip(MISSING)
    try:
        check_library(require_installed())  # remembered per build: a file read after the first
    except LocalLibraryError as exc:
        pytest.fail(str(exc))


def wait_gone(pid: int, timeout: float = 15.0) -> bool:
    """Whether process ``pid`` has exited within ``timeout`` seconds (a zombie counts as
    exited: once its parent is gone only init can reap it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _running(pid):
            return True
        time.sleep(0.1)
    return False


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            state = stat.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in {"Z", "X"}
