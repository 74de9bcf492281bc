"""The service's tables as SQLAlchemy 2 models (the migrations create them; see ``schema``).

Everything belongs to a tenant: ``playbooks`` and ``learn_jobs`` carry ``tenant_id``, and
every row below a playbook reaches its tenant through it. A playbook's skillbook is rows,
not a blob: ``skills`` (one per skill, counters as columns), ``skill_sources`` (their
provenance records, in order) and ``similarity_decisions``; ``playbooks.version`` counts
the changes applied, and ``playbook_versions`` keeps each one (which job, which
operations, what was skipped, and what it replaced, so any earlier version can be rebuilt).

Revision 0002 adds ``skill_embeddings`` (and full-text indexes that revision 0005 drops
again: ranking is done in process by ``ace.service.text_index``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

ID_LENGTH = 200
"""Longest tenant, playbook or skill id."""

JSONType = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC instant: ``timestamptz`` on PostgreSQL, UTC text on SQLite."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Store UTC (naive on SQLite, whose text form has no zone)."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the store keeps UTC instants only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Read back as an aware UTC datetime."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    """Now, as the store writes it."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """The declarative base of the service's tables."""


class Tenant(Base):
    """A tenant: created on first use; everything else hangs below one."""

    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Playbook(Base):
    """A tenant's named skillbook; ``version`` goes up by one per applied change."""

    __tablename__ = "playbooks"
    __table_args__ = (UniqueConstraint("tenant_id", "playbook_id", name="uq_playbooks_tenant"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("tenants.id", name="fk_playbooks_tenant")
    )
    playbook_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    version: Mapped[int] = mapped_column(Integer, default=0)
    next_id: Mapped[int] = mapped_column(Integer, default=1)
    """The skillbook's id counter (``next_id`` of the file format)."""
    extra: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    """Top-level fields of an imported file that ACE does not use, kept for export."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SkillRow(Base):
    """One skill of a playbook; the counters are columns so ranking can read them."""

    __tablename__ = "skills"
    __table_args__ = (
        UniqueConstraint("playbook_pk", "skill_id", name="uq_skills_playbook_skill"),
        Index("ix_skills_playbook_position", "playbook_pk", "position"),
    )

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    playbook_pk: Mapped[int] = mapped_column(
        Integer, ForeignKey("playbooks.pk", ondelete="CASCADE", name="fk_skills_playbook")
    )
    skill_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    position: Mapped[int] = mapped_column(Integer)
    """Insertion order within the playbook (exports keep it)."""
    section: Mapped[str] = mapped_column(Text)
    content: Mapped[str] = mapped_column(Text)
    justification: Mapped[str | None] = mapped_column(Text, nullable=True)
    evidence: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[str] = mapped_column(String(20), default="active")
    helpful: Mapped[int] = mapped_column(Integer, default=0)
    harmful: Mapped[int] = mapped_column(Integer, default=0)
    neutral: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[str] = mapped_column(String(64))
    """The skill's own timestamp, as the file format writes it (ISO text)."""
    updated_at: Mapped[str] = mapped_column(String(64))
    extra: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    """Fields of the skill ACE does not use (e.g. an ``embedding`` from another tool)."""


class SkillSourceRow(Base):
    """One provenance record of a skill (``SkillSource``), in order."""

    __tablename__ = "skill_sources"
    __table_args__ = (Index("ix_skill_sources_skill", "skill_pk", "position"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    skill_pk: Mapped[int] = mapped_column(
        Integer, ForeignKey("skills.pk", ondelete="CASCADE", name="fk_skill_sources_skill")
    )
    position: Mapped[int] = mapped_column(Integer)
    trace_uid: Mapped[str | None] = mapped_column(String(ID_LENGTH * 2), nullable=True)
    operation_type: Mapped[str | None] = mapped_column(String(20), nullable=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType)
    """The whole record as the file format writes it."""


class SimilarityDecisionRow(Base):
    """A deduplication decision about a pair of skills (ids sorted)."""

    __tablename__ = "similarity_decisions"

    playbook_pk: Mapped[int] = mapped_column(
        Integer,
        ForeignKey("playbooks.pk", ondelete="CASCADE", name="fk_similarity_playbook"),
        primary_key=True,
    )
    id_a: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    id_b: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType)


class PlaybookVersion(Base):
    """One applied change: the version it produced, the job (if any), the operations
    applied and skipped (with the reason), and ``undo`` (what it replaced)."""

    __tablename__ = "playbook_versions"
    __table_args__ = (
        UniqueConstraint("playbook_pk", "version", name="uq_playbook_versions_version"),
        Index("ix_playbook_versions_job", "job_id"),
    )

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    playbook_pk: Mapped[int] = mapped_column(
        Integer, ForeignKey("playbooks.pk", ondelete="CASCADE", name="fk_versions_playbook")
    )
    version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(20))
    """``update`` (a batch), ``import`` (a whole skillbook) or ``rollback``."""
    job_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    """The learn job that produced it (kept after the job row is purged)."""
    base_version: Mapped[int] = mapped_column(Integer)
    """The version the change was computed on; differs from ``version - 1`` after a rebase."""
    operations: Mapped[list[Any]] = mapped_column(JSONType)
    skipped: Mapped[list[Any]] = mapped_column(JSONType)
    """``[{"operation": {...}, "reason": "..."}]``."""
    added_ids: Mapped[list[Any]] = mapped_column(JSONType)
    undo: Mapped[dict[str, Any]] = mapped_column(JSONType)
    """``{"next_id": n, "skills": {id: skill dict | null}, "decisions": {...} | null,
    "extra": {...} | null}``: the state it replaced (null: the skill did not exist)."""
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LearnJob(Base):
    """A learn request; accepted means this row was committed."""

    __tablename__ = "learn_jobs"
    __table_args__ = (
        UniqueConstraint("tenant_id", "idempotency_key", name="uq_learn_jobs_idempotency"),
        Index("ix_learn_jobs_claim", "status", "available_at"),
        Index("ix_learn_jobs_playbook", "playbook_pk", "created_at"),
        Index("ix_learn_jobs_finished", "status", "finished_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("tenants.id", name="fk_learn_jobs_tenant")
    )
    playbook_pk: Mapped[int] = mapped_column(
        Integer, ForeignKey("playbooks.pk", ondelete="CASCADE", name="fk_learn_jobs_playbook")
    )
    status: Mapped[str] = mapped_column(String(16), default="queued")
    """``queued``, ``running``, ``done`` or ``failed``."""
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    """``LearnRequest`` fields: user_message, trajectory, ground_truth, evaluation, and the
    reflector/curator additional instructions."""
    idempotency_key: Mapped[str | None] = mapped_column(String(ID_LENGTH), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    """Why it failed (``failed``), or why the last attempt failed (``queued`` for a retry)."""
    errors: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    """Every failed attempt: ``[{"attempt": n, "cause": "...", "retryable": bool, "at": ...}]``."""
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    """For ``done``: the version produced, operations applied/skipped, timings."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    available_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    """Not claimed before this instant (retries wait here)."""
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    worker_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), nullable=True)
    claim_token: Mapped[str | None] = mapped_column(String(36), nullable=True)
    """Set at each claim; only the holder of the current token may finish the job."""


class SkillEmbedding(Base):
    """A skill's embedding for one model (revision 0002), valid while its content hash is."""

    __tablename__ = "skill_embeddings"

    skill_pk: Mapped[int] = mapped_column(
        Integer,
        ForeignKey("skills.pk", ondelete="CASCADE", name="fk_skill_embeddings_skill"),
        primary_key=True,
    )
    model: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    vector: Mapped[list[float]] = mapped_column(JSONType)


class ApiKey(Base):
    """An API key of the HTTP service (revision 0003): a tenant's, stored as the SHA-256 of
    its token; ``prefixes`` (empty: any) limits the playbook ids it may use."""

    __tablename__ = "api_keys"
    __table_args__ = (
        UniqueConstraint("token_hash", name="uq_api_keys_token_hash"),
        Index("ix_api_keys_tenant", "tenant_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    """The key's public id (the token's second part, shown by ``ace keys list``)."""
    tenant_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("tenants.id", name="fk_api_keys_tenant")
    )
    token_hash: Mapped[str] = mapped_column(String(64))
    """Hex SHA-256 of the whole token; the token itself is never stored."""
    prefixes: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    name: Mapped[str | None] = mapped_column(String(ID_LENGTH), nullable=True)
    rate_limit: Mapped[int | None] = mapped_column(Integer, nullable=True)
    """Requests per minute for this key (None: the server's default)."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


# --- The learning loop (revision 0004; ``ace.learning_loop``) --------------------------
# Float and Boolean columns take their type from the annotation (float, bool).


class Trajectory(Base):
    """One run of a task (revision 0004): who ran it, its arguments, outcome, steps and
    re-learning state. Scoped by ``tenant_id``, then ``user_id`` and ``agent_id``. A learn
    job is recorded as one too (``origin="learn_job"``, same id as the job)."""

    __tablename__ = "trajectories"
    __table_args__ = (
        Index("ix_trajectories_scope", "tenant_id", "user_id", "agent_id", "started_at"),
        Index("ix_trajectories_relearn", "tenant_id", "relearn_state", "relearn_priority"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("tenants.id", name="fk_trajectories_tenant")
    )
    user_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    agent_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), nullable=True)
    origin: Mapped[str] = mapped_column(String(16))
    """``loop`` (execute_with_learning), ``manual`` (memory API), ``api``, ``learn_job``."""
    task_description: Mapped[str] = mapped_column(Text)
    task_type: Mapped[str | None] = mapped_column(String(ID_LENGTH), nullable=True)
    playbook_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    """``running``, ``success``, ``failure``, ``partial`` or ``unknown``."""
    success_score: Mapped[float | None] = mapped_column(nullable=True)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    arguments: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    """A stored payload (``ace.learning_loop.payloads``): the task's keyword arguments."""
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    """A stored payload: the task's return value."""
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    traceback: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    """A stored payload: the formatted traceback of the task's exception."""
    cited_skill_ids: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    """Strategies the task looked up while it ran (shown to the Reflector as cited)."""
    reflection_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    step_count: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    duration_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    relearn_state: Mapped[str | None] = mapped_column(String(16), nullable=True)
    """None (never flagged), ``queued``, ``running``, ``done`` or ``failed``."""
    relearn_priority: Mapped[float | None] = mapped_column(nullable=True)
    relearn_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    relearn_claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    relearn_token: Mapped[str | None] = mapped_column(String(36), nullable=True)
    relearn_attempts: Mapped[int] = mapped_column(Integer, default=0)
    relearn_count: Mapped[int] = mapped_column(Integer, default=0)


class TrajectoryStep(Base):
    """One step of a trajectory, in order: a decision, action, observation, log record..."""

    __tablename__ = "trajectory_steps"
    __table_args__ = (
        UniqueConstraint("trajectory_id", "position", name="uq_trajectory_steps_position"),
    )

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    trajectory_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("trajectories.id", ondelete="CASCADE", name="fk_steps_trajectory")
    )
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(40))
    text: Mapped[str] = mapped_column(Text)
    """The text, or its preview when it is in the backend (``payload_ref``)."""
    payload_ref: Mapped[str | None] = mapped_column(String(ID_LENGTH), nullable=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TrajectoryFeedback(Base):
    """Feedback on a trajectory (score in [0, 1]) and the re-learning priority it gave."""

    __tablename__ = "trajectory_feedback"
    __table_args__ = (Index("ix_trajectory_feedback_trajectory", "tenant_id", "trajectory_id"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("tenants.id", name="fk_feedback_tenant")
    )
    trajectory_id: Mapped[str] = mapped_column(
        String(36),
        ForeignKey("trajectories.id", ondelete="CASCADE", name="fk_feedback_trajectory"),
    )
    score: Mapped[float] = mapped_column()
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    source: Mapped[str | None] = mapped_column(String(ID_LENGTH), nullable=True)
    priority: Mapped[float] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MemoryRow(Base):
    """A memory (a reflection, an experience, a consolidation of others) with its
    importance; ``sources`` lists what it came from (trajectories, memories)."""

    __tablename__ = "memories"
    __table_args__ = (
        Index("ix_memories_scope", "tenant_id", "user_id", "state", "importance"),
        Index("ix_memories_trajectory", "trajectory_id"),
        Index("ix_memories_consolidated_into", "consolidated_into"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("tenants.id", name="fk_memories_tenant")
    )
    user_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    agent_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), nullable=True)
    memory_type: Mapped[str] = mapped_column(String(40))
    state: Mapped[str] = mapped_column(String(16), default="active")
    """``active``, ``consolidated`` (merged into ``consolidated_into``) or ``restored``
    (a consolidation that was undone)."""
    content: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    importance: Mapped[float] = mapped_column()
    reuse_count: Mapped[int] = mapped_column(Integer, default=0)
    trajectory_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    playbook_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), nullable=True)
    consolidated_into: Mapped[str | None] = mapped_column(String(36), nullable=True)
    sources: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StrategyEvidence(Base):
    """What one trajectory says about one strategy (skill) of a playbook: ``supports``
    (its reflection added, updated or tagged it helpful), ``opposes`` (tagged it harmful)
    or ``neutral``; ``tags`` counts the counter increments it caused."""

    __tablename__ = "strategy_evidence"
    __table_args__ = (
        UniqueConstraint("playbook_pk", "skill_id", "trajectory_id", name="uq_strategy_evidence"),
        Index("ix_strategy_evidence_trajectory", "tenant_id", "trajectory_id"),
    )

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("tenants.id", name="fk_strategy_evidence_tenant")
    )
    playbook_pk: Mapped[int] = mapped_column(
        Integer,
        ForeignKey("playbooks.pk", ondelete="CASCADE", name="fk_strategy_evidence_playbook"),
    )
    """The playbook row (a playbook deleted and created again starts without evidence)."""
    skill_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    trajectory_id: Mapped[str] = mapped_column(String(36))
    memory_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    stance: Mapped[str] = mapped_column(String(16))
    tags: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
