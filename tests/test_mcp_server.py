"""The MCP server through the SDK's own client: over stdio and over loopback HTTP.

The server runs in a subprocess with a scripted session (``--model scripted:...``), so
every tool runs the real roles and the real Recursive Reflector (a real kernel).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mcp")  # the `mcp` extra; `make test` installs it

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from ace import Skillbook
from ace.testing import code_reply, final_code, reflection

LESSON = "Check the unit before answering"
AGENT = json.dumps({"reasoning": "r", "final_answer": "42", "skill_ids": []})
REFLECTOR = json.dumps(
    {"reasoning": "r", "error_identification": "unit", "key_insight": LESSON,
     "extracted_learnings": [{"learning": LESSON, "atomicity_score": 0.9}]}
)  # fmt: skip
CURATOR = json.dumps(
    {"reasoning": "r", "operations": [{"type": "ADD", "section": "units", "content": LESSON}]}
)
RR_FINAL = code_reply(final_code(reflection(key_insight="the tool call used metres")))


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACE_")}
    env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    env.update(extra or {})
    return env


def _session(tmp_path: Path, replies: list[str]) -> Path:
    path = tmp_path / "session.json"
    path.write_text(json.dumps({"description": "mcp test", "replies": replies}))
    return path


@asynccontextmanager
async def stdio_session(
    root: Path, script: Path, env: dict[str, str] | None = None
) -> AsyncIterator[ClientSession]:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "ace.integrations.mcp", "--model", f"scripted:{script}", "--root", str(root)],
        env=_env(env),
        cwd=str(root),
    )
    with open(root.parent / "server-stderr.txt", "w") as errlog:
        async with (
            stdio_client(params, errlog=errlog) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            yield session


def result_of(call: Any) -> dict[str, Any]:
    assert not call.isError, call.content
    return json.loads(call.content[0].text)


def error_of(call: Any) -> str:
    assert call.isError
    return str(call.content[0].text)


def test_every_tool_over_stdio(tmp_path: Path) -> None:
    root = tmp_path / "work"
    root.mkdir()
    script = _session(tmp_path, [AGENT, REFLECTOR, CURATOR, RR_FINAL, RR_FINAL, RR_FINAL])
    outside = tmp_path / "outside.json"
    Skillbook().save(outside)
    (root / "escape.json").symlink_to(outside)

    async def scenario() -> None:
        async with stdio_session(root, script) as s:
            names = {t.name for t in (await s.list_tools()).tools}
            assert {"ace.ask", "ace.learn.sample", "ace.learn.feedback", "ace.skillbook.get",
                    "ace.skillbook.save", "ace.skillbook.load", "ace.rr.analyse"} <= names  # fmt: skip
            error = error_of(await s.call_tool("ace.learn.feedback", {"feedback": "x"}))
            assert "call ace.ask" in error
            assert result_of(await s.call_tool("ace.ask", {"question": "6*7?"}))["answer"] == "42"
            learned = result_of(await s.call_tool("ace.learn.feedback", {"feedback": "wrong unit"}))
            assert learned["skills_after"] == 1
            book = result_of(await s.call_tool("ace.skillbook.get", {}))
            assert [k["content"] for k in book["skills"]] == [LESSON]
            other = result_of(await s.call_tool("ace.skillbook.get", {"session_id": "other"}))
            assert other["skills"] == []  # per-session skillbooks
            saved = result_of(await s.call_tool("ace.skillbook.save", {"path": "book.json"}))
            assert Path(saved["path"]) == (root / "book.json").resolve()
            loaded = result_of(
                await s.call_tool(
                    "ace.skillbook.load", {"path": "book.json", "session_id": "other"}
                )
            )
            assert loaded["skills"] == 1
            for bad in ("../outside.json", str(outside), "escape.json"):
                assert "outside the allowed roots" in error_of(
                    await s.call_tool("ace.skillbook.load", {"path": bad})
                )
            assert "outside the allowed roots" in error_of(
                await s.call_tool("ace.skillbook.save", {"path": "../x.json"})
            )
            trace = json.dumps(
                {
                    "question": "distance?",
                    "reasoning": "used metres",
                    "answer": "5",
                    "feedback": "wrong",
                }
            )
            analysed = result_of(await s.call_tool("ace.rr.analyse", {"trace": trace}))
            assert analysed["reflection"]["key_insight"] == "the tool call used metres"
            assert Path(analysed["transcript_path"]).is_file()
            assert Path(analysed["transcript_path"]).is_relative_to(root.resolve())

    asyncio.run(scenario())
    assert not (tmp_path / "x.json").exists()
    assert Skillbook.load(outside).skills() == []


def test_safe_mode_and_save_load_switches(tmp_path: Path) -> None:
    root = tmp_path / "work"
    root.mkdir()
    script = _session(tmp_path, [AGENT])

    async def scenario(env: dict[str, str], refused: list[str]) -> None:
        async with stdio_session(root, script, env) as s:
            calls = {
                "ace.learn.sample": {"samples": [{"question": "q", "ground_truth": "a"}]},
                "ace.learn.feedback": {"feedback": "f"},
                "ace.skillbook.save": {"path": "b.json"},
                "ace.skillbook.load": {"path": "b.json"},
            }
            for name in refused:
                message = error_of(await s.call_tool(name, calls[name]))
                assert "safe mode" in message or "ACE_MCP_ALLOW_SAVE_LOAD" in message
            assert result_of(await s.call_tool("ace.skillbook.get", {}))["skills"] == []

    asyncio.run(
        scenario(
            {"ACE_MCP_SAFE_MODE": "true"},
            ["ace.learn.sample", "ace.learn.feedback", "ace.skillbook.save", "ace.skillbook.load"],
        )
    )
    asyncio.run(
        scenario({"ACE_MCP_ALLOW_SAVE_LOAD": "false"}, ["ace.skillbook.save", "ace.skillbook.load"])
    )
    assert not (root / "b.json").exists()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    root = tmp_path / "work"
    root.mkdir()
    port, token = _free_port(), "test-token-123"
    script = _session(tmp_path, [AGENT])
    proc = subprocess.Popen(
        [sys.executable, "-m", "ace.integrations.mcp", "--http", "--port", str(port), "--token", token,
         "--model", f"scripted:{script}", "--root", str(root)],
        env=_env(), cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "the MCP server did not start"
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/mcp", token
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stderr:
            proc.stderr.close()


def test_http_needs_the_token_and_a_local_origin(http_server: tuple[str, str]) -> None:
    import httpx
    from mcp.client.streamable_http import streamable_http_client

    url, token = http_server
    hello = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
             "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}  # fmt: skip
    accept = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    assert httpx.post(url, json=hello, headers=accept).status_code == 401
    wrong = {**accept, "Authorization": "Bearer nope"}
    assert httpx.post(url, json=hello, headers=wrong).status_code == 401
    evil = {**accept, "Authorization": f"Bearer {token}", "Origin": "http://evil.example"}
    assert httpx.post(url, json=hello, headers=evil).status_code == 403

    async def scenario() -> None:
        client = httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"})
        async with (
            client,
            streamable_http_client(url, http_client=client) as (read, write, _),
            ClientSession(read, write) as s,
        ):
            await s.initialize()
            assert "ace.ask" in {t.name for t in (await s.list_tools()).tools}
            assert result_of(await s.call_tool("ace.ask", {"question": "6*7?"}))["answer"] == "42"

    asyncio.run(scenario())


def test_the_service_calls_on_a_local_store(tmp_path: Path) -> None:
    pytest.importorskip("sqlalchemy")  # the `service` extra; `make test` installs it
    root = tmp_path / "work"
    root.mkdir()
    script = _session(tmp_path, [REFLECTOR, CURATOR])

    async def scenario() -> None:
        async with stdio_session(root, script) as s:
            names = {t.name for t in (await s.list_tools()).tools}
            assert {"ace.embed_prompt", "ace.learn_episode", "ace.jobs.get"} <= names
            empty = result_of(
                await s.call_tool(
                    "ace.embed_prompt", {"playbook_id": "bot", "prompt": "Convert 5 miles"}
                )
            )
            assert "**PLAYBOOK_BEGIN**" in empty["prompt"] and "units" not in empty["prompt"]
            job = result_of(await s.call_tool("ace.learn_episode", {
                "playbook_id": "bot", "user_message": empty["prompt"],
                "trajectory": "tool: convert(5, 'miles') -> 5 (unit ignored); answer 5 km: wrong",
            }))  # fmt: skip
            for _ in range(300):
                status = result_of(
                    await s.call_tool("ace.jobs.get", {"learn_job_id": job["learn_job_id"]})
                )
                if status["status"] in ("done", "failed"):
                    break
                await asyncio.sleep(0.1)
            assert status["status"] == "done", status
            after = result_of(
                await s.call_tool(
                    "ace.embed_prompt", {"playbook_id": "bot", "prompt": "Check the unit"}
                )
            )
            assert LESSON in after["prompt"]
            bad = await s.call_tool("ace.embed_prompt", {"playbook_id": "bot\x01", "prompt": "p"})
            assert "playbook_id" in error_of(bad)

    asyncio.run(scenario())
    assert (root / "ace.db").is_file()
