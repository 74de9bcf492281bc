"""Learn jobs of the service, recorded as trajectories (called by ``Store``).

Submitting a job inserts, in the same transaction, a trajectory with the job's id
(``origin="learn_job"``, user `LEARN_JOB_USER`, status ``unknown``: the run happened
elsewhere and came without a verdict; its text stays in the job). When a worker
finishes the job, in the transaction that applies its update: the trajectory is
completed, the reflection's key insight becomes a ``reflection`` memory, and the applied
operations become strategy evidence (ADD/UPDATE: supports; TAG: the tag's stance).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select, update

from ace.learning_loop import _repo_memories, formulas
from ace.learning_loop.records import LEARN_JOB_USER, REFLECTION_TYPE, Scope
from ace.service.markers import strip_blocks
from ace.service.models import Trajectory, utcnow

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from ace.service.requests import AppliedUpdate, ClaimedJob, LearnRequest
    from ace.service.store import Store

DESCRIPTION_CHARS = 2000
"""How much of a job's question becomes its trajectory's task description."""


def _description(request: LearnRequest) -> str:
    text = strip_blocks(request.user_message).strip() or request.user_message.strip()
    return text[:DESCRIPTION_CHARS] or "(learn job)"


def trajectory_row(
    *, tenant: str, job_id: str, playbook_id: str, request: LearnRequest, now: datetime
) -> dict[str, Any]:
    """The trajectory row of a learn job being submitted (its columns' values)."""
    return {
        "id": job_id,
        "tenant_id": tenant,
        "user_id": LEARN_JOB_USER,
        "agent_id": None,
        "origin": "learn_job",
        "task_description": _description(request),
        "task_type": "learn_job",
        "playbook_id": playbook_id,
        "status": "unknown",
        "metrics": {},
        "arguments": {"value": {"learn_job_id": job_id}},
        "cited_skill_ids": [],
        "step_count": 0,
        "started_at": now,
        "relearn_attempts": 0,
        "relearn_count": 0,
    }


def _insert(
    connection: Connection,
    *,
    tenant: str,
    job_id: str,
    playbook_id: str,
    request: LearnRequest,
    now: datetime,
) -> None:
    connection.execute(
        insert(Trajectory),  # parameters apart: one compiled statement for every job
        trajectory_row(
            tenant=tenant, job_id=job_id, playbook_id=playbook_id, request=request, now=now
        ),
    )


def record_processed(
    store: Store,
    connection: Connection,
    claim: ClaimedJob,
    applied: AppliedUpdate,
    summary: dict[str, Any],
) -> None:
    """Complete a finished job's trajectory, with its reflection memory and evidence (in
    the transaction that applies the job's update)."""
    now = utcnow()
    scope = Scope(claim.tenant, LEARN_JOB_USER)
    exists = connection.execute(
        select(Trajectory.id).where(
            Trajectory.id == claim.id,
            Trajectory.tenant_id == claim.tenant,
            Trajectory.user_id == LEARN_JOB_USER,
        )
    ).scalar_one_or_none()
    if exists is None:  # submitted before revision 0004
        _insert(
            connection,
            tenant=claim.tenant,
            job_id=claim.id,
            playbook_id=claim.playbook_id,
            request=claim.request,
            now=now,
        )
    insight = str(summary.get("key_insight") or "").strip()
    memory_id = None
    if insight:
        memory_id = _repo_memories.insert_memory(
            connection,
            scope,
            memory_type=REFLECTION_TYPE,
            content=insight,
            data={"reflection": {"key_insight": insight}, "learn_job_id": claim.id},
            importance=formulas.importance(None),
            trajectory_id=claim.id,
            playbook_id=claim.playbook_id,
            sources=[{"kind": "trajectory", "id": claim.id}],
        )
    connection.execute(
        update(Trajectory)
        .where(Trajectory.id == claim.id, Trajectory.tenant_id == claim.tenant)
        .values(
            completed_at=now,
            reflection_id=memory_id,
            cited_skill_ids=list(summary.get("cited_skill_ids") or []),
            metrics={
                "learn_job": {
                    "version": applied.version,
                    "applied": applied.applied,
                    "skipped": len(applied.skipped),
                    "attempt": summary.get("attempt"),
                }
            },
        )
    )
    _repo_memories.record_evidence(
        store,
        connection,
        claim.tenant,
        claim.playbook_pk,
        applied,
        [_repo_memories.Attribution(claim.id, memory_id)],
    )


__all__ = ["record_processed", "trajectory_row"]
