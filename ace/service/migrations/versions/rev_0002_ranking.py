"""Ranking: the database's own full-text index over skills, and cached skill embeddings.

SQLite: an external-content FTS5 table ``skills_fts`` over content, section and ``scope``
(the token ``p<playbook pk>``, so a query matches one playbook's skills only), reading
through the view ``skills_fts_source`` and kept in step with ``skills`` by triggers. PostgreSQL: a generated
``tsvector`` column ``skills.search`` (content weighted A, section B, English
configuration) with a GIN index. Existing skills are indexed by the upgrade itself.

Revision ID: 0002
Revises: 0001
Create Date: 2026-05-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _sqlite_statements() -> list[str]:
    fields = "new.content, new.section, 'p' || new.playbook_pk"
    old_fields = "old.content, old.section, 'p' || old.playbook_pk"
    return [
        # An external-content table: the text lives in `skills`, the index here. `scope`
        # is indexed too (a token per playbook), so a MATCH can be limited to one playbook.
        "CREATE VIRTUAL TABLE skills_fts USING fts5("
        "content, section, scope, content='skills_fts_source', content_rowid='pk', "
        "tokenize='porter unicode61')",
        "CREATE VIEW skills_fts_source AS "
        "SELECT pk, content, section, 'p' || playbook_pk AS scope FROM skills",
        "CREATE TRIGGER skills_fts_insert AFTER INSERT ON skills BEGIN "
        f"INSERT INTO skills_fts(rowid, content, section, scope) VALUES (new.pk, {fields}); END",
        "CREATE TRIGGER skills_fts_delete AFTER DELETE ON skills BEGIN "
        "INSERT INTO skills_fts(skills_fts, rowid, content, section, scope) "
        f"VALUES ('delete', old.pk, {old_fields}); END",
        "CREATE TRIGGER skills_fts_update AFTER UPDATE OF content, section ON skills BEGIN "
        "INSERT INTO skills_fts(skills_fts, rowid, content, section, scope) "
        f"VALUES ('delete', old.pk, {old_fields}); "
        f"INSERT INTO skills_fts(rowid, content, section, scope) VALUES (new.pk, {fields}); END",
        "INSERT INTO skills_fts(skills_fts) VALUES ('rebuild')",
    ]


_POSTGRES_UP = [
    "ALTER TABLE skills ADD COLUMN search tsvector GENERATED ALWAYS AS ("
    "setweight(to_tsvector('english', coalesce(content, '')), 'A') || "
    "setweight(to_tsvector('english', coalesce(section, '')), 'B')) STORED",
    "CREATE INDEX ix_skills_search ON skills USING gin (search)",
]


SQLITE_DROP = [
    "DROP TRIGGER skills_fts_update",
    "DROP TRIGGER skills_fts_delete",
    "DROP TRIGGER skills_fts_insert",
    "DROP TABLE skills_fts",
    "DROP VIEW skills_fts_source",
]
POSTGRES_DROP = ["DROP INDEX ix_skills_search", "ALTER TABLE skills DROP COLUMN search"]


def upgrade() -> None:
    """Add the full-text index of this dialect and the embeddings table."""
    dialect = op.get_bind().dialect.name
    statements = _sqlite_statements() if dialect == "sqlite" else _POSTGRES_UP
    for statement in statements:
        op.execute(statement)
    op.create_table(
        "skill_embeddings",
        sa.Column(
            "skill_pk",
            sa.Integer(),
            sa.ForeignKey("skills.pk", ondelete="CASCADE", name="fk_skill_embeddings_skill"),
            primary_key=True,
        ),
        sa.Column("model", sa.String(200), primary_key=True),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("vector", sa.JSON().with_variant(JSONB(), "postgresql"), nullable=False),
    )


def downgrade() -> None:
    """Drop the index and the embeddings table."""
    op.drop_table("skill_embeddings")
    statements = SQLITE_DROP if op.get_bind().dialect.name == "sqlite" else POSTGRES_DROP
    for statement in statements:
        op.execute(statement)
