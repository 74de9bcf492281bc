"""API keys: each belongs to a tenant, may be limited to playbook id prefixes, and is
stored as the SHA-256 of its token (the token itself is shown once, at creation).

Revision ID: 0003
Revises: 0002
Create Date: 2026-05-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_ID = 200


def upgrade() -> None:
    """Create the ``api_keys`` table."""
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column(
            "tenant_id",
            sa.String(_ID),
            sa.ForeignKey("tenants.id", name="fk_api_keys_tenant"),
            nullable=False,
        ),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("prefixes", sa.JSON().with_variant(JSONB(), "postgresql"), nullable=False),
        sa.Column("name", sa.String(_ID), nullable=True),
        sa.Column("rate_limit", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("token_hash", name="uq_api_keys_token_hash"),
    )
    op.create_index("ix_api_keys_tenant", "api_keys", ["tenant_id"])


def downgrade() -> None:
    """Drop the ``api_keys`` table."""
    op.drop_index("ix_api_keys_tenant", table_name="api_keys")
    op.drop_table("api_keys")
