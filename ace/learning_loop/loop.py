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
import json
import logging
import os
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from ace.errors import UsageError
from ace.learning_loop import _repo, _strategies, formulas
from ace.learning_loop.payloads import (
    ContentStore,
    content_store,
    default_root,
    pack,
    pack_text,
    read_back,
)
from ace.learning_loop.records import (
    REFLECTION_TYPE,
    NotFoundError,
    Scope,
    check_kind,
    check_limit,
    check_score,
    check_status,
    check_text,
)
from ace.prompting import render_prompt
from ace.service.models import utcnow
from ace.service.requests import check_id

if TYPE_CHECKING:
    from ace.llm.client import LLMClient
    from ace.outputs import ReflectorOutput
    from ace.roles import Reflector, SkillManager
    from ace.service.store import Store
    from ace.traces.schema import Trace

_log = logging.getLogger("ace.learning_loop")

MAX_LOG_RECORDS = 500
"""Log records kept per trajectory; the rest are counted (a ``log_dropped`` step)."""
LEARNING_RETRY_PRIORITY = 0.5
"""Re-learning priority of a trajectory whose reflection or curation failed."""
PREVIEW_CHARS = 200
"""Length of ``content_preview`` in consolidation results."""
SOURCE_SYSTEM = "ace-learning-loop"
"""``source_system`` of the provenance records the loop's curation writes."""


# ---------------------------------------------------------------- the running trajectory
@dataclass
class _Recorder:
    """What a running task produced so far that is not written yet, in order."""

    trajectory_id: str
    events: list[_repo.StepIn] = field(default_factory=list)
    cited: list[str] = field(default_factory=list)
    logs: int = 0
    dropped: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, text: str, data: dict[str, Any] | None = None) -> None:
        with self.lock:
            self.events.append(_repo.StepIn(kind, text, None, dict(data or {}), utcnow()))

    def log(self, text: str, data: dict[str, Any]) -> None:
        with self.lock:
            if self.logs >= MAX_LOG_RECORDS:
                self.dropped += 1
                return
            self.logs += 1
            self.events.append(_repo.StepIn("log", text, None, data, utcnow()))

    def cite(self, skill_ids: Sequence[str]) -> None:
        with self.lock:
            self.cited.extend(i for i in skill_ids if i not in self.cited)

    def take(self) -> list[_repo.StepIn]:
        with self.lock:
            taken, self.events = self.events, []
            if self.dropped:
                taken.append(
                    _repo.StepIn("log_dropped", json.dumps({"dropped_log_records": self.dropped}))
                )
                self.dropped = 0
            return taken


_ACTIVE: ContextVar[_Recorder | None] = ContextVar("ace_learning_loop_trajectory", default=None)


def current_trajectory_id() -> str | None:
    """The id of the trajectory the calling code runs in (inside ``execute_with_learning``
    or a ``memory.trajectory()`` block), else None."""
    recorder = _ACTIVE.get()
    return None if recorder is None else recorder.trajectory_id


class _LogCapture(logging.Handler):
    """A root-logger handler that gives each record to the trajectory it was emitted in."""

    def emit(self, record: logging.LogRecord) -> None:
        recorder = _ACTIVE.get()
        if recorder is None:
            return
        try:
            text = record.getMessage()
        except Exception:
            text = str(record.msg)
        if record.exc_info and record.exc_info[1] is not None:
            text = f"{text}\n{''.join(traceback.format_exception(record.exc_info[1]))}"
        recorder.log(text, {"level": record.levelname, "logger": record.name})


_capture = _LogCapture()
_capture_users = 0
_capture_lock = threading.Lock()


@contextmanager
def _capturing_logs() -> Iterator[None]:
    global _capture_users
    with _capture_lock:
        if _capture_users == 0:
            logging.getLogger().addHandler(_capture)
        _capture_users += 1
    try:
        yield
    finally:
        with _capture_lock:
            _capture_users -= 1
            if _capture_users == 0:
                logging.getLogger().removeHandler(_capture)


@dataclass
class _Run:
    trajectory_id: str
    value: Any = None
    error: BaseException | None = None
    duration_ms: int = 0


class _Merged(BaseModel):
    reasoning: str = ""
    content: str


# ---------------------------------------------------------------- opening
def _open_store(session: Any) -> tuple[Store, bool]:
    from ace.service.store import Store

    if isinstance(session, Store):
        return session, False
    if session is None or isinstance(session, str | os.PathLike):
        return Store(session), True
    bind = session.get_bind() if callable(getattr(session, "get_bind", None)) else session
    engine = getattr(bind, "engine", bind)
    url = getattr(engine, "url", None)
    if url is None or not callable(getattr(url, "render_as_string", None)):
        raise UsageError(
            "session must be an ace.service.Store, a SQLAlchemy Session, Connection or Engine, "
            f"or a database URL; got {type(session).__name__}"
        )
    return Store(url.render_as_string(hide_password=False)), True


def _client(llm_provider: Any) -> LLMClient:
    from ace.llm.settings import client_from_settings

    if llm_provider is None:
        from ace.config import resolve_config

        config = resolve_config().config.for_role("reflector")
        return client_from_settings(config.model, config.model_settings())
    return client_from_settings(llm_provider)


def _from_context(
    context: Any, user_id: Any, agent_id: Any, tenant_id: Any
) -> tuple[Any, Any, Any]:
    if context is None:
        return user_id, agent_id, tenant_id

    def read(*names: str) -> Any:
        for name in names:
            value = (
                context.get(name) if isinstance(context, Mapping) else getattr(context, name, None)
            )
            if value is not None:
                return value
        return None

    found = []
    for given, names in (
        (user_id, ("user_id", "user")),
        (agent_id, ("agent_id",)),
        (tenant_id, ("tenant_id", "tenant")),
    ):
        value = read(*names)
        if given is not None and value is not None and value != given:
            raise UsageError(f"context says {names[0]}={value!r}, the argument {given!r}")
        found.append(given if given is not None else value)
    return found[0], found[1], found[2]


def _memory_text(reflection: ReflectorOutput) -> str:
    insight = reflection.key_insight.strip()
    parts = [insight] if insight else []
    for item in reflection.extracted_learnings:
        text = item.learning.strip()
        if text and text != insight:
            parts.append(f"- {text}")
    if not parts:
        fallback = reflection.error_identification.strip() or reflection.reasoning.strip()
        parts.append(fallback[:2000] or "-")
    return "\n".join(parts)


def _trace(found: dict[str, Any], result: Any, traceback_text: Any) -> Trace:
    """A trajectory as the trace the Reflector reads: the task and its arguments, one
    step per recorded step (its kind as the role), then what the task returned or raised."""
    from ace.traces.schema import Trace, TraceStep

    steps = [
        TraceStep(
            index=0,
            role="task",
            content=render_prompt(
                "learning_loop/trajectory_start.j2",
                task_description=found["task_description"],
                task_type=found["task_type"],
                arguments=_json_text(found["arguments"]),
            ).strip(),
            timestamp=found["started_at"],
        )
    ]
    for step in found["steps"]:
        steps.append(
            TraceStep(
                index=len(steps),
                role=step["kind"],
                content=step["text"],
                timestamp=step["created_at"],
            )
        )
    if found["status"] != "running":
        steps.append(
            TraceStep(
                index=len(steps),
                role="outcome",
                content=render_prompt(
                    "learning_loop/trajectory_end.j2",
                    result=_json_text(result),
                    error=found["error"],
                    traceback=traceback_text if isinstance(traceback_text, str) else None,
                ).strip(),
                timestamp=found["completed_at"],
            )
        )
    return Trace(
        id=f"trajectory-{found['trajectory_id']}",
        format="learning_loop",
        question=found["task_description"],
        steps=steps,
    )


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=repr)


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
                memories = _repo.get_memories(self.store, self.scope, [reflection_id])
                self.memory._curate(memories, found["playbook_id"], finish=finish)
            else:
                with self.store._write() as connection:
                    if not finish(connection):
                        raise _repo.ClaimLostError("the re-learning claim is no longer current")
        except Exception as exc:
            cause = _describe(exc)
            if not isinstance(exc, _repo.ClaimLostError):
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
        full-text ranking, ``Store.top_skills``), best first, optionally of one category.

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
        _repo.bump_reuse(self.store, self.tenant_id, [m for _, ids in chosen for m in ids])

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
        candidates = _repo.consolidation_candidates(
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
            consolidated_id = _repo.apply_consolidation(
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
        restored = _repo.restore_consolidation(self.store, self.scope, consolidated_memory_id)
        return {
            "consolidated_memory_id": consolidated_memory_id,
            "restored_memory_ids": restored,
            "memories_restored": len(restored),
        }


class TrajectoryHandle:
    """The trajectory of a ``memory.trajectory()`` block: log steps, or complete it
    yourself (else the block's end completes it: ``success`` with score 1.0, or
    ``failure`` with the exception)."""

    def __init__(self, memory: LoopMemory, trajectory_id: str) -> None:
        self._memory = memory
        self.trajectory_id = trajectory_id
        self.completed = False

    @property
    def id(self) -> str:
        """The trajectory id."""
        return self.trajectory_id

    def log_step(self, kind: str, text: str, *, data: Mapping[str, Any] | None = None) -> int:
        """Record a step; its position."""
        return self._memory.log_step(self.trajectory_id, kind, text, data=data)

    def complete(
        self,
        status: str = "success",
        success_score: float | None = None,
        metrics: Mapping[str, Any] | None = None,
        *,
        result: Any = None,
        error: str | None = None,
    ) -> dict[str, Any]:
        """Complete the trajectory now (see ``LoopMemory.complete_trajectory``)."""
        found = self._memory.complete_trajectory(
            self.trajectory_id, status, success_score, metrics, result=result, error=error
        )
        self.completed = True
        return found


class LoopMemory:
    """The memory API of a loop (``loop.memory``): trajectories and their steps,
    reflection, curation, feedback and memories, all within the loop's scope."""

    def __init__(self, loop: LearningLoop) -> None:
        self._loop = loop

    @property
    def _store(self) -> Store:
        return self._loop.store

    @property
    def _scope(self) -> Scope:
        return self._loop.scope

    def _packed(self, steps: Sequence[_repo.StepIn]) -> list[_repo.StepIn]:
        packed = []
        for step in steps:
            text, ref = pack_text(step.text, self._loop.backend)
            packed.append(_repo.StepIn(step.kind, text, ref, step.data, step.created_at))
        return packed

    def _start(
        self,
        task_description: str,
        task_type: str | None,
        playbook_id: str | None,
        arguments: Mapping[str, Any] | None,
        origin: str,
    ) -> str:
        return _repo.insert_trajectory(
            self._store,
            self._scope,
            task_description=task_description,
            task_type=task_type,
            playbook_id=playbook_id,
            origin=origin,
            arguments=pack(dict(arguments or {}), self._loop.backend),
        )

    # -------------------------------------------------------------- trajectories
    def start_trajectory(
        self,
        task_description: str,
        task_type: str | None = None,
        *,
        playbook_id: str | None = None,
        arguments: Mapping[str, Any] | None = None,
    ) -> str:
        """Start a ``running`` trajectory; its id. ``playbook_id`` is the playbook a later
        re-learning curates."""
        check_text("task_description", task_description)
        if task_type is not None:
            check_id("task_type", task_type)
        if playbook_id is not None:
            check_id("playbook_id", playbook_id)
        return self._start(task_description, task_type, playbook_id, arguments, "manual")

    def log_step(
        self,
        trajectory_id: str,
        kind: str,
        text: str,
        *,
        data: Mapping[str, Any] | None = None,
    ) -> int:
        """Append a step (``kind`` such as ``decision``, ``action``, ``observation``) to
        a trajectory of the loop's scope; its position (0 first). Log records buffered
        for the same running trajectory are written first, so the order is kept."""
        check_kind("kind", kind)
        check_text("text", text, empty=True)
        check_id("trajectory_id", trajectory_id)
        step = _repo.StepIn(kind, text, None, dict(_safe_data(data)), utcnow())
        recorder = _ACTIVE.get()
        pending = (
            recorder.take()
            if recorder is not None and recorder.trajectory_id == trajectory_id
            else []
        )
        positions = _repo.append_steps(
            self._store, self._scope, trajectory_id, self._packed([*pending, step])
        )
        return positions[-1]

    def complete_trajectory(
        self,
        trajectory_id: str,
        status: str,
        success_score: float | None = None,
        metrics: Mapping[str, Any] | None = None,
        *,
        result: Any = None,
        error: str | None = None,
    ) -> dict[str, Any]:
        """Complete a running trajectory: ``status`` ``success``, ``failure`` or
        ``partial``, ``success_score`` in [0, 1] (default: what the status says),
        ``metrics`` any JSON-ready mapping. Returns the trajectory (without steps)."""
        check_id("trajectory_id", trajectory_id)
        status = check_status(status)
        score = check_score("success_score", success_score, optional=True)
        if error is not None:
            check_text("error", error, empty=True)
        recorder = _ACTIVE.get()
        pending = (
            recorder.take()
            if recorder is not None and recorder.trajectory_id == trajectory_id
            else []
        )
        cited = (
            list(recorder.cited)
            if recorder is not None and recorder.trajectory_id == trajectory_id
            else []
        )
        _repo.complete_trajectory(
            self._store,
            self._scope,
            trajectory_id,
            status=status,
            success_score=score if score is not None else formulas.base_score(status, None),
            metrics=dict(_safe_data(metrics)),
            result=None if result is None else pack(result, self._loop.backend),
            error=error,
            traceback=None,
            duration_ms=_duration(metrics),
            steps=self._packed(pending),
            cited_skill_ids=cited,
        )
        return self.get_trajectory(trajectory_id, steps=False)

    @contextmanager
    def trajectory(
        self,
        task_description: str,
        task_type: str | None = None,
        *,
        playbook_id: str | None = None,
        arguments: Mapping[str, Any] | None = None,
    ) -> Iterator[TrajectoryHandle]:
        """A block that is one trajectory: started on entry, its log records and strategy
        look-ups recorded, completed on exit (``success``, or ``failure`` with the
        exception and traceback, which is re-raised) unless completed inside."""
        trajectory_id = self.start_trajectory(
            task_description, task_type, playbook_id=playbook_id, arguments=arguments
        )
        handle = TrajectoryHandle(self, trajectory_id)
        recorder = _Recorder(trajectory_id)
        token = _ACTIVE.set(recorder)
        started = time.perf_counter()
        run = _Run(trajectory_id)
        try:
            with _capturing_logs():
                yield handle
        except BaseException as exc:
            run.error = exc
            raise
        finally:
            _ACTIVE.reset(token)
            run.duration_ms = _ms_since(started)
            if handle.completed:
                leftover = recorder.take()
                if leftover:
                    _repo.append_steps(
                        self._store, self._scope, trajectory_id, self._packed(leftover)
                    )
            else:
                self._loop._complete_run(recorder, run)

    def get_trajectory(self, trajectory_id: str, *, steps: bool = True) -> dict[str, Any]:
        """A trajectory of the loop's scope with its payloads read back (arguments, result,
        traceback, long step texts): ``{"trajectory_id", "status", "success_score",
        "outcome", "arguments", "result", "error", "traceback", "steps", "feedback",
        "relearn", ...}``. `NotFoundError` for an id outside the scope."""
        check_id("trajectory_id", trajectory_id)
        found = _repo.get_trajectory(self._store, self._scope, trajectory_id, steps=steps)
        return self._unpacked(found)

    def _unpacked(self, found: dict[str, Any]) -> dict[str, Any]:
        return read_back(found, self._loop.backend)

    def list_trajectories(
        self, *, status: str | None = None, limit: int = 50
    ) -> list[dict[str, Any]]:
        """The scope's trajectories, newest first (without steps; payloads as stored)."""
        check_limit("limit", limit)
        return _repo.list_trajectories(self._store, self._scope, status=status, limit=limit)

    def add_feedback(
        self,
        trajectory_id: str,
        score: float,
        message: str | None = None,
        source: str | None = None,
    ) -> dict[str, Any]:
        """See ``LearningLoop.add_feedback``."""
        check_id("trajectory_id", trajectory_id)
        value = check_score("score", score)
        assert value is not None
        if message is not None:
            check_text("message", message, empty=True)
        if source is not None:
            check_id("source", source)
        return _repo.add_feedback(
            self._store, self._scope, trajectory_id, score=value, message=message, source=source
        )

    # -------------------------------------------------------------- reflection, curation
    def reflect(self, trajectory_id: str) -> dict[str, Any]:
        """Reflect on a trajectory of the scope (the ``Reflector`` role, over its trace,
        outcome and feedback) and keep the analysis as a ``reflection`` memory. Returns
        ``{"memory_id", "trajectory_id", "memory_type", "content", "key_insight",
        "learnings", "skill_tags", "importance"}``."""
        check_id("trajectory_id", trajectory_id)
        found = _repo.get_trajectory(self._store, self._scope, trajectory_id)
        return self._reflect(found, relearn=False)

    def _reflect(self, found: dict[str, Any], *, relearn: bool) -> dict[str, Any]:
        reflector, _ = self._loop._role_pair()
        inputs = self._reflection_inputs(found)
        reflection = reflector.reflect(**inputs)
        memory = _repo.add_memory(
            self._store,
            self._scope,
            memory_type=REFLECTION_TYPE,
            content=_memory_text(reflection),
            data={
                "reflection": reflection.model_dump(mode="json", exclude={"raw"}),
                "trajectory_status": found["status"],
                "relearn": relearn,
                "feedback_count": len(found["feedback"]),
            },
            trajectory_id=found["trajectory_id"],
            importance=None,
        )
        return {
            "memory_id": memory["memory_id"],
            "trajectory_id": found["trajectory_id"],
            "memory_type": REFLECTION_TYPE,
            "content": memory["content"],
            "key_insight": reflection.key_insight,
            "learnings": [item.learning for item in reflection.extracted_learnings],
            "skill_tags": [tag.model_dump(mode="json") for tag in reflection.skill_tags],
            "importance": memory["importance"],
        }

    def _reflection_inputs(self, found: dict[str, Any]) -> dict[str, Any]:
        from ace.outputs import AgentOutput
        from ace.skillbook import Skillbook

        playbook_id = found["playbook_id"]
        book = (
            self._store.load_skillbook(self._scope.tenant, playbook_id)[0]
            if playbook_id
            else Skillbook()
        )
        known = {s.id for s in book.skills(include_inactive=True)}
        reasoning = render_prompt("learning_loop/reasoning.j2").strip()
        request = (found.get("learn_job") or {}).get("request")
        evaluation = ground_truth = None
        if found["origin"] == "learn_job" and request:
            from ace.service.markers import embedded_skill_ids, strip_blocks

            question = strip_blocks(request["user_message"]) or request["user_message"]
            trace = request["trajectory"]
            cited = embedded_skill_ids(request["user_message"], trace, known=known)
            final_answer = reasoning
            evaluation, ground_truth = request.get("evaluation"), request.get("ground_truth")
        else:
            self._unpacked(found)
            question = found["task_description"]
            result = found["result"]
            traceback_text = found["traceback"]
            trace = _trace(found, result, traceback_text)
            cited = [i for i in found["cited_skill_ids"] if i in known]
            final_answer = found["error"] or _json_text(result)[:4000]
        feedback = render_prompt(
            "learning_loop/outcome.j2",
            status=found["status"],
            success_score=found["success_score"],
            error=found["error"],
            metrics=_json_text(found["metrics"]) if found["metrics"] else "",
            evaluation=evaluation,
            feedback=found["feedback"],
        ).strip()
        return {
            "question": question,
            "agent_output": AgentOutput(
                reasoning=reasoning, final_answer=final_answer, skill_ids=cited
            ),
            "skillbook": book,
            "ground_truth": ground_truth,
            "feedback": feedback,
            "trace": trace,
        }

    def curate_playbook(self, memory_ids: Sequence[str], playbook_name: str) -> dict[str, Any]:
        """Curate a playbook of the tenant with memories of the scope (the
        ``SkillManager`` role turns them into operations, applied as one new version with
        each memory's trajectory recorded as evidence). Returns ``{"playbook_id",
        "version", "applied", "skipped", "added_ids", "memory_ids"}``."""
        check_id("playbook_name", playbook_name)
        if isinstance(memory_ids, str) or not isinstance(memory_ids, Sequence) or not memory_ids:
            raise UsageError("memory_ids must be a non-empty list of memory ids")
        for memory_id in memory_ids:
            check_id("memory_id", memory_id)
        memories = _repo.get_memories(self._store, self._scope, list(memory_ids))
        return self._curate(memories, playbook_name)

    def _curate(
        self,
        memories: Sequence[dict[str, Any]],
        playbook_id: str,
        *,
        finish: Callable[[Any], bool] | None = None,
    ) -> dict[str, Any]:
        from ace.outputs import ExtractedLearning, ReflectorOutput

        _, manager = self._loop._role_pair()
        reflections = []
        attributions = []
        questions = []
        for memory in memories:
            stored = memory["data"].get("reflection")
            reflection = (
                ReflectorOutput.model_validate(stored)
                if isinstance(stored, dict)
                else ReflectorOutput(
                    key_insight=memory["content"],
                    extracted_learnings=[ExtractedLearning(learning=memory["content"])],
                )
            )
            reflections.append(reflection)
            if memory["trajectory_id"]:
                attributions.append(
                    _repo.Attribution(
                        memory["trajectory_id"],
                        memory["memory_id"],
                        {tag.id: tag.tag for tag in reflection.skill_tags},
                    )
                )
        trajectories = {}
        for attribution in attributions:
            try:
                trajectories[attribution.trajectory_id] = _repo.get_trajectory(
                    self._store, self._scope, attribution.trajectory_id, steps=False
                )
            except NotFoundError:
                continue
            questions.append(trajectories[attribution.trajectory_id]["task_description"])
        book, version = self._store.load_skillbook(self._scope.tenant, playbook_id)
        decision = manager.update_skills(
            reflections=reflections,
            skillbook=book,
            question_context="\n".join(dict.fromkeys(questions)),
            progress=f"learning loop: {len(memories)} memory(ies) of user {self._scope.user_id}",
        )
        first = attributions[0].trajectory_id if attributions else memories[0]["memory_id"]
        source = {
            "source_system": SOURCE_SYSTEM,
            "trace_id": first,
            "display_name": f"trajectory {first}" if attributions else f"memory {first}",
            "sample_question": (questions[0][:300] if questions else None),
            "trajectory_ids": [a.trajectory_id for a in attributions],
        }
        applied = _repo.apply_curation(
            self._store,
            self._scope.tenant,
            playbook_id,
            decision.update,
            base_version=version,
            source=source,
            attributions=attributions,
            finish=finish,
        )
        return {
            "playbook_id": playbook_id,
            "version": applied.version,
            "applied": applied.applied,
            "skipped": applied.skipped,
            "added_ids": applied.added_ids,
            "memory_ids": [m["memory_id"] for m in memories],
        }

    # -------------------------------------------------------------- memories
    def add_memory(
        self,
        content: str,
        memory_type: str = "experience",
        *,
        trajectory_id: str | None = None,
        importance: float | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Keep a memory of the scope (e.g. an agent's note), optionally drawn from one
        of its trajectories; importance defaults to ``formulas.importance``."""
        check_text("content", content)
        check_kind("memory_type", memory_type)
        value = check_score("importance", importance, optional=True)
        if trajectory_id is not None:
            check_id("trajectory_id", trajectory_id)
        return _repo.add_memory(
            self._store,
            self._scope,
            memory_type=memory_type,
            content=content,
            data=dict(_safe_data(data)),
            trajectory_id=trajectory_id,
            importance=value,
        )

    def get_memory(self, memory_id: str) -> dict[str, Any]:
        """A memory of the scope: ``{"memory_id", "memory_type", "state", "content",
        "data", "importance", "reuse_count", "trajectory_id", "sources",
        "consolidated_into", ...}``."""
        check_id("memory_id", memory_id)
        return _repo.get_memories(self._store, self._scope, [memory_id])[0]

    def list_memories(
        self, *, memory_type: str | None = None, state: str | None = "active", limit: int = 100
    ) -> list[dict[str, Any]]:
        """The scope's memories (``state=None``: every state), newest first."""
        check_limit("limit", limit)
        return _repo.list_memories(
            self._store, self._scope, memory_type=memory_type, state=state, limit=limit
        )

    def get_playbook(self, playbook_id: str) -> dict[str, Any]:
        """A playbook of the tenant with every active strategy rated and grouped:
        ``{"playbook_id", "version", "strategies": {"helpful": [...], "harmful": [...],
        "neutral": [...]}}`` (items as ``get_playbook_strategies`` gives them)."""
        check_id("playbook_id", playbook_id)
        return _strategies.grouped(self._store, self._scope.tenant, playbook_id)


# ---------------------------------------------------------------- helpers
def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _ms_since(started: float) -> int:
    return max(0, int((time.perf_counter() - started) * 1000))


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _await_here(awaitable: Any) -> Any:
    if _loop_running():
        close = getattr(awaitable, "close", None)
        if callable(close):
            close()
        raise UsageError(
            "task_fn returned an awaitable inside a running event loop: "
            "use `await loop.execute_with_learning_async(...)`"
        )

    async def wait() -> Any:
        return await awaitable

    return asyncio.run(wait())


def _safe_data(data: Mapping[str, Any] | None) -> dict[str, Any]:
    from ace.learning_loop.payloads import jsonable

    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise UsageError(f"expected a mapping, got {type(data).__name__}")
    value = jsonable(data)
    assert isinstance(value, dict)
    return value


def _duration(metrics: Mapping[str, Any] | None) -> int | None:
    value = (metrics or {}).get("duration_ms")
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


__all__ = [
    "LEARNING_RETRY_PRIORITY",
    "MAX_LOG_RECORDS",
    "SOURCE_SYSTEM",
    "LearningLoop",
    "LoopMemory",
    "TrajectoryHandle",
    "current_trajectory_id",
]
