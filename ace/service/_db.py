"""Database URLs and engines: SQLite (a WAL file) by default, PostgreSQL through psycopg 3."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ace.errors import ConfigurationError

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

DEFAULT_DATABASE_URL = "sqlite:///ace.db"
"""Used when neither a URL nor ``ACE_DATABASE_URL`` is given: ``ace.db`` in the working folder."""
DATABASE_URL_VARIABLE = "ACE_DATABASE_URL"
"""The environment variable naming the database when no URL is given."""
SQLITE_BUSY_TIMEOUT_S = 30.0
"""How long an SQLite writer waits for the lock before failing."""


def require_service_extra(postgres: bool = False) -> None:
    """Raise ``ConfigurationError`` naming the install command when the extra is missing."""
    needed = ["sqlalchemy", "alembic", "snowballstemmer"] + (["psycopg"] if postgres else [])
    missing = [name for name in needed if importlib.util.find_spec(name) is None]
    if missing:
        raise ConfigurationError(
            f"the ACE service store needs the 'service' extra (missing: {', '.join(missing)}); "
            "install it with: pip install 'ace-rr[service]'"
        )


def database_url(url: str | os.PathLike[str] | None = None) -> str:
    """The SQLAlchemy URL for ``url``: ``None`` reads ``ACE_DATABASE_URL``, else ``ace.db``;
    a plain path is an SQLite file; ``postgresql://`` and ``postgres://`` use psycopg 3.

    Raises ``ConfigurationError`` for other schemes, in-memory SQLite (workers could not
    share it) and an SQLite file whose folder does not exist.
    """
    text = os.fspath(url) if url is not None else os.environ.get(DATABASE_URL_VARIABLE) or ""
    text = text.strip() or DEFAULT_DATABASE_URL
    if "://" not in text:
        text = f"sqlite:///{text}"
    scheme, _, rest = text.partition("://")
    scheme = scheme.lower()
    if scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        return f"postgresql+psycopg://{rest}"
    if scheme.startswith("postgresql+"):
        raise ConfigurationError(
            f"database URL: driver {scheme.partition('+')[2]!r} is not supported; "
            "use postgresql:// (psycopg 3)"
        )
    if scheme in ("sqlite", "sqlite+pysqlite"):
        path = rest[1:] if rest.startswith("/") else rest
        path = path.partition("?")[0]
        if path in ("", ":memory:") or "mode=memory" in rest:
            raise ConfigurationError(
                "database URL: an in-memory SQLite database cannot be shared by the service "
                "and its workers; name a file, e.g. sqlite:///ace.db"
            )
        folder = Path(path).expanduser().resolve().parent
        if not folder.is_dir():
            raise ConfigurationError(f"database URL: folder {folder} does not exist")
        return f"sqlite:///{rest[1:] if rest.startswith('/') else rest}"
    raise ConfigurationError(
        f"database URL: unsupported scheme {scheme!r}; use sqlite:///PATH (the default, "
        "sqlite:///ace.db) or postgresql://USER:PASSWORD@HOST:PORT/DATABASE"
    )


def redacted(url: str) -> str:
    """``url`` with its password hidden, for messages."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def is_sqlite(url: str) -> bool:
    """Whether ``url`` (as `database_url` returns it) names an SQLite database."""
    return url.startswith("sqlite")


def make_engine(url: str, *, pool_size: int = 5) -> Engine:
    """An engine for ``url``. SQLite: WAL, foreign keys on, a busy timeout, and
    ``BEGIN IMMEDIATE`` for write transactions (see `write`), so writers queue on the lock
    instead of failing when they upgrade from reading. PostgreSQL: a pool of
    ``pool_size`` connections, checked before use when they sat idle (`PING_AFTER_IDLE_S`)."""
    require_service_extra(postgres=not is_sqlite(url))
    from sqlalchemy import create_engine, event

    if not is_sqlite(url):
        engine = create_engine(url, pool_size=pool_size, max_overflow=pool_size)
        _ping_when_idle(engine)
        return engine
    engine = create_engine(
        url,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False},
        pool_size=pool_size,
        max_overflow=pool_size,
    )

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.isolation_level = None  # transactions are begun below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        write = connection.get_execution_options().get("ace_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


PING_AFTER_IDLE_S = 1.0
"""A pooled PostgreSQL connection idle this long is checked (``SELECT 1``) before use."""


def _ping_when_idle(engine: Engine) -> None:
    """Check a connection on checkout only when it sat idle in the pool.

    A connection that died (the server restarted, an idle timeout closed it) was almost
    always idle for a while; checking every checkout, as ``pool_pre_ping`` does, cost a
    third of a learn request's database time. A connection found dead is replaced before
    use; one that dies while busy fails its statement, and SQLAlchemy then drops the
    pool's other connections, so the next request starts afresh.
    """
    import time

    from sqlalchemy import event
    from sqlalchemy.exc import DisconnectionError

    @event.listens_for(engine, "checkin")
    def _idle_from(dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _check(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_S:
            return  # new, or used a moment ago
        try:
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute("SELECT 1")
            finally:
                cursor.close()
            dbapi_connection.rollback()
        except Exception as exc:  # the pool replaces the connection and tries again
            raise DisconnectionError(f"pooled connection is gone: {exc}") from exc


@contextmanager
def write(engine: Engine) -> Iterator[Connection]:
    """A connection in a write transaction, committed at the end (rolled back on error)."""
    with engine.connect() as connection:
        connection = connection.execution_options(ace_write=True)
        with connection.begin():
            yield connection


@contextmanager
def read(engine: Engine) -> Iterator[Connection]:
    """A connection in a read transaction (one consistent snapshot)."""
    with engine.connect() as connection, connection.begin():
        yield connection
