"""The learning loop's SQL for memories and strategy evidence: memories (kept, listed,
consolidated and restored, their reuse counted) and the evidence curation records for the
strategies. Scoped like ``_repo`` (trajectories, steps, feedback and re-learning), whose
scope filters it uses.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select, update

from ace.errors import UsageError
from ace.learning_loop import formulas
from ace.learning_loop._repo import _memory_scope, _outcomes, _trajectory_scope, new_id
from ace.learning_loop.records import (
    CONSOLIDATED_TYPE,
    REFLECTION_TYPE,
    NotFoundError,
    Scope,
    iso,
)
from ace.service.models import MemoryRow, StrategyEvidence, Trajectory, utcnow

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from ace.service.requests import AppliedUpdate
    from ace.service.store import Store
    from ace.updates import UpdateBatch


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
        insert(MemoryRow),
        {
            "id": memory_id,
            "tenant_id": scope.tenant,
            "user_id": scope.user_id,
            "agent_id": scope.agent_id,
            "memory_type": memory_type,
            "state": "active",
            "content": content,
            "data": dict(data),
            "importance": importance,
            "reuse_count": 0,
            "trajectory_id": trajectory_id,
            "playbook_id": playbook_id,
            "consolidated_into": None,
            "sources": [dict(s) for s in sources],
            "created_at": now,
            "updated_at": now,
        },
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
