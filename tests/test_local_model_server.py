"""The real llama.cpp server behind ``--model local``: start, answer, queue, stop."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from local_model_support import require_local_model, wait_gone
from pydantic import BaseModel

from ace.llm import LLMClient
from ace.local_model import running_server, stop_servers

pytestmark = pytest.mark.slow


class Pick(BaseModel):
    colour: str
    number: int


@pytest.fixture
def local() -> Iterator[None]:
    """The real local model; every server this test started is stopped and checked gone."""
    require_local_model()
    yield
    server = running_server()
    stop_servers()
    if server is not None:
        assert wait_gone(server.pid), f"server pid {server.pid} survived stop_servers()"


def test_server_starts_answers_structured_output_and_is_gone_after(local: None) -> None:
    client = LLMClient("local", max_tokens=48)
    result = client.structured("Pick a colour and a whole number from 1 to 9.", Pick)

    assert isinstance(result.value, Pick)
    assert result.responses[-1].cost_usd == 0.0
    server = running_server()
    assert server is not None and server.owned and server.answers()
    assert server.api_base.startswith("http://127.0.0.1:")
    # A second client reuses the running server.
    LLMClient("local/qwen2.5-coder-1.5b", max_tokens=4).complete("Say OK.")
    assert running_server() is server

    pid = server.pid
    stop_servers()
    assert wait_gone(pid)
    assert running_server() is None


def test_concurrent_requests_queue_instead_of_failing(local: None) -> None:
    client = LLMClient("local", max_tokens=6)

    async def ask_all() -> list[str]:
        replies = await asyncio.gather(
            *(client.acomplete(f"Reply with the number {n}.") for n in range(4))
        )
        return [reply.text for reply in replies]

    texts = asyncio.run(ask_all())
    assert len(texts) == 4 and all(isinstance(text, str) for text in texts)


@pytest.mark.parametrize("how", ["exit", "sigkill"])
def test_server_does_not_outlive_its_process(local: None, how: str) -> None:
    script = textwrap.dedent(
        f"""
        import sys, time
        from ace.llm import LLMClient
        from ace.local_model import running_server
        LLMClient("local", max_tokens=2).complete("Hi")
        print(running_server().pid, running_server().log_path, flush=True)
        if {how == "sigkill"!r}:
            time.sleep(600)
        """
    )
    with subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True
    ) as child:
        try:
            assert child.stdout is not None
            line = child.stdout.readline()
            pid_text, _, log_text = line.strip().partition(" ")
            assert pid_text.isdigit() and log_text, f"child printed {line!r}"
            server_pid, log = int(pid_text), Path(log_text)
            assert log.exists()
            if how == "sigkill":
                child.kill()  # no atexit: the watchdog inside the server must notice
            child.wait(timeout=60)
        finally:
            if child.poll() is None:
                child.kill()
    assert wait_gone(server_pid), f"llama.cpp server {server_pid} outlived its parent ({how})"
    assert not log.exists(), f"the server's log {log} was left behind ({how})"
