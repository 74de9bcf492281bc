"""The learning loop: trajectories with their steps and feedback, memories, and the
evidence that links strategies to the trajectories behind them (``ace.learning_loop``).

Learn jobs submitted before this revision have no trajectory row; one is created when
such a job is processed.

Revision ID: 0004
Revises: 0003
Create Date: 2026-05-02
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_ID = 200


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(JSONB(), "postgresql")


def _when(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _tenant(name: str) -> sa.Column[object]:
    return sa.Column(
        "tenant_id", sa.String(_ID), sa.ForeignKey("tenants.id", name=name), nullable=False
    )


def upgrade() -> None:
    """Create the learning loop's tables."""
    op.create_table(
        "trajectories",
        sa.Column("id", sa.String(36), primary_key=True),
        _tenant("fk_trajectories_tenant"),
        sa.Column("user_id", sa.String(_ID), nullable=False),
        sa.Column("agent_id", sa.String(_ID), nullable=True),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("task_description", sa.Text(), nullable=False),
        sa.Column("task_type", sa.String(_ID), nullable=True),
        sa.Column("playbook_id", sa.String(_ID), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("success_score", sa.Double(), nullable=True),
        sa.Column("metrics", _json(), nullable=False),
        sa.Column("arguments", _json(), nullable=False),
        sa.Column("result", _json(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("traceback", _json(), nullable=True),
        sa.Column("cited_skill_ids", _json(), nullable=False),
        sa.Column("reflection_id", sa.String(36), nullable=True),
        sa.Column("step_count", sa.Integer(), nullable=False),
        _when("started_at"),
        _when("completed_at", nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("relearn_state", sa.String(16), nullable=True),
        sa.Column("relearn_priority", sa.Double(), nullable=True),
        _when("relearn_requested_at", nullable=True),
        _when("relearn_claimed_at", nullable=True),
        sa.Column("relearn_token", sa.String(36), nullable=True),
        sa.Column("relearn_attempts", sa.Integer(), nullable=False),
        sa.Column("relearn_count", sa.Integer(), nullable=False),
    )
    op.create_index(
        "ix_trajectories_scope", "trajectories", ["tenant_id", "user_id", "agent_id", "started_at"]
    )
    op.create_index(
        "ix_trajectories_relearn",
        "trajectories",
        ["tenant_id", "relearn_state", "relearn_priority"],
    )
    op.create_table(
        "trajectory_steps",
        sa.Column("pk", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "trajectory_id",
            sa.String(36),
            sa.ForeignKey("trajectories.id", ondelete="CASCADE", name="fk_steps_trajectory"),
            nullable=False,
        ),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("payload_ref", sa.String(_ID), nullable=True),
        sa.Column("data", _json(), nullable=False),
        _when("created_at"),
        sa.UniqueConstraint("trajectory_id", "position", name="uq_trajectory_steps_position"),
    )
    op.create_table(
        "trajectory_feedback",
        sa.Column("pk", sa.Integer(), primary_key=True, autoincrement=True),
        _tenant("fk_feedback_tenant"),
        sa.Column(
            "trajectory_id",
            sa.String(36),
            sa.ForeignKey("trajectories.id", ondelete="CASCADE", name="fk_feedback_trajectory"),
            nullable=False,
        ),
        sa.Column("score", sa.Double(), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("source", sa.String(_ID), nullable=True),
        sa.Column("priority", sa.Double(), nullable=False),
        _when("created_at"),
    )
    op.create_index(
        "ix_trajectory_feedback_trajectory",
        "trajectory_feedback",
        ["tenant_id", "trajectory_id"],
    )
    op.create_table(
        "memories",
        sa.Column("id", sa.String(36), primary_key=True),
        _tenant("fk_memories_tenant"),
        sa.Column("user_id", sa.String(_ID), nullable=False),
        sa.Column("agent_id", sa.String(_ID), nullable=True),
        sa.Column("memory_type", sa.String(40), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("data", _json(), nullable=False),
        sa.Column("importance", sa.Double(), nullable=False),
        sa.Column("reuse_count", sa.Integer(), nullable=False),
        sa.Column("trajectory_id", sa.String(36), nullable=True),
        sa.Column("playbook_id", sa.String(_ID), nullable=True),
        sa.Column("consolidated_into", sa.String(36), nullable=True),
        sa.Column("sources", _json(), nullable=False),
        _when("created_at"),
        _when("updated_at"),
    )
    op.create_index(
        "ix_memories_scope", "memories", ["tenant_id", "user_id", "state", "importance"]
    )
    op.create_index("ix_memories_trajectory", "memories", ["trajectory_id"])
    op.create_index("ix_memories_consolidated_into", "memories", ["consolidated_into"])
    op.create_table(
        "strategy_evidence",
        sa.Column("pk", sa.Integer(), primary_key=True, autoincrement=True),
        _tenant("fk_strategy_evidence_tenant"),
        sa.Column(
            "playbook_pk",
            sa.Integer(),
            sa.ForeignKey("playbooks.pk", ondelete="CASCADE", name="fk_strategy_evidence_playbook"),
            nullable=False,
        ),
        sa.Column("skill_id", sa.String(_ID), nullable=False),
        sa.Column("trajectory_id", sa.String(36), nullable=False),
        sa.Column("memory_id", sa.String(36), nullable=True),
        sa.Column("stance", sa.String(16), nullable=False),
        sa.Column("tags", _json(), nullable=False),
        _when("created_at"),
        _when("updated_at"),
        sa.UniqueConstraint(
            "playbook_pk", "skill_id", "trajectory_id", name="uq_strategy_evidence"
        ),
    )
    op.create_index(
        "ix_strategy_evidence_trajectory", "strategy_evidence", ["tenant_id", "trajectory_id"]
    )


def downgrade() -> None:
    """Drop the learning loop's tables."""
    op.drop_index("ix_strategy_evidence_trajectory", table_name="strategy_evidence")
    op.drop_table("strategy_evidence")
    for index in ("ix_memories_consolidated_into", "ix_memories_trajectory", "ix_memories_scope"):
        op.drop_index(index, table_name="memories")
    op.drop_table("memories")
    op.drop_index("ix_trajectory_feedback_trajectory", table_name="trajectory_feedback")
    op.drop_table("trajectory_feedback")
    op.drop_table("trajectory_steps")
    op.drop_index("ix_trajectories_relearn", table_name="trajectories")
    op.drop_index("ix_trajectories_scope", table_name="trajectories")
    op.drop_table("trajectories")
