"""Alembic's environment: runs the revisions on the connection ``ace.service.schema`` hands
over in ``config.attributes["connection"]`` (online only; there is no offline SQL mode)."""

from __future__ import annotations

from alembic import context

from ace.service.models import Base


def run_migrations() -> None:
    """Run the requested upgrade on the given connection, in its transaction."""
    connection = context.config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        transaction_per_migration=False,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
