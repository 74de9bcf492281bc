"""The learning loop's SQL: every statement is scoped by tenant, then user/agent.

Functions take the ``Store`` (its engine and write/read transactions) and a `Scope`.
Trajectory and memory rows are only ever addressed together with the scope's filter, so
an id of another tenant, user or agent matches nothing (`NotFoundError`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, case, insert, or_, select, update

from ace.errors import UsageError
from ace.learning_loop import formulas
from ace.learning_loop.records import (
    CONSOLIDATED_TYPE,
    REFLECTION_TYPE,
    NotFoundError,
    Scope,
    iso,
)
from ace.service.models import (
    LearnJob,
    MemoryRow,
    StrategyEvidence,
    Trajectory,
    TrajectoryFeedback,
    TrajectoryStep,
    utcnow,
)

if TYPE_CHECKING:
    from sqlalchemy import ColumnElement, Connection

    from ace.service.requests import AppliedUpdate
    from ace.service.store import Store
    from ace.updates import UpdateBatch

MAX_RELEARN_ATTEMPTS = 3
"""A trajectory whose re-learning failed this many times is left ``failed``."""
DEFAULT_RELEARN_LEASE_S = 600.0
"""A re-learning claim older than this is taken to be abandoned (its process died)."""


def new_id() -> str:
    """A fresh row id."""
    return str(uuid.uuid4())


# ---------------------------------------------------------------- scope filters
def _trajectory_scope(scope: Scope) -> list[ColumnElement[bool]]:
    found = [Trajectory.tenant_id == scope.tenant, Trajectory.user_id == scope.user_id]
    if scope.agent_id is not None:
        found.append(Trajectory.agent_id == scope.agent_id)
    return found


def _memory_scope(scope: Scope) -> list[ColumnElement[bool]]:
    found = [MemoryRow.tenant_id == scope.tenant, MemoryRow.user_id == scope.user_id]
    if scope.agent_id is not None:
        found.append(MemoryRow.agent_id == scope.agent_id)
    return found


def _ensure_tenant(store: Store, connection: Connection, tenant: str) -> None:
    from ace.service.models import Tenant

    store._insert_ignore(connection, Tenant, {"id": tenant, "created_at": utcnow()}, ["id"])


# ---------------------------------------------------------------- trajectories
@dataclass(frozen=True)
class StepIn:
    """A step ready for its row (its text already packed)."""

    kind: str
    text: str
    payload_ref: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    created_at: datetime = field(default_factory=utcnow)


def insert_trajectory(
    store: Store,
    scope: Scope,
    *,
    task_description: str,
    task_type: str | None,
    playbook_id: str | None,
    origin: str,
    arguments: dict[str, Any],
) -> str:
    """A new ``running`` trajectory of the scope; its id."""
    trajectory_id = new_id()
    with store._write() as connection:
        _ensure_tenant(store, connection, scope.tenant)
        connection.execute(
            insert(Trajectory).values(
                id=trajectory_id,
                tenant_id=scope.tenant,
                user_id=scope.user_id,
                agent_id=scope.agent_id,
                origin=origin,
                task_description=task_description,
                task_type=task_type,
                playbook_id=playbook_id,
                status="running",
                metrics={},
                arguments=arguments,
                cited_skill_ids=[],
                step_count=0,
                started_at=utcnow(),
                relearn_attempts=0,
                relearn_count=0,
            )
        )
    return trajectory_id


def _append_steps(
    connection: Connection, scope: Scope, trajectory_id: str, steps: Sequence[StepIn]
) -> list[int]:
    if not steps:
        found = connection.execute(
            select(Trajectory.id).where(Trajectory.id == trajectory_id, *_trajectory_scope(scope))
        ).scalar_one_or_none()
        if found is None:
            raise NotFoundError(f"trajectory {trajectory_id!r} not found")
        return []
    count = connection.execute(
        update(Trajectory)
        .where(Trajectory.id == trajectory_id, *_trajectory_scope(scope))
        .values(step_count=Trajectory.step_count + len(steps))
        .returning(Trajectory.step_count)
    ).scalar_one_or_none()
    if count is None:
        raise NotFoundError(f"trajectory {trajectory_id!r} not found")
    first = int(count) - len(steps)
    connection.execute(
        insert(TrajectoryStep),
        [
            {
                "trajectory_id": trajectory_id,
                "position": first + i,
                "kind": step.kind,
                "text": step.text,
                "payload_ref": step.payload_ref,
                "data": step.data,
                "created_at": step.created_at,
            }
            for i, step in enumerate(steps)
        ],
    )
    return list(range(first, first + len(steps)))


def append_steps(
    store: Store, scope: Scope, trajectory_id: str, steps: Sequence[StepIn]
) -> list[int]:
    """Append steps to a trajectory of the scope; their positions."""
    with store._write() as connection:
        return _append_steps(connection, scope, trajectory_id, steps)


def complete_trajectory(
    store: Store,
    scope: Scope,
    trajectory_id: str,
    *,
    status: str,
    success_score: float | None,
    metrics: Mapping[str, Any],
    result: dict[str, Any] | None,
    error: str | None,
    traceback: dict[str, Any] | None,
    duration_ms: int | None,
    steps: Sequence[StepIn] = (),
    cited_skill_ids: Sequence[str] = (),
    relearn_priority: float | None = None,
) -> None:
    """Record how a running trajectory of the scope ended (with the steps buffered while
    it ran, and queued for learning at ``relearn_priority`` when given), in one
    transaction. A trajectory that is not running is a `UsageError`."""
    now = utcnow()
    with store._write() as connection:
        row = connection.execute(
            select(Trajectory.status, Trajectory.started_at, Trajectory.cited_skill_ids).where(
                Trajectory.id == trajectory_id, *_trajectory_scope(scope)
            )
        ).one_or_none()
        if row is None:
            raise NotFoundError(f"trajectory {trajectory_id!r} not found")
        if row.status != "running":
            raise UsageError(f"trajectory {trajectory_id!r} is already completed ({row.status})")
        _append_steps(connection, scope, trajectory_id, steps)
        if duration_ms is None:
            duration_ms = max(0, int((now - row.started_at).total_seconds() * 1000))
        cited = list(dict.fromkeys([*row.cited_skill_ids, *cited_skill_ids]))
        connection.execute(
            update(Trajectory)
            .where(Trajectory.id == trajectory_id, *_trajectory_scope(scope))
            .values(
                status=status,
                success_score=success_score,
                metrics=dict(metrics),
                result=result,
                error=error,
                traceback=traceback,
                completed_at=now,
                duration_ms=duration_ms,
                cited_skill_ids=cited,
            )
        )
        if relearn_priority is not None:
            flag_for_relearning(connection, scope, trajectory_id, relearn_priority)


def _feedback_scores(
    connection: Connection, tenant: str, trajectory_ids: Iterable[str]
) -> dict[str, list[float]]:
    ids = list(dict.fromkeys(trajectory_ids))
    found: dict[str, list[float]] = {}
    for start in range(0, len(ids), 500):
        for tid, score in connection.execute(
            select(TrajectoryFeedback.trajectory_id, TrajectoryFeedback.score)
            .where(
                TrajectoryFeedback.tenant_id == tenant,
                TrajectoryFeedback.trajectory_id.in_(ids[start : start + 500]),
            )
            .order_by(TrajectoryFeedback.pk)
        ):
            found.setdefault(tid, []).append(float(score))
    return found


def _outcomes(
    connection: Connection, tenant: str, trajectory_ids: Iterable[str]
) -> dict[str, tuple[float | None, int]]:
    """``{trajectory id: (effective score, feedback count)}`` of the tenant's trajectories."""
    ids = list(dict.fromkeys(trajectory_ids))
    feedback = _feedback_scores(connection, tenant, ids)
    found: dict[str, tuple[float | None, int]] = {}
    for start in range(0, len(ids), 500):
        for tid, status, score in connection.execute(
            select(Trajectory.id, Trajectory.status, Trajectory.success_score).where(
                Trajectory.tenant_id == tenant, Trajectory.id.in_(ids[start : start + 500])
            )
        ):
            scores = feedback.get(tid, [])
            found[tid] = (formulas.effective_score(status, score, scores), len(scores))
    return found


def _trajectory_dict(
    row: Any, feedback: list[dict[str, Any]], outcome: float | None
) -> dict[str, Any]:
    return {
        "trajectory_id": row.id,
        "tenant_id": row.tenant_id,
        "user_id": row.user_id,
        "agent_id": row.agent_id,
        "origin": row.origin,
        "task_description": row.task_description,
        "task_type": row.task_type,
        "playbook_id": row.playbook_id,
        "status": row.status,
        "success_score": row.success_score,
        "outcome": outcome,
        "metrics": dict(row.metrics or {}),
        "arguments": row.arguments,
        "result": row.result,
        "error": row.error,
        "traceback": row.traceback,
        "cited_skill_ids": list(row.cited_skill_ids or []),
        "reflection_id": row.reflection_id,
        "step_count": row.step_count,
        "started_at": iso(row.started_at),
        "completed_at": iso(row.completed_at),
        "duration_ms": row.duration_ms,
        "feedback": feedback,
        "relearn": {
            "state": row.relearn_state,
            "priority": row.relearn_priority,
            "count": row.relearn_count,
            "attempts": row.relearn_attempts,
        },
    }


def get_trajectory(
    store: Store, scope: Scope, trajectory_id: str, *, steps: bool = True
) -> dict[str, Any]:
    """A trajectory of the scope as a dict (payloads as stored); `NotFoundError`."""
    with store._read() as connection:
        row = connection.execute(
            select(Trajectory).where(Trajectory.id == trajectory_id, *_trajectory_scope(scope))
        ).one_or_none()
        if row is None:
            raise NotFoundError(f"trajectory {trajectory_id!r} not found")
        feedback = [
            {
                "score": f.score,
                "message": f.message,
                "source": f.source,
                "priority": f.priority,
                "created_at": iso(f.created_at),
            }
            for f in connection.execute(
                select(TrajectoryFeedback)
                .where(
                    TrajectoryFeedback.tenant_id == scope.tenant,
                    TrajectoryFeedback.trajectory_id == trajectory_id,
                )
                .order_by(TrajectoryFeedback.pk)
            )
        ]
        outcome = formulas.effective_score(
            row.status, row.success_score, [f["score"] for f in feedback]
        )
        found = _trajectory_dict(row, feedback, outcome)
        if steps:
            found["steps"] = [
                {
                    "position": s.position,
                    "kind": s.kind,
                    "text": s.text,
                    "payload_ref": s.payload_ref,
                    "data": dict(s.data or {}),
                    "created_at": iso(s.created_at),
                }
                for s in connection.execute(
                    select(TrajectoryStep)
                    .where(TrajectoryStep.trajectory_id == trajectory_id)
                    .order_by(TrajectoryStep.position)
                )
            ]
        if row.origin == "learn_job":
            job = connection.execute(
                select(LearnJob.status, LearnJob.payload).where(
                    LearnJob.tenant_id == scope.tenant, LearnJob.id == trajectory_id
                )
            ).one_or_none()
            found["learn_job"] = {
                "id": trajectory_id,
                "status": None if job is None else job.status,
                "request": None if job is None else dict(job.payload),
            }
    return found


def list_trajectories(
    store: Store, scope: Scope, *, status: str | None, limit: int
) -> list[dict[str, Any]]:
    """The scope's trajectories, newest first, without steps."""
    query = select(Trajectory).where(*_trajectory_scope(scope))
    if status is not None:
        query = query.where(Trajectory.status == status)
    with store._read() as connection:
        rows = connection.execute(
            query.order_by(Trajectory.started_at.desc(), Trajectory.id).limit(limit)
        ).all()
        outcomes = _outcomes(connection, scope.tenant, [r.id for r in rows])
    return [_trajectory_dict(r, [], outcomes.get(r.id, (None, 0))[0]) for r in rows]


def note_cited(store: Store, scope: Scope, trajectory_id: str, skill_ids: Sequence[str]) -> None:
    """Add strategies a running trajectory looked up (outside ``execute_with_learning``)."""
    with store._write() as connection:
        current = connection.execute(
            select(Trajectory.cited_skill_ids).where(
                Trajectory.id == trajectory_id, *_trajectory_scope(scope)
            )
        ).scalar_one_or_none()
        if current is None:
            raise NotFoundError(f"trajectory {trajectory_id!r} not found")
        merged = list(dict.fromkeys([*current, *skill_ids]))
        if merged != list(current):
            connection.execute(
                update(Trajectory)
                .where(Trajectory.id == trajectory_id, *_trajectory_scope(scope))
                .values(cited_skill_ids=merged)
            )


# ---------------------------------------------------------------- feedback and relearning
def _refresh_importance(connection: Connection, tenant: str, trajectory_ids: Iterable[str]) -> None:
    """Recompute the importance of the memories drawn from these trajectories."""
    outcomes = _outcomes(connection, tenant, trajectory_ids)
    if not outcomes:
        return
    rows = connection.execute(
        select(MemoryRow.id, MemoryRow.trajectory_id, MemoryRow.reuse_count).where(
            MemoryRow.tenant_id == tenant,
            MemoryRow.trajectory_id.in_(list(outcomes)),
            MemoryRow.memory_type != CONSOLIDATED_TYPE,
        )
    ).all()
    now = utcnow()
    for memory_id, tid, reuse in rows:
        if tid is None:
            continue
        outcome, feedback_count = outcomes[tid]
        connection.execute(
            update(MemoryRow)
            .where(MemoryRow.id == memory_id, MemoryRow.tenant_id == tenant)
            .values(importance=formulas.importance(outcome, feedback_count, reuse), updated_at=now)
        )


def flag_for_relearning(
    connection: Connection, scope: Scope, trajectory_id: str, priority: float
) -> None:
    """Queue a trajectory of the scope for re-learning (keeping a higher priority it has),
    in the caller's transaction; a trajectory being re-learned now is queued again when
    that run ends."""
    row = connection.execute(
        select(Trajectory.relearn_state, Trajectory.relearn_priority)
        .where(Trajectory.id == trajectory_id, *_trajectory_scope(scope))
        .with_for_update()
    ).one_or_none()
    if row is None:
        raise NotFoundError(f"trajectory {trajectory_id!r} not found")
    pending = row.relearn_state in ("queued", "running")
    values: dict[str, Any] = {
        "relearn_state": "running" if row.relearn_state == "running" else "queued",
        "relearn_priority": max(priority, row.relearn_priority or 0.0) if pending else priority,
        "relearn_requested_at": utcnow(),
    }
    if not pending:
        values["relearn_attempts"] = 0
    connection.execute(
        update(Trajectory)
        .where(Trajectory.id == trajectory_id, *_trajectory_scope(scope))
        .values(**values)
    )


def add_feedback(
    store: Store,
    scope: Scope,
    trajectory_id: str,
    *,
    score: float,
    message: str | None,
    source: str | None,
) -> dict[str, Any]:
    """Record feedback on a trajectory of the scope, queue it for re-learning when the
    priority (`formulas.relearn_priority`) is high enough, and refresh the importance of
    its memories."""
    with store._write() as connection:
        row = connection.execute(
            select(Trajectory.status, Trajectory.success_score)
            .where(Trajectory.id == trajectory_id, *_trajectory_scope(scope))
            .with_for_update()
        ).one_or_none()
        if row is None:
            raise NotFoundError(f"trajectory {trajectory_id!r} not found")
        earlier = _feedback_scores(connection, scope.tenant, [trajectory_id]).get(trajectory_id, [])
        before = formulas.effective_score(row.status, row.success_score, earlier)
        priority = formulas.relearn_priority(score, before)
        feedback_pk = connection.execute(
            insert(TrajectoryFeedback)
            .values(
                tenant_id=scope.tenant,
                trajectory_id=trajectory_id,
                score=score,
                message=message,
                source=source,
                priority=priority,
                created_at=utcnow(),
            )
            .returning(TrajectoryFeedback.pk)
        ).scalar_one()
        flagged = priority >= formulas.MIN_RELEARN_PRIORITY
        if flagged:
            flag_for_relearning(connection, scope, trajectory_id, priority)
        _refresh_importance(connection, scope.tenant, [trajectory_id])
        after = formulas.effective_score(row.status, row.success_score, [*earlier, score])
    return {
        "feedback_id": int(feedback_pk),
        "trajectory_id": trajectory_id,
        "priority": priority,
        "flagged": flagged,
        "outcome_before": before,
        "outcome": after,
    }


@dataclass(frozen=True)
class RelearnClaim:
    """A trajectory this process is re-learning, and the token proving the claim."""

    trajectory_id: str
    token: str
    priority: float


def claim_relearn(
    store: Store, scope: Scope, *, lease_s: float, exclude: Sequence[str] = ()
) -> RelearnClaim | None:
    """Claim the scope's highest-priority queued trajectory (or one whose claim expired).

    PostgreSQL: candidates locked by another claimer are skipped (``FOR UPDATE SKIP
    LOCKED``). Both dialects: the claim is a conditional UPDATE (still queued, or still
    expired), so two claimers never both get a row.
    """
    while True:
        now = utcnow()
        claimable = or_(
            Trajectory.relearn_state == "queued",
            and_(
                Trajectory.relearn_state == "running",
                Trajectory.relearn_claimed_at < now - timedelta(seconds=lease_s),
            ),
        )
        with store._write() as connection:
            query = (
                select(Trajectory.id, Trajectory.relearn_priority)
                .where(*_trajectory_scope(scope), claimable)
                .order_by(
                    Trajectory.relearn_priority.desc(),
                    Trajectory.relearn_requested_at,
                    Trajectory.id,
                )
                .limit(1)
            )
            if exclude:
                query = query.where(Trajectory.id.not_in(list(exclude)))
            candidate = connection.execute(query.with_for_update(skip_locked=True)).one_or_none()
            if candidate is None:
                return None
            token = new_id()
            taken = connection.execute(
                update(Trajectory)
                .where(Trajectory.id == candidate.id, *_trajectory_scope(scope), claimable)
                .values(
                    relearn_state="running",
                    relearn_token=token,
                    relearn_claimed_at=now,
                    relearn_attempts=Trajectory.relearn_attempts + 1,
                )
            ).rowcount
            if taken == 1:
                return RelearnClaim(candidate.id, token, float(candidate.relearn_priority or 0.0))


def finish_relearn(connection: Connection, scope: Scope, claim: RelearnClaim) -> bool:
    """Mark a claimed re-learning done (queued again if feedback arrived meanwhile), in
    the caller's transaction; False when the claim is no longer current."""
    again = Trajectory.relearn_requested_at > Trajectory.relearn_claimed_at
    done = connection.execute(
        update(Trajectory)
        .where(
            Trajectory.id == claim.trajectory_id,
            *_trajectory_scope(scope),
            Trajectory.relearn_token == claim.token,
            Trajectory.relearn_state == "running",
        )
        .values(
            relearn_state=case((again, "queued"), else_="done"),
            relearn_priority=case((again, Trajectory.relearn_priority), else_=None),
            relearn_attempts=0,
            relearn_count=Trajectory.relearn_count + 1,
            relearn_token=None,
        )
    ).rowcount
    return bool(done)


def fail_relearn(store: Store, scope: Scope, claim: RelearnClaim, cause: str) -> str | None:
    """Record a failed re-learning: queued again, or ``failed`` after
    `MAX_RELEARN_ATTEMPTS`; the cause becomes a ``relearn_error`` step. Returns the new
    state (None: the claim was no longer current)."""
    with store._write() as connection:
        attempts = connection.execute(
            select(Trajectory.relearn_attempts).where(
                Trajectory.id == claim.trajectory_id,
                *_trajectory_scope(scope),
                Trajectory.relearn_token == claim.token,
            )
        ).scalar_one_or_none()
        if attempts is None:
            return None
        state = "failed" if attempts >= MAX_RELEARN_ATTEMPTS else "queued"
        connection.execute(
            update(Trajectory)
            .where(Trajectory.id == claim.trajectory_id, Trajectory.relearn_token == claim.token)
            .values(relearn_state=state, relearn_token=None)
        )
        _append_steps(
            connection,
            scope,
            claim.trajectory_id,
            [StepIn("relearn_error", cause[:2000], data={"attempt": attempts, "state": state})],
        )
    return state


# ---------------------------------------------------------------- memories
def _memory_dict(row: Any) -> dict[str, Any]:
    return {
        "memory_id": row.id,
        "memory_type": row.memory_type,
        "state": row.state,
        "content": row.content,
        "data": dict(row.data or {}),
        "importance": row.importance,
        "reuse_count": row.reuse_count,
        "trajectory_id": row.trajectory_id,
        "playbook_id": row.playbook_id,
        "consolidated_into": row.consolidated_into,
        "sources": list(row.sources or []),
        "user_id": row.user_id,
        "agent_id": row.agent_id,
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
    }


def insert_memory(
    connection: Connection,
    scope: Scope,
    *,
    memory_type: str,
    content: str,
    data: Mapping[str, Any],
    importance: float,
    trajectory_id: str | None = None,
    playbook_id: str | None = None,
    sources: Sequence[Mapping[str, Any]] = (),
    memory_id: str | None = None,
) -> str:
    """Insert an active memory of the scope in the caller's transaction; its id."""
    memory_id = memory_id or new_id()
    now = utcnow()
    connection.execute(
        insert(MemoryRow).values(
            id=memory_id,
            tenant_id=scope.tenant,
            user_id=scope.user_id,
            agent_id=scope.agent_id,
            memory_type=memory_type,
            state="active",
            content=content,
            data=dict(data),
            importance=importance,
            reuse_count=0,
            trajectory_id=trajectory_id,
            playbook_id=playbook_id,
            consolidated_into=None,
            sources=[dict(s) for s in sources],
            created_at=now,
            updated_at=now,
        )
    )
    return memory_id


def add_memory(
    store: Store,
    scope: Scope,
    *,
    memory_type: str,
    content: str,
    data: Mapping[str, Any],
    trajectory_id: str | None,
    importance: float | None,
) -> dict[str, Any]:
    """A new memory of the scope (from a trajectory of the scope, if named); with no
    importance given, `formulas.importance` of the trajectory (or of an unknown outcome)."""
    with store._write() as connection:
        outcome: float | None = None
        feedback_count = 0
        playbook_id = None
        if trajectory_id is not None:
            row = connection.execute(
                select(Trajectory.playbook_id).where(
                    Trajectory.id == trajectory_id, *_trajectory_scope(scope)
                )
            ).one_or_none()
            if row is None:
                raise NotFoundError(f"trajectory {trajectory_id!r} not found")
            playbook_id = row.playbook_id
            outcome, feedback_count = _outcomes(connection, scope.tenant, [trajectory_id])[
                trajectory_id
            ]
        value = formulas.importance(outcome, feedback_count) if importance is None else importance
        memory_id = insert_memory(
            connection,
            scope,
            memory_type=memory_type,
            content=content,
            data=data,
            importance=value,
            trajectory_id=trajectory_id,
            playbook_id=playbook_id,
            sources=[{"kind": "trajectory", "id": trajectory_id}] if trajectory_id else [],
        )
        if trajectory_id is not None and memory_type == REFLECTION_TYPE:
            connection.execute(
                update(Trajectory)
                .where(Trajectory.id == trajectory_id, *_trajectory_scope(scope))
                .values(reflection_id=memory_id)
            )
        stored = connection.execute(select(MemoryRow).where(MemoryRow.id == memory_id)).one()
    return _memory_dict(stored)


def get_memories(store: Store, scope: Scope, memory_ids: Sequence[str]) -> list[dict[str, Any]]:
    """Memories of the scope, in the order asked; `NotFoundError` naming any missing."""
    wanted = list(dict.fromkeys(memory_ids))
    with store._read() as connection:
        rows = {
            r.id: r
            for r in connection.execute(
                select(MemoryRow).where(MemoryRow.id.in_(wanted), *_memory_scope(scope))
            )
        }
    missing = [m for m in wanted if m not in rows]
    if missing:
        raise NotFoundError(f"memory {missing[0]!r} not found")
    return [_memory_dict(rows[m]) for m in wanted]


def list_memories(
    store: Store, scope: Scope, *, memory_type: str | None, state: str | None, limit: int
) -> list[dict[str, Any]]:
    """The scope's memories, newest first."""
    query = select(MemoryRow).where(*_memory_scope(scope))
    if memory_type is not None:
        query = query.where(MemoryRow.memory_type == memory_type)
    if state is not None:
        query = query.where(MemoryRow.state == state)
    with store._read() as connection:
        rows = connection.execute(
            query.order_by(MemoryRow.created_at.desc(), MemoryRow.id).limit(limit)
        ).all()
    return [_memory_dict(r) for r in rows]


def consolidation_candidates(
    store: Store, scope: Scope, *, memory_type: str | None, importance_max: float, limit: int
) -> list[dict[str, Any]]:
    """Active memories of the scope at or below ``importance_max``, least important
    first (consolidated memories only when ``memory_type`` names their type)."""
    query = select(MemoryRow).where(
        *_memory_scope(scope), MemoryRow.state == "active", MemoryRow.importance <= importance_max
    )
    if memory_type is not None:
        query = query.where(MemoryRow.memory_type == memory_type)
    else:
        query = query.where(MemoryRow.memory_type != CONSOLIDATED_TYPE)
    with store._read() as connection:
        rows = connection.execute(
            query.order_by(MemoryRow.importance, MemoryRow.created_at, MemoryRow.id).limit(limit)
        ).all()
    return [_memory_dict(r) for r in rows]


class _Taken(Exception):
    """Raised inside a transaction to roll it back: another process got there first."""


def apply_consolidation(
    store: Store,
    scope: Scope,
    sources: Sequence[Mapping[str, Any]],
    *,
    content: str,
    data: Mapping[str, Any],
) -> str | None:
    """Merge active memories of the scope into a new ``consolidated`` one, atomically:
    None (nothing changed) when any of them is no longer active (someone else merged it)."""
    ids = [str(s["memory_id"]) for s in sources]
    consolidated_id = new_id()
    try:
        with store._write() as connection:
            taken = connection.execute(
                update(MemoryRow)
                .where(MemoryRow.id.in_(ids), *_memory_scope(scope), MemoryRow.state == "active")
                .values(
                    state="consolidated", consolidated_into=consolidated_id, updated_at=utcnow()
                )
            ).rowcount
            if taken != len(ids):
                raise _Taken
            insert_memory(
                connection,
                scope,
                memory_type=CONSOLIDATED_TYPE,
                content=content,
                data=data,
                importance=max(float(s["importance"]) for s in sources),
                sources=[{"kind": "memory", "id": i} for i in ids],
                memory_id=consolidated_id,
            )
    except _Taken:
        return None
    return consolidated_id


def restore_consolidation(store: Store, scope: Scope, consolidated_id: str) -> list[str]:
    """Undo a consolidation of the scope: its sources active again, it ``restored``."""
    with store._write() as connection:
        row = connection.execute(
            select(MemoryRow.memory_type, MemoryRow.state).where(
                MemoryRow.id == consolidated_id, *_memory_scope(scope)
            )
        ).one_or_none()
        if row is None or row.memory_type != CONSOLIDATED_TYPE:
            raise NotFoundError(f"consolidated memory {consolidated_id!r} not found")
        if row.state != "active":
            raise UsageError(
                f"memory {consolidated_id!r} is {row.state}; only an active consolidation "
                "can be restored"
            )
        now = utcnow()
        restored = list(
            connection.execute(
                select(MemoryRow.id)
                .where(*_memory_scope(scope), MemoryRow.consolidated_into == consolidated_id)
                .order_by(MemoryRow.created_at, MemoryRow.id)
            ).scalars()
        )
        connection.execute(
            update(MemoryRow)
            .where(*_memory_scope(scope), MemoryRow.consolidated_into == consolidated_id)
            .values(state="active", consolidated_into=None, updated_at=now)
        )
        connection.execute(
            update(MemoryRow)
            .where(MemoryRow.id == consolidated_id, *_memory_scope(scope))
            .values(state="restored", updated_at=now)
        )
    return restored


# ---------------------------------------------------------------- evidence
@dataclass(frozen=True)
class Attribution:
    """A trajectory (and its memory) behind a curation, and the tags its reflection gave."""

    trajectory_id: str
    memory_id: str | None = None
    skill_tags: Mapping[str, str] = field(default_factory=dict)


_STANCE = {"helpful": "supports", "harmful": "opposes", "neutral": "neutral"}


def _tag_stance(metadata: Mapping[str, Any]) -> tuple[str, dict[str, int]]:
    counts = {
        k: int(v)
        for k, v in metadata.items()
        if k in _STANCE and isinstance(v, int | float) and not isinstance(v, bool) and v > 0
    }
    if not counts:
        return "neutral", {}
    best = max(counts.values())
    leaders = [k for k, v in counts.items() if v == best]
    return (_STANCE[leaders[0]] if len(leaders) == 1 else "neutral"), counts


def record_evidence(
    store: Store,
    connection: Connection,
    tenant: str,
    playbook_pk: int,
    applied: AppliedUpdate,
    attributions: Sequence[Attribution],
) -> int:
    """Turn an applied batch into evidence rows, in the caller's transaction: ADD and
    UPDATE make each attributed trajectory support the skill; a TAG gives the stance of
    its tag, attributed to the trajectories whose reflection tagged that skill (else to
    all). Returns the number of (skill, trajectory) pairs touched."""
    if not attributions:
        return 0
    changes: dict[tuple[str, str], tuple[str | None, str, dict[str, int]]] = {}
    added = iter(applied.added_ids)
    for op in applied.entry.operations:
        kind = str(op.get("type", "")).upper()
        if kind == "ADD":
            skill_id = next(added, None)
            stance, counts = "supports", {"added": 1}
        elif kind == "UPDATE":
            skill_id, stance, counts = op.get("skill_id"), "supports", {"added": 1}
        elif kind == "TAG":
            skill_id = op.get("skill_id")
            stance, counts = _tag_stance(op.get("metadata") or {})
        else:
            continue
        if not skill_id:
            continue
        who = list(attributions)
        if kind == "TAG":
            named = [a for a in attributions if skill_id in a.skill_tags]
            who = named or who
        for attribution in who:
            key = (str(skill_id), attribution.trajectory_id)
            _, _, old_counts = changes.get(key, (None, stance, {}))
            merged = {k: old_counts.get(k, 0) + counts.get(k, 0) for k in {*old_counts, *counts}}
            changes[key] = (attribution.memory_id, stance, merged)
    now = utcnow()
    for (skill_id, trajectory_id), (memory_id, stance, counts) in changes.items():
        store._insert_ignore(
            connection,
            StrategyEvidence,
            {
                "tenant_id": tenant,
                "playbook_pk": playbook_pk,
                "skill_id": skill_id,
                "trajectory_id": trajectory_id,
                "memory_id": memory_id,
                "stance": stance,
                "tags": {},
                "created_at": now,
                "updated_at": now,
            },
            ["playbook_pk", "skill_id", "trajectory_id"],
        )
        where = (
            StrategyEvidence.tenant_id == tenant,
            StrategyEvidence.playbook_pk == playbook_pk,
            StrategyEvidence.skill_id == skill_id,
            StrategyEvidence.trajectory_id == trajectory_id,
        )
        existing = connection.execute(select(StrategyEvidence.tags).where(*where)).scalar_one()
        tags = {k: int(existing.get(k, 0)) + counts.get(k, 0) for k in {*existing, *counts}}
        values: dict[str, Any] = {"stance": stance, "tags": tags, "updated_at": now}
        if memory_id is not None:
            values["memory_id"] = memory_id
        connection.execute(update(StrategyEvidence).where(*where).values(**values))
    return len(changes)


class ClaimLostError(UsageError):
    """A re-learning claim expired and was taken by another process."""


def apply_curation(
    store: Store,
    tenant: str,
    playbook_id: str,
    batch: UpdateBatch,
    *,
    base_version: int,
    source: Mapping[str, Any],
    attributions: Sequence[Attribution],
    finish: Callable[[Connection], bool] | None = None,
) -> AppliedUpdate:
    """Apply a curated batch to the tenant's playbook and record its evidence in one
    transaction; ``finish`` (e.g. marking a re-learning done) runs in it too, and when
    it returns False nothing is applied (`UsageError`)."""
    with store._write() as connection:
        playbook_pk = store._ensure_playbook(connection, tenant, playbook_id)
        applied = store._apply(
            connection, playbook_pk, batch, base_version=base_version, job_id=None, source=source
        )
        record_evidence(store, connection, tenant, playbook_pk, applied, attributions)
        if finish is not None and not finish(connection):
            raise ClaimLostError("the re-learning claim is no longer current; nothing applied")
    return applied


@dataclass
class SkillEvidence:
    """The evidence rows of one skill, ready for `formulas.confidence`."""

    items: list[formulas.Evidence] = field(default_factory=list)
    tags: dict[str, int] = field(default_factory=dict)
    """Counter increments the loop's trajectories account for (``helpful``, ...)."""
    source_memory_ids: list[str] = field(default_factory=list)
    """Memories whose curation added or updated the skill."""


def strategy_evidence(
    store: Store, tenant: str, playbook_id: str, skill_ids: Sequence[str]
) -> dict[str, SkillEvidence]:
    """The evidence of these skills of the tenant's playbook, with each trajectory's
    current outcome."""
    found: dict[str, SkillEvidence] = {}
    if not skill_ids:
        return found
    with store._read() as connection:
        playbook_pk = store._playbook_pk(connection, tenant, playbook_id)
        if playbook_pk is None:
            return found
        rows = connection.execute(
            select(
                StrategyEvidence.skill_id,
                StrategyEvidence.trajectory_id,
                StrategyEvidence.memory_id,
                StrategyEvidence.stance,
                StrategyEvidence.tags,
            ).where(
                StrategyEvidence.tenant_id == tenant,
                StrategyEvidence.playbook_pk == playbook_pk,
                StrategyEvidence.skill_id.in_(list(skill_ids)),
            )
        ).all()
        outcomes = _outcomes(connection, tenant, [r.trajectory_id for r in rows])
    for skill_id, trajectory_id, memory_id, stance, tags in rows:
        entry = found.setdefault(skill_id, SkillEvidence())
        outcome = outcomes.get(trajectory_id, (None, 0))[0]
        entry.items.append(formulas.Evidence(trajectory_id, stance, outcome))
        for key, value in (tags or {}).items():
            entry.tags[key] = entry.tags.get(key, 0) + int(value)
        if memory_id and (tags or {}).get("added"):
            entry.source_memory_ids.append(memory_id)
    return found


def bump_reuse(store: Store, tenant: str, memory_ids: Sequence[str]) -> None:
    """Count one more reuse of these memories of the tenant and refresh their importance."""
    ids = list(dict.fromkeys(memory_ids))
    if not ids:
        return
    with store._write() as connection:
        connection.execute(
            update(MemoryRow)
            .where(MemoryRow.tenant_id == tenant, MemoryRow.id.in_(ids))
            .values(reuse_count=MemoryRow.reuse_count + 1)
        )
        rows = connection.execute(
            select(MemoryRow.id, MemoryRow.trajectory_id, MemoryRow.reuse_count).where(
                MemoryRow.tenant_id == tenant, MemoryRow.id.in_(ids)
            )
        ).all()
        outcomes = _outcomes(connection, tenant, [r.trajectory_id for r in rows if r.trajectory_id])
        for memory_id, trajectory_id, reuse in rows:
            if trajectory_id is None:
                continue
            outcome, feedback_count = outcomes.get(trajectory_id, (None, 0))
            connection.execute(
                update(MemoryRow)
                .where(MemoryRow.id == memory_id, MemoryRow.tenant_id == tenant)
                .values(importance=formulas.importance(outcome, feedback_count, reuse))
            )
