"""Migrations, run from code: upgrade a database, and refuse one newer than this ace.

The Alembic scripts ship inside the package (``ace/service/migrations``); no
``alembic.ini`` is needed. ``ace db upgrade`` calls `upgrade`; opening a ``Store`` calls
`check` (and upgrades an older database unless told not to). On PostgreSQL an upgrade
holds an advisory lock, so workers starting together migrate once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ace.errors import ConfigurationError

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from sqlalchemy import Connection, Engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
"""Where the Alembic environment and revisions live."""
_ADVISORY_LOCK = 0x41434553  # "ACES": one lock id for every ACE service upgrade


class SchemaVersionError(ConfigurationError):
    """The database's schema is newer than this ace knows, or older and not upgraded."""

    def __init__(self, message: str, *, current: str | None, head: str) -> None:
        super().__init__(message)
        self.current = current
        self.head = head


@dataclass(frozen=True)
class SchemaState:
    """Where a database stands: its revision (None: no ACE tables yet) and this ace's head."""

    current: str | None
    head: str
    known: tuple[str, ...]
    """Every revision this ace knows, oldest first."""

    @property
    def up_to_date(self) -> bool:
        """Whether the database is at this ace's head."""
        return self.current == self.head

    @property
    def newer(self) -> bool:
        """Whether the database was migrated by a newer ace (a revision unknown here)."""
        return self.current is not None and self.current not in self.known


def _config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def _scripts() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config())


def head_revision() -> str:
    """The newest revision this ace knows."""
    head = _scripts().get_current_head()
    assert head is not None, "the packaged migrations have no head"
    return head


def known_revisions() -> tuple[str, ...]:
    """Every revision this ace knows, oldest first."""
    return tuple(reversed([s.revision for s in _scripts().walk_revisions()]))


def _current(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def state(engine: Engine) -> SchemaState:
    """The database's revision next to this ace's."""
    with engine.connect() as connection:
        current = _current(connection)
    return SchemaState(current, head_revision(), known_revisions())


def check(engine: Engine, *, url_for_messages: str) -> SchemaState:
    """Raise ``SchemaVersionError`` when the database is newer than this ace knows."""
    found = state(engine)
    if found.newer:
        raise SchemaVersionError(
            f"database {url_for_messages} is at schema revision {found.current}, newer than "
            f"this ace knows (its newest is {found.head}): upgrade ace-rr, or use another database",
            current=found.current,
            head=found.head,
        )
    return found


def upgrade(engine: Engine, revision: str = "head", *, url_for_messages: str = "") -> SchemaState:
    """Migrate to ``revision`` (default: the newest) and return the state before.

    Refuses (``SchemaVersionError``) a database newer than this ace; an unknown target
    revision is a ``ConfigurationError`` naming the known ones.
    """
    from alembic import command
    from sqlalchemy import text

    before = check(engine, url_for_messages=url_for_messages or "the database")
    if revision != "head" and revision not in before.known:
        raise ConfigurationError(
            f"unknown schema revision {revision!r}; known: {', '.join(before.known)}"
        )
    with engine.connect() as connection:
        connection = connection.execution_options(ace_write=True)
        with connection.begin():
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_LOCK})
            command.upgrade(_config(connection), revision)
    return before
