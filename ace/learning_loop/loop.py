"""``LearningLoop``: run a task, record its trajectory, reflect on it, curate a playbook.

::

    from ace.learning_loop import LearningLoop

    loop = LearningLoop(store, None, "openai/gpt-4o-mini", user_id="u1", tenant_id="acme")
    result = loop.execute_with_learning(
        "Deploy caching with 5min TTL", deploy_cache, playbook_id="ops_playbook", ttl=300
    )
    loop.add_feedback(result["trajectory_id"], 0.0, "p99 doubled after the deploy", "monitoring")
    loop.process_relearning_queue(limit=10)

What a trajectory records: the task's keyword arguments, its return value or its
exception with the formatted traceback, the log records emitted while it ran (records
that reach the root logger's handlers: set your loggers' levels to record more), the
steps it logs (``loop.memory.log_step(current_trajectory_id(), kind, text)``) and the
strategies it looked up (``get_playbook_strategies``), in order. The Reflector (the
``Reflector`` role) reads that trace, with the outcome and any feedback; its analysis
becomes a ``reflection`` memory; the SkillManager curates it into the playbook, and the
applied operations become evidence for the strategies (``formulas`` has every rule).
A task that raises is recorded, returned (``success: False``, ``error``) and reflected
on too. A failure of the learning itself (a model or database error) never replaces the
task's result: it is returned as ``learning_error`` and the trajectory is queued for
re-learning.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from ace.errors import UsageError
from ace.learning_loop import _repo, _repo_memories, _strategies
from ace.learning_loop._helpers import (
    _await_here,
    _client,
    _describe,
    _from_context,
    _json_text,
    _loop_running,
    _ms_since,
    _open_store,
)
from ace.learning_loop._recording import (
    _ACTIVE,
    MAX_LOG_RECORDS,
    _capturing_logs,
    _Recorder,
    _Run,
    current_trajectory_id,
)
from ace.learning_loop._reflection import SOURCE_SYSTEM
from ace.learning_loop.memory import LoopMemory, TrajectoryHandle
from ace.learning_loop.payloads import ContentStore, content_store, default_root, pack
from ace.learning_loop.records import Scope, check_kind, check_limit, check_score, check_text
from ace.prompting import render_prompt
from ace.service.requests import check_id

if TYPE_CHECKING:
    from ace.roles import Reflector, SkillManager

_log = logging.getLogger("ace.learning_loop")

LEARNING_RETRY_PRIORITY = 0.5
"""Re-learning priority of a trajectory whose reflection or curation failed."""
PREVIEW_CHARS = 200
"""Length of ``content_preview`` in consolidation results."""


class _Merged(BaseModel):
    reasoning: str = ""
    content: str


# ---------------------------------------------------------------- the loop
class LearningLoop:
    """Runs tasks with learning, for one user (and optionally one agent) of a tenant.

    ``session``: an ``ace.service.Store``, a SQLAlchemy ``Session``/``Connection``/
    ``Engine`` on the service database (the loop opens its own ``Store`` on the same URL
    and commits its own work, apart from the session's transaction), a database URL, or
    None (``ACE_DATABASE_URL``, else ``sqlite:///ace.db``); the schema is migrated on open
    (``ace db upgrade`` does it ahead of time). ``backend``: where payloads larger than
    ``payloads.INLINE_LIMIT_BYTES`` go (anything with ``put``/``get``, a folder path, or
    None: ``ace-payloads/`` next to an SQLite database, else in the working folder).
    ``llm_provider``: a litellm model string, an ``LLMClient``, a scripted model, or None
    (the reflector model of ``ace.toml`` / the environment). ``context``: an object or
    mapping with ``user_id``/``agent_id``/``tenant_id`` (e.g. an operation context) that
    fills the ids left None and must agree with the others. See ``records`` for what the
    loop can see.
    """

    def __init__(
        self,
        session: Any,
        backend: Any,
        llm_provider: Any,
        user_id: str | None,
        agent_id: str | None = None,
        tenant_id: str | None = None,
        context: Any = None,
        *,
        relearn_lease_s: float = _repo.DEFAULT_RELEARN_LEASE_S,
    ) -> None:
        user_id, agent_id, tenant_id = _from_context(context, user_id, agent_id, tenant_id)
        self.scope = Scope.of(tenant_id, user_id, agent_id)
        if isinstance(relearn_lease_s, bool) or not isinstance(relearn_lease_s, int | float):
            raise UsageError(f"relearn_lease_s must be a number, got {relearn_lease_s!r}")
        if relearn_lease_s <= 0:
            raise UsageError(f"relearn_lease_s must be > 0, got {relearn_lease_s}")
        self.relearn_lease_s = float(relearn_lease_s)
        self.context = context
        self.store, self._owns_store = _open_store(session)
        try:
            self.backend: ContentStore = content_store(backend, default_root(self.store))
            self.client = _client(llm_provider)
        except BaseException:
            if self._owns_store:
                self.store.close()
            raise
        self._roles: tuple[Reflector, SkillManager] | None = None
        self._roles_lock = threading.Lock()
        self.memory = LoopMemory(self)
        """Trajectories, steps, reflections, curation and memories (the seed's ``nx.memory``)."""

    # -------------------------------------------------------------- basics
    @property
    def tenant_id(self) -> str:
        """The tenant this loop works in."""
        return self.scope.tenant

    @property
    def user_id(self) -> str:
        """The user whose trajectories and memories this loop sees."""
        return self.scope.user_id

    @property
    def agent_id(self) -> str | None:
        """The agent this loop is limited to, if any."""
        return self.scope.agent_id

    def close(self) -> None:
        """Close the store when the loop opened it (a ``Store`` passed in stays open)."""
        if self._owns_store:
            self.store.close()

    def __enter__(self) -> LearningLoop:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"LearningLoop(tenant={self.tenant_id!r}, user={self.user_id!r}, "
            f"agent={self.agent_id!r}, store={self.store!r})"
        )

    def _role_pair(self) -> tuple[Reflector, SkillManager]:
        with self._roles_lock:
            if self._roles is None:
                from ace.roles import Reflector, SkillManager

                self._roles = (Reflector(self.client), SkillManager(self.client))
            return self._roles

    # -------------------------------------------------------------- executing
    def _check_execute(
        self,
        task_description: object,
        task_fn: object,
        task_type: object,
        playbook_id: object,
    ) -> None:
        check_text("task_description", task_description)
        if not callable(task_fn):
            raise UsageError(f"task_fn must be callable, got {type(task_fn).__name__}")
        if task_type is not None:
            check_id("task_type", task_type)
        if playbook_id is not None:
            check_id("playbook_id", playbook_id)

    def execute_with_learning(
        self,
        task_description: str,
        task_fn: Callable[..., Any],
        task_type: str | None = None,
        playbook_id: str | None = None,
        enable_reflection: bool = True,
        enable_curation: bool = True,
        **task_kwargs: Any,
    ) -> dict[str, Any]:
        """Run ``task_fn(**task_kwargs)`` as a recorded trajectory, then reflect on it and
        curate ``playbook_id`` with the reflection.

        Returns ``{"result", "trajectory_id", "success", "error", "reflection_id",
        "duration_ms", "learning_error"}``; ``duration_ms`` is the task's own time. An
        async ``task_fn`` runs with ``asyncio.run`` (from inside a running event loop use
        `execute_with_learning_async`). Curation needs a reflection and a playbook.
        """
        self._check_execute(task_description, task_fn, task_type, playbook_id)
        if inspect.iscoroutinefunction(task_fn) and _loop_running():
            raise UsageError(
                "task_fn is a coroutine function and an event loop is running here: "
                "use `await loop.execute_with_learning_async(...)`"
            )
        trajectory_id = self.memory._start(
            task_description, task_type, playbook_id, task_kwargs, origin="loop"
        )
        recorder = _Recorder(trajectory_id)
        token = _ACTIVE.set(recorder)
        started = time.perf_counter()
        run = _Run(trajectory_id)
        try:
            with _capturing_logs():
                value = task_fn(**task_kwargs)
                if inspect.isawaitable(value):
                    value = _await_here(value)
                run.value = value
        except Exception as exc:
            run.error = exc
        except BaseException as exc:  # interrupted: record it, then let it go on
            run.error, run.duration_ms = exc, _ms_since(started)
            self._complete_run(recorder, run)
            raise
        finally:
            _ACTIVE.reset(token)
        run.duration_ms = _ms_since(started)
        self._complete_run(recorder, run)
        return self._conclude(run, playbook_id, enable_reflection, enable_curation)

    async def execute_with_learning_async(
        self,
        task_description: str,
        task_fn: Callable[..., Any],
        task_type: str | None = None,
        playbook_id: str | None = None,
        enable_reflection: bool = True,
        enable_curation: bool = True,
        **task_kwargs: Any,
    ) -> dict[str, Any]:
        """`execute_with_learning` for event loops: an async ``task_fn`` is awaited, a
        sync one runs in a worker thread, and every database and model call runs off the
        event loop (``asyncio.to_thread``). Same arguments, same result."""
        self._check_execute(task_description, task_fn, task_type, playbook_id)
        trajectory_id = await asyncio.to_thread(
            self.memory._start, task_description, task_type, playbook_id, task_kwargs, "loop"
        )
        recorder = _Recorder(trajectory_id)
        token = _ACTIVE.set(recorder)
        started = time.perf_counter()
        run = _Run(trajectory_id)
        try:
            with _capturing_logs():
                if inspect.iscoroutinefunction(task_fn):
                    value = await task_fn(**task_kwargs)
                else:
                    value = await asyncio.to_thread(task_fn, **task_kwargs)
                    if inspect.isawaitable(value):
                        value = await value
                run.value = value
        except Exception as exc:
            run.error = exc
        except BaseException as exc:  # cancelled or interrupted: record, then re-raise
            run.error, run.duration_ms = exc, _ms_since(started)
            self._complete_run(recorder, run)
            raise
        finally:
            _ACTIVE.reset(token)
        run.duration_ms = _ms_since(started)
        await asyncio.to_thread(self._complete_run, recorder, run)
        return await asyncio.to_thread(
            self._conclude, run, playbook_id, enable_reflection, enable_curation
        )

    def _complete_run(self, recorder: _Recorder, run: _Run) -> None:
        error = tb = None
        result = None
        if run.error is None:
            status, score = "success", 1.0
            result = pack(run.value, self.backend)
        else:
            status, score = "failure", 0.0
            error = _describe(run.error)
            tb = pack("".join(traceback.format_exception(run.error)), self.backend)
        _repo.complete_trajectory(
            self.store,
            self.scope,
            run.trajectory_id,
            status=status,
            success_score=score,
            metrics={"duration_ms": run.duration_ms},
            result=result,
            error=error,
            traceback=tb,
            duration_ms=run.duration_ms,
            steps=self.memory._packed(recorder.take()),
            cited_skill_ids=recorder.cited,
        )

    def _conclude(
        self, run: _Run, playbook_id: str | None, reflect: bool, curate: bool
    ) -> dict[str, Any]:
        reflection_id = learning_error = None
        if reflect:
            try:
                reflection = self.memory.reflect(run.trajectory_id)
                reflection_id = reflection["memory_id"]
                if curate and playbook_id is not None:
                    self.memory.curate_playbook([reflection_id], playbook_id)
            except Exception as exc:  # the task's result stands; learning is retried later
                learning_error = _describe(exc)
                _log.warning("learning from trajectory %s failed: %s", run.trajectory_id, exc)
                try:
                    with self.store._write() as connection:
                        _repo.flag_for_relearning(
                            connection, self.scope, run.trajectory_id, LEARNING_RETRY_PRIORITY
                        )
                except Exception as flag_exc:
                    _log.warning(
                        "could not queue %s for re-learning: %s", run.trajectory_id, flag_exc
                    )
        return {
            "result": run.value,
            "trajectory_id": run.trajectory_id,
            "success": run.error is None,
            "error": None if run.error is None else _describe(run.error),
            "reflection_id": reflection_id,
            "duration_ms": run.duration_ms,
            "learning_error": learning_error,
        }

    # -------------------------------------------------------------- feedback, relearning
    def add_feedback(
        self,
        trajectory_id: str,
        score: float,
        message: str | None = None,
        source: str | None = None,
    ) -> dict[str, Any]:
        """Record feedback on a trajectory (``score`` in [0, 1], 1 = fully right); queue it
        for re-learning when the priority (``formulas.relearn_priority``) reaches
        ``formulas.MIN_RELEARN_PRIORITY``. Returns ``{"feedback_id", "trajectory_id",
        "priority", "flagged", "outcome_before", "outcome"}``."""
        return self.memory.add_feedback(trajectory_id, score, message, source)

    def process_relearning_queue(self, limit: int = 10) -> list[dict[str, Any]]:
        """Re-learn up to ``limit`` queued trajectories of this loop's scope, highest
        priority first: reflect again (with the feedback) and curate the trajectory's
        playbook. Each claim is atomic, so loops in several processes never re-learn the
        same trajectory twice; the curation and the end of the claim are one transaction.
        Returns ``[{"trajectory_id", "success", "reflection_id", "error", "priority"}]``."""
        check_limit("limit", limit)
        results: list[dict[str, Any]] = []
        seen: list[str] = []
        while len(results) < limit:
            claim = _repo.claim_relearn(
                self.store, self.scope, lease_s=self.relearn_lease_s, exclude=seen
            )
            if claim is None:
                break
            seen.append(claim.trajectory_id)
            results.append(self._relearn(claim))
        return results

    def _relearn(self, claim: _repo.RelearnClaim) -> dict[str, Any]:
        reflection_id = None
        try:
            found = _repo.get_trajectory(self.store, self.scope, claim.trajectory_id)
            reflection = self.memory._reflect(found, relearn=True)
            reflection_id = reflection["memory_id"]

            def finish(connection: Any) -> bool:
                return _repo.finish_relearn(connection, self.scope, claim)

            if found["playbook_id"]:
                memories = _repo_memories.get_memories(self.store, self.scope, [reflection_id])
                self.memory._curate(memories, found["playbook_id"], finish=finish)
            else:
                with self.store._write() as connection:
                    if not finish(connection):
                        raise _repo_memories.ClaimLostError(
                            "the re-learning claim is no longer current"
                        )
        except Exception as exc:
            cause = _describe(exc)
            if not isinstance(exc, _repo_memories.ClaimLostError):
                _repo.fail_relearn(self.store, self.scope, claim, cause)
            _log.warning("re-learning trajectory %s failed: %s", claim.trajectory_id, cause)
            return {
                "trajectory_id": claim.trajectory_id,
                "success": False,
                "reflection_id": reflection_id,
                "error": cause,
                "priority": claim.priority,
            }
        return {
            "trajectory_id": claim.trajectory_id,
            "success": True,
            "reflection_id": reflection_id,
            "error": None,
            "priority": claim.priority,
        }

    # -------------------------------------------------------------- strategies
    def get_playbook_strategies(
        self,
        playbook_id: str,
        task_description: str,
        strategy_type: str | None = None,
        *,
        limit: int = 10,
    ) -> list[dict[str, Any]]:
        """The playbook's strategies relevant to ``task_description`` (the store's
        text ranking, ``Store.top_skills``), best first, optionally of one category.

        Each is ``{"pattern", "context", "confidence", "evidence_count", "category",
        "skill_id", "relevance"}``: ``pattern`` the strategy, ``context`` its section,
        ``confidence``/``evidence_count``/``category`` as ``formulas`` defines them. Called
        inside a running trajectory, the strategies are recorded as looked up (and shown to
        the Reflector as cited). Each call counts a reuse of the memories that created
        the strategies returned (their importance follows).
        """
        check_id("playbook_id", playbook_id)
        check_text("task_description", task_description, empty=True)
        _strategies.check_type(strategy_type)
        check_limit("limit", limit, maximum=1000)
        chosen = _strategies.find(
            self.store, self.tenant_id, playbook_id, task_description, strategy_type, limit
        )
        self._note_use(playbook_id, task_description, chosen)
        return [item for item, _ in chosen]

    def _note_use(
        self,
        playbook_id: str,
        query: str,
        chosen: Sequence[tuple[dict[str, Any], list[str]]],
    ) -> None:
        if not chosen:
            return
        recorder = _ACTIVE.get()
        if recorder is not None:
            recorder.cite([item["skill_id"] for item, _ in chosen])
            recorder.add(
                "strategies",
                _json_text(
                    {
                        "playbook_id": playbook_id,
                        "query": query,
                        "strategies": [
                            {k: item[k] for k in ("skill_id", "pattern", "confidence", "category")}
                            for item, _ in chosen
                        ],
                    }
                ),
            )
        _repo_memories.bump_reuse(self.store, self.tenant_id, [m for _, ids in chosen for m in ids])

    # -------------------------------------------------------------- consolidation
    def consolidate_memories(
        self,
        memory_type: str | None = None,
        importance_max: float = 0.5,
        batch_size: int = 10,
        *,
        max_batches: int = 10,
    ) -> list[dict[str, Any]]:
        """Merge this scope's active memories of importance <= ``importance_max`` (of one
        type, if given; consolidated memories only when ``memory_type="consolidated"``),
        least important first, ``batch_size`` per model call (same type together; a
        batch needs two), at most ``max_batches`` calls. Each merge makes a
        ``consolidated`` memory whose ``sources`` name the merged ones, which stay stored
        (state ``consolidated``); `restore_memory` undoes it. A batch another process
        merged first is skipped. Returns ``[{"consolidated_memory_id",
        "source_memory_ids", "memories_merged", "content_preview"}]``."""
        if memory_type is not None:
            check_kind("memory_type", memory_type)
        importance_max = float(check_score("importance_max", importance_max) or 0.0)
        check_limit("batch_size", batch_size, maximum=100)
        if batch_size < 2:
            raise UsageError("batch_size must be >= 2 (a merge needs two memories)")
        check_limit("max_batches", max_batches, maximum=1000)
        candidates = _repo_memories.consolidation_candidates(
            self.store,
            self.scope,
            memory_type=memory_type,
            importance_max=importance_max,
            limit=batch_size * max_batches,
        )
        by_type: dict[str, list[dict[str, Any]]] = {}
        for memory in candidates:
            by_type.setdefault(memory["memory_type"], []).append(memory)
        batches = [
            group[i : i + batch_size]
            for group in by_type.values()
            for i in range(0, len(group), batch_size)
        ]
        results = []
        for batch in [b for b in batches if len(b) >= 2][:max_batches]:
            prompt = render_prompt(
                "learning_loop/consolidate.j2",
                memories=[
                    {
                        "memory_type": m["memory_type"],
                        "importance": round(m["importance"], 3),
                        "content": m["content"],
                    }
                    for m in batch
                ],
            )
            merged = self.client.structured(prompt, _Merged).value
            content = merged.content.strip()
            if not content:
                raise UsageError("the model returned an empty consolidation")
            consolidated_id = _repo_memories.apply_consolidation(
                self.store,
                self.scope,
                batch,
                content=content,
                data={
                    "merged_types": sorted({m["memory_type"] for m in batch}),
                    "source_trajectory_ids": [
                        m["trajectory_id"] for m in batch if m["trajectory_id"]
                    ],
                    "reasoning": merged.reasoning,
                },
            )
            if consolidated_id is None:
                continue
            results.append(
                {
                    "consolidated_memory_id": consolidated_id,
                    "source_memory_ids": [m["memory_id"] for m in batch],
                    "memories_merged": len(batch),
                    "content_preview": content[:PREVIEW_CHARS],
                }
            )
        return results

    def restore_memory(self, consolidated_memory_id: str) -> dict[str, Any]:
        """Undo a consolidation of this scope: its source memories are active again and it
        is marked ``restored``. Returns ``{"consolidated_memory_id",
        "restored_memory_ids", "memories_restored"}``."""
        check_id("consolidated_memory_id", consolidated_memory_id)
        restored = _repo_memories.restore_consolidation(
            self.store, self.scope, consolidated_memory_id
        )
        return {
            "consolidated_memory_id": consolidated_memory_id,
            "restored_memory_ids": restored,
            "memories_restored": len(restored),
        }


__all__ = [
    "LEARNING_RETRY_PRIORITY",
    "MAX_LOG_RECORDS",
    "SOURCE_SYSTEM",
    "LearningLoop",
    "LoopMemory",
    "TrajectoryHandle",
    "current_trajectory_id",
]
