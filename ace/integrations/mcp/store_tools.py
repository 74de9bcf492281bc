"""``ace.embed_prompt``, ``ace.learn_episode`` and ``ace.jobs.get``: the service's two calls
on a local store (the ``service`` extra), with an in-process worker pool learning in the
background. Added only when the store's dependencies are installed."""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Callable
from typing import Any

import anyio
from mcp.server.fastmcp import FastMCP
from mcp.server.fastmcp.exceptions import ToolError

from ace.integrations.mcp.settings import MCPSettings

STORE_TOOLS = ("ace.embed_prompt", "ace.learn_episode", "ace.jobs.get")


def available() -> bool:
    """Whether the store can run here (SQLAlchemy and Alembic installed)."""
    return all(importlib.util.find_spec(name) is not None for name in ("sqlalchemy", "alembic"))


class LocalService:
    """The store and its worker pool, opened on first use and closed with the server."""

    def __init__(self, settings: MCPSettings, model: str | None) -> None:
        self.settings = settings
        self.model = model
        self._lock = threading.Lock()
        self._store: Any = None
        self._pool: Any = None

    def store(self) -> Any:
        """The store, migrated on open; its worker pool runs from the first learn call."""
        with self._lock:
            if self._store is None:
                from ace.service import Store

                url = self.settings.database_url or f"sqlite:///{self.settings.roots[0] / 'ace.db'}"
                self._store = Store(url)
            return self._store

    def ensure_workers(self) -> None:
        """Start one background worker (the store's jobs are learned in this process)."""
        store = self.store()
        with self._lock:
            if self._pool is None:
                from ace.service import Learner, LearnerConfig, WorkerPool

                if self.model is not None:
                    config = LearnerConfig(
                        reflector_model=self.model, skill_manager_model=self.model
                    )
                else:
                    config = LearnerConfig.from_config()
                self._pool = WorkerPool(store, Learner(config), concurrency=1).start()

    def close(self) -> None:
        """Stop the pool (running jobs finish or go back to the queue) and the store."""
        with self._lock:
            if self._pool is not None:
                self._pool.stop()
            if self._store is not None:
                self._store.close()
            self._pool = self._store = None


def add_store_tools(
    server: FastMCP,
    settings: MCPSettings,
    model: str | None,
    mutating: Callable[[str], None],
    text: Callable[[str, str], str],
) -> LocalService | None:
    """Register the store's tools on ``server``; None (and no tools) without the extra."""
    if not available():
        return None
    service = LocalService(settings, model)

    @server.tool(
        name="ace.embed_prompt",
        description="The prompt with the playbook's most relevant skills embedded between "
        "**PLAYBOOK_BEGIN** and **PLAYBOOK_END** (the playbook is created on first use).",
    )
    async def embed_prompt(playbook_id: str, prompt: str, k: int = 20) -> dict[str, Any]:
        from ace.service.markers import embed

        text(prompt, "prompt")
        if not 1 <= k <= 200:
            raise ToolError("k must be between 1 and 200")

        def run() -> dict[str, Any]:
            store = service.store()
            try:
                store.ensure_playbook(None, playbook_id)
                skills = store.top_skills(None, playbook_id, prompt, k)
            except ValueError as exc:
                raise ToolError(str(exc)) from None
            return {"prompt": embed(prompt, [ranked.skill for ranked in skills])}

        return await anyio.to_thread.run_sync(run)

    @server.tool(
        name="ace.learn_episode",
        description="Queue a finished run for learning (reflection and curation run in the "
        "background); returns the learn job's id.",
    )
    async def learn_episode(
        playbook_id: str,
        user_message: str,
        trajectory: str,
        ground_truth: str | None = None,
        evaluation: str | None = None,
    ) -> dict[str, Any]:
        mutating("ace.learn_episode")
        request = {
            "user_message": text(user_message, "user_message"),
            "trajectory": text(trajectory, "trajectory"),
            "ground_truth": ground_truth,
            "evaluation": evaluation,
        }

        def run() -> dict[str, Any]:
            store = service.store()
            try:
                job = store.submit_job(None, playbook_id, request)
            except ValueError as exc:
                raise ToolError(str(exc)) from None
            service.ensure_workers()
            return {"learn_job_id": job.id}

        return await anyio.to_thread.run_sync(run)

    @server.tool(name="ace.jobs.get", description="A learn job's status, attempts and result.")
    async def jobs_get(learn_job_id: str) -> dict[str, Any]:
        def run() -> dict[str, Any]:
            job = service.store().get_job(None, learn_job_id)
            if job is None:
                raise ToolError(f"no learn job {learn_job_id!r}")
            return {
                "status": job.status,
                "attempts": job.attempts,
                "error": job.error,
                "result": job.result,
            }

        return await anyio.to_thread.run_sync(run)

    return service
