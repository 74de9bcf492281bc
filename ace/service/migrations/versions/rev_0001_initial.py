"""The first schema: tenants, playbooks stored as rows, their history, and learn jobs.

Revision ID: 0001
Revises:
Create Date: 2026-05-01
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_ID = 200


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(JSONB(), "postgresql")


def _when(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    """Create the tables of revision 0001."""
    op.create_table(
        "tenants",
        sa.Column("id", sa.String(_ID), primary_key=True),
        _when("created_at"),
    )
    op.create_table(
        "playbooks",
        sa.Column("pk", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "tenant_id",
            sa.String(_ID),
            sa.ForeignKey("tenants.id", name="fk_playbooks_tenant"),
            nullable=False,
        ),
        sa.Column("playbook_id", sa.String(_ID), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("next_id", sa.Integer(), nullable=False),
        sa.Column("extra", _json(), nullable=False),
        _when("created_at"),
        _when("updated_at"),
        sa.UniqueConstraint("tenant_id", "playbook_id", name="uq_playbooks_tenant"),
    )
    op.create_table(
        "skills",
        sa.Column("pk", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "playbook_pk",
            sa.Integer(),
            sa.ForeignKey("playbooks.pk", ondelete="CASCADE", name="fk_skills_playbook"),
            nullable=False,
        ),
        sa.Column("skill_id", sa.String(_ID), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("section", sa.Text(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("justification", sa.Text(), nullable=True),
        sa.Column("evidence", sa.Text(), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("helpful", sa.Integer(), nullable=False),
        sa.Column("harmful", sa.Integer(), nullable=False),
        sa.Column("neutral", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.String(64), nullable=False),
        sa.Column("updated_at", sa.String(64), nullable=False),
        sa.Column("extra", _json(), nullable=False),
        sa.UniqueConstraint("playbook_pk", "skill_id", name="uq_skills_playbook_skill"),
    )
    op.create_index("ix_skills_playbook_position", "skills", ["playbook_pk", "position"])
    op.create_table(
        "skill_sources",
        sa.Column("pk", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "skill_pk",
            sa.Integer(),
            sa.ForeignKey("skills.pk", ondelete="CASCADE", name="fk_skill_sources_skill"),
            nullable=False,
        ),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("trace_uid", sa.String(_ID * 2), nullable=True),
        sa.Column("operation_type", sa.String(20), nullable=True),
        sa.Column("data", _json(), nullable=False),
    )
    op.create_index("ix_skill_sources_skill", "skill_sources", ["skill_pk", "position"])
    op.create_table(
        "similarity_decisions",
        sa.Column(
            "playbook_pk",
            sa.Integer(),
            sa.ForeignKey("playbooks.pk", ondelete="CASCADE", name="fk_similarity_playbook"),
            primary_key=True,
        ),
        sa.Column("id_a", sa.String(_ID), primary_key=True),
        sa.Column("id_b", sa.String(_ID), primary_key=True),
        sa.Column("data", _json(), nullable=False),
    )
    op.create_table(
        "playbook_versions",
        sa.Column("pk", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "playbook_pk",
            sa.Integer(),
            sa.ForeignKey("playbooks.pk", ondelete="CASCADE", name="fk_versions_playbook"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("job_id", sa.String(36), nullable=True),
        sa.Column("base_version", sa.Integer(), nullable=False),
        sa.Column("operations", _json(), nullable=False),
        sa.Column("skipped", _json(), nullable=False),
        sa.Column("added_ids", _json(), nullable=False),
        sa.Column("undo", _json(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        _when("created_at"),
        sa.UniqueConstraint("playbook_pk", "version", name="uq_playbook_versions_version"),
    )
    op.create_index("ix_playbook_versions_job", "playbook_versions", ["job_id"])
    op.create_table(
        "learn_jobs",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column(
            "tenant_id",
            sa.String(_ID),
            sa.ForeignKey("tenants.id", name="fk_learn_jobs_tenant"),
            nullable=False,
        ),
        sa.Column(
            "playbook_pk",
            sa.Integer(),
            sa.ForeignKey("playbooks.pk", ondelete="CASCADE", name="fk_learn_jobs_playbook"),
            nullable=False,
        ),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("payload", _json(), nullable=False),
        sa.Column("idempotency_key", sa.String(_ID), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("errors", _json(), nullable=False),
        sa.Column("result", _json(), nullable=True),
        _when("created_at"),
        _when("available_at"),
        _when("started_at", nullable=True),
        _when("finished_at", nullable=True),
        _when("heartbeat_at", nullable=True),
        _when("lease_expires_at", nullable=True),
        sa.Column("worker_id", sa.String(_ID), nullable=True),
        sa.Column("claim_token", sa.String(36), nullable=True),
        sa.UniqueConstraint("tenant_id", "idempotency_key", name="uq_learn_jobs_idempotency"),
    )
    op.create_index("ix_learn_jobs_claim", "learn_jobs", ["status", "available_at"])
    op.create_index("ix_learn_jobs_playbook", "learn_jobs", ["playbook_pk", "created_at"])
    op.create_index("ix_learn_jobs_finished", "learn_jobs", ["status", "finished_at"])


def downgrade() -> None:
    """Drop every table of revision 0001."""
    for table in (
        "learn_jobs",
        "playbook_versions",
        "similarity_decisions",
        "skill_sources",
        "skills",
        "playbooks",
        "tenants",
    ):
        op.drop_table(table)
