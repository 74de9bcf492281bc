"""A local model server that dies: noticed, restarted once, then named, never a bare
connection error. Driven by a stand-in server program that crashes with SIGSEGV at its
first completion, as a llama.cpp built for another CPU does."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ace.llm import LLMClient
from ace.local_model import (
    DEFAULT_MODEL,
    LocalServerError,
    ServerOptions,
    ensure_server,
    stop_servers,
)
from ace.rr import RRConfig, RRStep
from ace.traces import Trace

STAND_IN = Path(__file__).parent / "data" / "crashing_llama_server.py"
DEATH = "died with SIGSEGV at its first request"


@pytest.fixture
def starts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The stand-in configured as this process's local server; yields its start log."""
    monkeypatch.setenv("ACE_CACHE_DIR", str(tmp_path / "cache"))
    record = tmp_path / "starts.txt"
    program = (sys.executable, str(STAND_IN), "--starts", str(record))
    stop_servers()
    ensure_server(DEFAULT_MODEL, ServerOptions(program=program, startup_timeout_s=30))
    yield record
    stop_servers()


def start_count(record: Path) -> int:
    return len(record.read_text().split())


def test_a_crashing_server_is_restarted_once_then_named(starts: Path) -> None:
    client = LLMClient("local", max_retries=5)
    with pytest.raises(LocalServerError) as failure:
        client.complete("Say OK.")

    message = str(failure.value)
    assert DEATH in message
    assert "restarted 1 time(s)" in message
    # The log is quoted: the stand-in's last line before the crash.
    assert "llama_decode: decoding the first batch" in message
    assert start_count(starts) == 2  # the first start and one restart, not one per retry

    # Later requests fail at once with the same cause, and start nothing.
    with pytest.raises(LocalServerError, match=DEATH):
        LLMClient("local", max_retries=5).complete("Again?")
    assert start_count(starts) == 2


def test_without_retries_the_connection_error_names_the_death(starts: Path) -> None:
    from ace.errors import LLMError

    with pytest.raises(LLMError) as failure:
        LLMClient("local", max_retries=0).complete("Say OK.")
    assert DEATH in str(failure.value)
    assert "cause:" in str(failure.value)


def test_the_rr_session_and_the_cli_line_name_the_death(
    starts: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from ace.cli._session import print_result, session_failed

    trace = Trace.model_validate(
        {"id": "t", "format": "ace", "question": "2+2?", "steps": [{"index": 0, "content": "5"}]}
    )
    step = RRStep("local", config=RRConfig(max_llm_calls=6, max_iterations=3))
    result = step.analyse(trace)

    transcript = result.transcript
    assert transcript.outcome == "timeout"
    assert transcript.cause is not None
    assert transcript.cause.startswith("LocalServerError: ") and DEATH in transcript.cause
    assert result.reflection.raw["rr_trace"]["cause"] == transcript.cause
    assert start_count(starts) == 2
    print_result(result)
    printed = capsys.readouterr().out
    assert (
        "cause: the local model server crashed (LocalServerError: the local model server for "
        "local/qwen2.5-coder-1.5b" in printed
    )
    failed = session_failed(result)
    assert failed is not None and DEATH in failed
