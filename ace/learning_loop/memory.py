"""The memory API of a loop (``loop.memory``): `LoopMemory`, trajectories and their
steps, feedback, reflection, curation and memories within the loop's scope, and
`TrajectoryHandle`, the trajectory of a ``memory.trajectory()`` block. How reflection and
curation work is in ``_reflection``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ace.errors import UsageError
from ace.learning_loop import _reflection, _repo, _repo_memories, _strategies, formulas
from ace.learning_loop._helpers import _duration, _ms_since, _safe_data
from ace.learning_loop._recording import _ACTIVE, _capturing_logs, _Recorder, _Run
from ace.learning_loop.payloads import pack, pack_text, read_back
from ace.learning_loop.records import (
    Scope,
    check_kind,
    check_limit,
    check_score,
    check_status,
    check_text,
)
from ace.service.models import utcnow
from ace.service.requests import check_id

if TYPE_CHECKING:
    from ace.learning_loop.loop import LearningLoop
    from ace.service.store import Store


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
        return _reflection.reflect(self._loop, found, relearn=relearn)

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
        memories = _repo_memories.get_memories(self._store, self._scope, list(memory_ids))
        return self._curate(memories, playbook_name)

    def _curate(
        self,
        memories: Sequence[dict[str, Any]],
        playbook_id: str,
        *,
        finish: Callable[[Any], bool] | None = None,
    ) -> dict[str, Any]:
        return _reflection.curate(self._loop, memories, playbook_id, finish=finish)

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
        return _repo_memories.add_memory(
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
        return _repo_memories.get_memories(self._store, self._scope, [memory_id])[0]

    def list_memories(
        self, *, memory_type: str | None = None, state: str | None = "active", limit: int = 100
    ) -> list[dict[str, Any]]:
        """The scope's memories (``state=None``: every state), newest first."""
        check_limit("limit", limit)
        return _repo_memories.list_memories(
            self._store, self._scope, memory_type=memory_type, state=state, limit=limit
        )

    def get_playbook(self, playbook_id: str) -> dict[str, Any]:
        """A playbook of the tenant with every active strategy rated and grouped:
        ``{"playbook_id", "version", "strategies": {"helpful": [...], "harmful": [...],
        "neutral": [...]}}`` (items as ``get_playbook_strategies`` gives them)."""
        check_id("playbook_id", playbook_id)
        return _strategies.grouped(self._store, self._scope.tenant, playbook_id)


__all__ = ["LoopMemory", "TrajectoryHandle"]
