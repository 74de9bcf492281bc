"""The ACE MCP server: tools over per-session skillbooks, the RR, and (later) the store.

Tools run in worker threads, so a slow model call never stalls the protocol loop. A tool
that cannot do what it was asked (safe mode, a path outside the roots, bad input) fails
with a message naming why; nothing else about the server changes.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
from mcp.server.fastmcp import FastMCP
from mcp.server.fastmcp.exceptions import ToolError

from ace.integrations.mcp.paths import PathRefused, allowed_path
from ace.integrations.mcp.settings import MCPSettings

if TYPE_CHECKING:
    from ace.runners import ACELiteLLM

TOOLS = (
    "ace.ask",
    "ace.learn.sample",
    "ace.learn.feedback",
    "ace.skillbook.get",
    "ace.skillbook.save",
    "ace.skillbook.load",
    "ace.rr.analyse",
)
"""The tools every server offers (the store's two calls are added when available)."""


@dataclass
class _Session:
    runner: ACELiteLLM
    lock: threading.Lock = field(default_factory=threading.Lock)
    last_used: float = field(default_factory=time.monotonic)


class Sessions:
    """One runner (and skillbook) per session id, dropped after ``session_ttl_s`` unused."""

    def __init__(self, settings: MCPSettings, model: str | None) -> None:
        self.settings = settings
        self.model = model
        self._sessions: dict[str, _Session] = {}
        self._lock = threading.Lock()

    def get(self, session_id: str) -> _Session:
        """The session's runner, created on first use."""
        if not isinstance(session_id, str) or not 0 < len(session_id) <= 128:
            raise ToolError("session_id must be a string of 1 to 128 characters")
        now = time.monotonic()
        with self._lock:
            for key in [
                k
                for k, s in self._sessions.items()
                if now - s.last_used > self.settings.session_ttl_s
            ]:
                self._sessions.pop(key).runner.close()
            session = self._sessions.get(session_id)
            if session is None:
                session = self._sessions[session_id] = _Session(self._new_runner())
            session.last_used = now
            return session

    def _new_runner(self) -> ACELiteLLM:
        from ace.runners import ACELiteLLM

        if self.model is not None:
            return ACELiteLLM(self.model)
        from ace.config import resolve_config

        return ACELiteLLM.from_config(resolve_config().config)

    def close(self) -> None:
        """Finish background learning of every session."""
        with self._lock:
            for session in self._sessions.values():
                session.runner.close()
            self._sessions.clear()


def build_server(
    settings: MCPSettings, *, model: str | None = None, **fastmcp_options: Any
) -> FastMCP:
    """A FastMCP server with ACE's tools; ``model`` is a resolved model string (or None for
    the configuration)."""
    from ace.prompting import render_prompt

    server = FastMCP("ace", instructions=render_prompt("mcp_instructions.j2"), **fastmcp_options)
    sessions = Sessions(settings, model)
    server._ace_sessions = sessions  # type: ignore[attr-defined]

    def mutating(what: str) -> None:
        if settings.safe_mode:
            raise ToolError(f"{what} is disabled: the server runs in safe mode (ACE_MCP_SAFE_MODE)")

    def save_load(what: str) -> None:
        mutating(what)
        if not settings.allow_save_load:
            raise ToolError(f"{what} is disabled (ACE_MCP_ALLOW_SAVE_LOAD=false)")

    def text(value: str, name: str) -> str:
        if not isinstance(value, str):
            raise ToolError(f"{name} must be a string")
        if len(value) > settings.max_prompt_chars:
            raise ToolError(
                f"{name} has {len(value):,} characters; the limit is {settings.max_prompt_chars:,}"
            )
        return value

    def checked_path(raw: str, *, must_exist: bool = False) -> Path:
        try:
            return allowed_path(raw, settings.roots, must_exist=must_exist)
        except PathRefused as exc:
            raise ToolError(str(exc)) from None

    @server.tool(name="ace.ask", description="Answer a question with the session's learned skills.")
    async def ask(question: str, context: str = "", session_id: str = "default") -> dict[str, Any]:
        session = sessions.get(session_id)

        def run() -> dict[str, Any]:
            with session.lock:
                answer = session.runner.ask(text(question, "question"), text(context, "context"))
                output = session.runner.last_interaction
                cited = list(output[2].skill_ids) if output else []
            return {"answer": answer, "skill_ids": cited}

        return await anyio.to_thread.run_sync(run)

    @server.tool(
        name="ace.learn.sample",
        description="Answer each sample, judge it against its ground truth, and learn from it.",
    )
    async def learn_sample(
        samples: list[dict[str, Any]], epochs: int = 1, session_id: str = "default"
    ) -> dict[str, Any]:
        mutating("ace.learn.sample")
        from ace.environments import Sample

        if not 0 < len(samples) <= settings.max_samples_per_call:
            raise ToolError(f"give 1 to {settings.max_samples_per_call} samples")
        if not 1 <= epochs <= 10:
            raise ToolError("epochs must be between 1 and 10")
        try:
            parsed = [Sample.model_validate(s) for s in samples]
        except Exception as exc:
            raise ToolError(f"bad sample: {exc}") from None
        session = sessions.get(session_id)

        def run() -> dict[str, Any]:
            with session.lock:
                before = len(session.runner.skillbook)
                results = session.runner.learn(parsed, epochs=epochs)
                failed = [
                    {"index": r.index, "error": f"{type(r.error).__name__}: {r.error}"}
                    for r in results
                    if r.error is not None
                ]
                return {
                    "processed": len(results),
                    "failed": failed,
                    "skills_before": before,
                    "skills_after": len(session.runner.skillbook),
                }

        return await anyio.to_thread.run_sync(run)

    @server.tool(
        name="ace.learn.feedback",
        description="Learn from feedback on the session's last ace.ask answer.",
    )
    async def learn_feedback(
        feedback: str, ground_truth: str | None = None, session_id: str = "default"
    ) -> dict[str, Any]:
        mutating("ace.learn.feedback")
        session = sessions.get(session_id)

        def run() -> dict[str, Any]:
            with session.lock:
                if session.runner.last_interaction is None:
                    raise ToolError(
                        "call ace.ask in this session first; there is no answer to learn from"
                    )
                before = len(session.runner.skillbook)
                session.runner.learn_from_feedback(text(feedback, "feedback"), ground_truth)
                return {
                    "learned": True,
                    "skills_before": before,
                    "skills_after": len(session.runner.skillbook),
                }

        return await anyio.to_thread.run_sync(run)

    @server.tool(name="ace.skillbook.get", description="The session's skills and counts.")
    async def skillbook_get(session_id: str = "default", limit: int = 100) -> dict[str, Any]:
        book = sessions.get(session_id).runner.skillbook
        skills = [
            s.model_dump(
                mode="json", include={"id", "section", "content", "helpful", "harmful", "neutral"}
            )
            for s in book.skills()
        ]
        return {
            "skills": skills[: max(1, limit)],
            "stats": book.stats(),
            "prompt": book.as_prompt(),
        }

    @server.tool(name="ace.skillbook.save", description="Save the session's skillbook to a file.")
    async def skillbook_save(path: str, session_id: str = "default") -> dict[str, Any]:
        save_load("ace.skillbook.save")
        target = checked_path(path)
        saved = sessions.get(session_id).runner.save(target)
        return {"path": str(saved), "skills": len(sessions.get(session_id).runner.skillbook)}

    @server.tool(
        name="ace.skillbook.load", description="Replace the session's skillbook with a saved one."
    )
    async def skillbook_load(path: str, session_id: str = "default") -> dict[str, Any]:
        save_load("ace.skillbook.load")
        source = checked_path(path, must_exist=True)
        session = sessions.get(session_id)

        def run() -> dict[str, Any]:
            with session.lock:
                session.runner.load(source)
                return {"path": str(source), "skills": len(session.runner.skillbook)}

        return await anyio.to_thread.run_sync(run)

    @server.tool(
        name="ace.rr.analyse",
        description="Run the Recursive Reflector on a trace (a file path, or the trace as JSON text).",
    )
    async def rr_analyse(
        trace: str, save_transcript: bool = True, max_llm_calls: int = 30
    ) -> dict[str, Any]:
        from ace.traces import load_trace, load_trace_file

        text(trace, "trace")
        if not 2 <= max_llm_calls <= 200:
            raise ToolError("max_llm_calls must be between 2 and 200")
        try:
            if trace.lstrip()[:1] in ("{", "["):
                loaded = load_trace(json.loads(trace))
            else:
                loaded = load_trace_file(checked_path(trace, must_exist=True))
        except ToolError:
            raise
        except Exception as exc:
            raise ToolError(f"cannot read the trace: {type(exc).__name__}: {exc}") from None

        def run() -> dict[str, Any]:
            from ace.rr import RRConfig, RRStep

            main = model or sessions._new_runner().model
            with RRStep(main, RRConfig(max_llm_calls=max_llm_calls)) as rr:
                result = rr.analyse(loaded)
            out: dict[str, Any] = {
                "reflection": result.reflection.model_dump(mode="json", exclude={"raw"}),
                "outcome": result.transcript.outcome,
                "cause": result.transcript.cause,
                "transcript_path": None,
            }
            if save_transcript:
                folder = settings.roots[0] / "ace-transcripts"
                name = f"{time.strftime('%Y%m%d-%H%M%S')}-{result.transcript.session_id[:8]}.json"
                out["transcript_path"] = str(result.transcript.save(folder / name))
            return out

        return await anyio.to_thread.run_sync(run)

    from ace.integrations.mcp.store_tools import add_store_tools

    server._ace_service = add_store_tools(server, settings, model, mutating, text)  # type: ignore[attr-defined]
    return server


def close_server(server: FastMCP) -> None:
    """Finish the sessions' background learning and stop the store's workers."""
    sessions = getattr(server, "_ace_sessions", None)
    if sessions is not None:
        sessions.close()
    service = getattr(server, "_ace_service", None)
    if service is not None:
        service.close()
