"""The pytest tripwire: real providers and non-loopback addresses are refused."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from ace.llm import LLMClient
from ace.testing._tripwire import ModelRequestBlocked, NetworkBlockedError, Tripwire, is_local_host


def test_real_provider_call_fails_fast_without_network(tripwire: Tripwire) -> None:
    started = time.perf_counter()
    with tripwire.expect_block() as caught, pytest.raises(ModelRequestBlocked, match="tripwire"):
        LLMClient("openai/gpt-4o-mini", api_key="sk-test").complete("hi")
    assert time.perf_counter() - started < 1.0
    assert len(caught) == 1 and "openai/gpt-4o-mini" in caught[0]


def test_direct_litellm_call_is_blocked(tripwire: Tripwire) -> None:
    import litellm

    with tripwire.expect_block(), pytest.raises(ModelRequestBlocked):
        litellm.completion(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])


def test_non_loopback_sockets_and_lookups_are_refused(tripwire: Tripwire) -> None:
    with tripwire.expect_block() as caught:
        with socket.socket() as sock, pytest.raises(NetworkBlockedError):
            sock.connect(("192.0.2.1", 443))
        with pytest.raises(NetworkBlockedError):
            socket.getaddrinfo("api.openai.com", 443)
    assert len(caught) == 2


def test_loopback_still_works() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        accepted: list[bytes] = []

        def serve() -> None:
            conn, _ = server.accept()
            with conn:
                accepted.append(conn.recv(10))

        thread = threading.Thread(target=serve)
        thread.start()
        with socket.create_connection(("localhost", port), timeout=5) as client:
            client.sendall(b"ping")
        thread.join(5)
    assert accepted == [b"ping"]


@pytest.mark.parametrize(
    ("host", "local"),
    [("127.0.0.1", True), ("::1", True), ("localhost", True), (None, True), ("10.0.0.1", False)],
)
def test_is_local_host(host: str | None, local: bool) -> None:
    assert is_local_host(host) is local


@pytest.mark.slow
def test_swallowed_tripwire_error_still_fails_the_test(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["ace.testing.pytest_plugin"]\n')
    (tmp_path / "test_sneaky.py").write_text(
        textwrap.dedent(
            """
            from ace.llm import LLMClient

            def test_sneaky():
                try:
                    LLMClient("openai/gpt-4o-mini", api_key="sk-x").complete("hi")
                except Exception:
                    pass  # the code under test hides the failure
            """
        )
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "tripwire" in result.stdout and "openai/gpt-4o-mini" in result.stdout
