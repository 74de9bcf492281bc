"""Ranking moves into the process: drop the databases' own full-text indexes.

``embed_prompt`` and ``top_skills`` rank with ``ace.service.text_index`` (BM25 over
stemmed words, the same on every database), so SQLite's ``skills_fts`` (with its view
and triggers) and PostgreSQL's ``skills.search`` column and its GIN index are no longer
read; keeping them only made every skill write slower. The downgrade rebuilds them as
revision 0002 made them (existing skills are indexed again).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

from ace.service.migrations.versions import rev_0002_ranking

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Drop the full-text index of this dialect."""
    if op.get_bind().dialect.name == "sqlite":
        for statement in rev_0002_ranking.SQLITE_DROP:
            op.execute(statement)
    else:
        for statement in rev_0002_ranking.POSTGRES_DROP:
            op.execute(statement)


def downgrade() -> None:
    """Rebuild the full-text index of revision 0002."""
    if op.get_bind().dialect.name == "sqlite":
        statements = rev_0002_ranking._sqlite_statements()
    else:
        statements = rev_0002_ranking._POSTGRES_UP
    for statement in statements:
        op.execute(statement)
