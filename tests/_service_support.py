"""A scripted team for the service tests, reachable in-process and from worker processes.

``ServiceTeam`` answers as the Reflector, the SkillManager (and the Recursive Reflector):
each run's user message names a lesson ``LESSON-<tag>``; the Reflector teaches it and
marks every skill the run cited as helpful; the SkillManager adds ``Lesson <tag>: ...``.

In-process, ``team.model`` (a ``FunctionModel``) is reached through litellm's custom
provider. Worker *processes* cannot see that registry, so ``FakeOpenAI`` serves the same
team as an OpenAI-compatible endpoint on 127.0.0.1: the worker is configured by an
``ace.toml`` (``model = "openai/..."``, ``extra_params = {api_base = ...}``) and calls it
through litellm's real OpenAI provider over HTTP. Nothing in the product is test-only.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from ace.testing import Fail, FunctionModel, RecordedRequest, code_reply, final_code, reflection

ROLE_MARKERS = (
    ("You are the Recursive Reflector", "rr"),
    ("You review one attempt", "reflector"),
    ("You maintain a skillbook", "skill_manager"),
)
_LESSON = re.compile(r"LESSON-([A-Za-z0-9_]+)")
_CITED = re.compile(r"SKILLS THE ATTEMPT CITED\n(.*?)(?:\n\n|\nReply with)", re.S)


def role_of(text: str) -> str:
    """Which role a prompt comes from ("sub" for anything else)."""
    for marker, role in ROLE_MARKERS:
        if marker in text:
            return role
    return "sub"


def lesson(tag: str) -> str:
    """The skill the team adds for ``LESSON-<tag>``."""
    return f"Lesson {tag}: re-read the task statement before answering"


class ServiceTeam:
    """Scripted Reflector and SkillManager; ``delays`` (seconds per role) slow replies,
    ``slow_lessons`` (seconds per lesson tag) slow the curator on those runs only, and
    ``fail(role, text, n)`` may return a ``Fail`` for the n-th request of a role."""

    def __init__(
        self,
        *,
        delays: dict[str, float] | None = None,
        slow_lessons: dict[str, float] | None = None,
        fail: Callable[[str, str, int], Fail | None] | None = None,
    ) -> None:
        self.delays = dict(delays or {})
        self.slow_lessons = dict(slow_lessons or {})
        self.fail = fail
        self.requests: dict[str, list[str]] = defaultdict(list)
        self._lock = threading.Lock()
        self._model: FunctionModel | None = None

    @property
    def model(self) -> FunctionModel:
        """The in-process model (created on first use)."""
        if self._model is None:
            self._model = FunctionModel(self._reply)
        return self._model

    def count(self, role: str, containing: str = "") -> int:
        """Requests received from ``role`` (whose text contains ``containing``)."""
        with self._lock:
            return sum(containing in text for text in self.requests[role])

    def _reply(self, request: RecordedRequest) -> str | Fail:
        return self.answer("\n".join(str(m.get("content") or "") for m in request.messages))

    def answer(self, text: str) -> str | Fail:
        """The reply to a prompt (all its messages' text), after the role's delay."""
        role = role_of(text)
        with self._lock:
            self.requests[role].append(text)
            number = len(self.requests[role])
        if self.fail is not None:
            failure = self.fail(role, text, number)
            if failure is not None:
                return failure
        found = _LESSON.search(text)
        tag = found.group(1) if found else "none"
        delay = self.slow_lessons.get(tag, 0.0) if role == "skill_manager" else 0.0
        if self.delays.get(role) or delay:
            time.sleep(max(self.delays.get(role, 0.0), delay))
        if role == "reflector":
            cited = _CITED.search(text)
            ids = re.findall(r"\[([^\[\]\n]+)\]", cited.group(1)) if cited else []
            return json.dumps(
                {
                    "reasoning": "the run skipped re-reading the task",
                    "error_identification": "misread task",
                    "key_insight": lesson(tag),
                    "extracted_learnings": [{"learning": lesson(tag), "atomicity_score": 0.9}],
                    "skill_tags": [{"id": i, "tag": "helpful"} for i in dict.fromkeys(ids)],
                }
            )
        if role == "skill_manager":
            return json.dumps(
                {
                    "reasoning": f"one lesson from run {tag}",
                    "operations": [{"type": "ADD", "section": "lessons", "content": lesson(tag)}],
                }
            )
        if role == "rr":
            found_reflection = reflection(
                key_insight=lesson(tag),
                extracted_learnings=[{"learning": lesson(tag), "atomicity_score": 0.9}],
            )
            return code_reply(final_code(found_reflection), "The trace is short; I can conclude.")
        return "scripted sub-answer"


class FakeOpenAI:
    """``team`` as an OpenAI-compatible chat-completions endpoint on 127.0.0.1."""

    def __init__(self, team: ServiceTeam) -> None:
        self.team = team
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                text = "\n".join(str(m.get("content") or "") for m in body.get("messages", []))
                reply = outer.team.answer(text)
                if isinstance(reply, Fail):
                    status = {"rate_limit": 429, "server_error": 500, "auth": 401}.get(
                        reply.kind, 400
                    )
                    payload: dict[str, Any] = {"error": {"message": reply.message}}
                else:
                    status = 200
                    payload = {
                        "id": "chatcmpl-test",
                        "object": "chat.completion",
                        "created": int(time.time()),
                        "model": body.get("model", "fake"),
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": reply},
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
                    }
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the worker was killed while waiting

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def api_base(self) -> str:
        """The base URL to give litellm."""
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.shutdown()
        self.server.server_close()


MODEL = "openai/ace-test-team"
"""The model string worker processes are configured with (served by ``FakeOpenAI``)."""


def write_worker_config(folder: Path, api_base: str) -> Path:
    """An ``ace.toml`` whose models are ``FakeOpenAI``'s, without transport retries."""
    path = folder / "ace.toml"
    path.write_text(
        "[default]\n"
        f'model = "{MODEL}"\n'
        f'extra_params = {{ api_base = "{api_base}", max_retries = 0 }}\n'
    )
    return path


def worker_env() -> dict[str, str]:
    """The environment of a worker process: no ACE_* settings of the developer's shell, a
    placeholder OpenAI key (the endpoint is local and ignores it)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACE_")}
    env["OPENAI_API_KEY"] = "sk-test-local-endpoint"
    env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    return env


def start_worker(
    url: str, folder: Path, name: str, *args: str, lease: float = 2.0
) -> subprocess.Popen[bytes]:
    """``python -m ace.cli worker`` in ``folder`` (its ``ace.toml``), logging to
    ``folder/<name>.log``."""
    log = (folder / f"{name}.log").open("wb")
    command = [
        sys.executable, "-m", "ace.cli", "worker", "--database-url", url,
        "--lease", str(lease), "--poll", "0.2", "--retry-delay", "0.2", *args,
    ]  # fmt: skip
    process = subprocess.Popen(
        command, cwd=folder, env=worker_env(), stdout=log, stderr=subprocess.STDOUT
    )
    log.close()
    return process


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def run_request(tag: str, *, cited: str = "") -> dict[str, str]:
    """A learn request naming ``LESSON-<tag>``, optionally with an embedded block."""
    return {
        "user_message": f"Solve task {tag}. LESSON-{tag}\n\n{cited}".strip(),
        "trajectory": f"User: Solve task {tag}\n{cited}\nAssistant: 41\nEvaluation: wrong, 42",
    }
