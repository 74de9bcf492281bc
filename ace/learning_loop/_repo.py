"""The learning loop's SQL: every statement is scoped by tenant, then user/agent. This
module holds trajectories, steps, feedback and re-learning; ``_repo_memories`` holds
memories and strategy evidence.

Functions take the ``Store`` (its engine and write/read transactions) and a `Scope`.
Trajectory and memory rows are only ever addressed together with the scope's filter, so
an id of another tenant, user or agent matches nothing (`NotFoundError`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, case, insert, or_, select, update

from ace.errors import UsageError
from ace.learning_loop import formulas
from ace.learning_loop.records import (
    CONSOLIDATED_TYPE,
    NotFoundError,
    Scope,
    iso,
)
from ace.service.models import (
    LearnJob,
    MemoryRow,
    Trajectory,
    TrajectoryFeedback,
    TrajectoryStep,
    utcnow,
)

if TYPE_CHECKING:
    from sqlalchemy import ColumnElement, Connection

    from ace.service.store import Store

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
