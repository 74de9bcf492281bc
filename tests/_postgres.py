"""A PostgreSQL server for the tests: one cluster per session, on loopback, in a temp folder.

The server comes from Debian's ``postgresql`` package (``make test`` installs it); its
binaries live in ``/usr/lib/postgresql/<version>/bin``, off PATH, and the newest version
there is used. ``initdb`` refuses to run as root, so under root the cluster is created and
run as the unprivileged user ``nobody`` (only the cluster's own folder is handed to it;
no user or global setting is created or changed). Durability settings are off (``fsync``,
``synchronous_commit``, ``full_page_writes``): the data is thrown away at the end.

``postgres_url`` gives each test a fresh database of that cluster and drops it afterwards.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import skip_missing_system_package

ROOT_BINARIES = Path("/usr/lib/postgresql")


def postgres_bin_dir() -> Path | None:
    """The newest ``/usr/lib/postgresql/<version>/bin`` holding initdb and pg_ctl, or None."""
    found = [
        p.parent
        for p in ROOT_BINARIES.glob("*/bin/initdb")
        if (p.parent / "pg_ctl").exists() and (p.parent / "postgres").exists()
    ]

    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(x) for x in re.findall(r"\d+", path.parent.name)) or (0,)

    return max(found, key=version) if found else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresCluster:
    """A throw-away cluster: ``start()``, ``url(db)``, ``create_database``, ``stop()``."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="ace-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = 0
        self._as: dict[str, Any] = {}
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            os.chown(self.root, nobody.pw_uid, nobody.pw_gid)
            self._as = {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C", "HOME": str(self.root)}
        return subprocess.run(
            [str(self.bin_dir / args[0]), *args[1:]],
            capture_output=True,
            text=True,
            env=env,
            cwd=self.root,
            timeout=timeout,
            check=False,
            **self._as,
        )

    def start(self) -> None:
        """Create the cluster and start it on a free loopback port (retried on a clash)."""
        made = self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
            "--no-locale", "--no-sync",
        )  # fmt: skip
        if made.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{made.stdout}\n{made.stderr}")
        for _ in range(3):
            self.port = _free_port()
            options = (
                f"-p {self.port} -h 127.0.0.1 -k {self.root} -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
            )
            started = self._run(
                "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
                "-o", options, "start",
            )  # fmt: skip
            if started.returncode == 0:
                return
        log = self.log.read_text(errors="replace") if self.log.exists() else ""
        raise RuntimeError(f"pg_ctl start failed:\n{started.stdout}\n{started.stderr}\n{log}")

    def url(self, database: str = "postgres") -> str:
        """A ``postgresql://`` URL of ``database`` (the form users give ``ace``)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _admin(self, statement: str) -> None:
        import psycopg

        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True
        ) as connection:
            connection.execute(statement)  # type: ignore[arg-type]

    def create_database(self, name: str) -> str:
        """Create an empty database; returns its URL."""
        self._admin(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, closing its connections."""
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        """Stop the server and remove its folder."""
        try:
            if self.port:
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """The session's PostgreSQL cluster (started on first use, stopped at session end)."""
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        skip_missing_system_package("postgresql", "the service-store tests run a real server")
    assert bin_dir is not None
    cluster = PostgresCluster(bin_dir)
    try:
        cluster.start()
    except BaseException:
        cluster.stop()
        raise
    yield cluster
    cluster.stop()


@pytest.fixture
def postgres_url(postgres_cluster: PostgresCluster) -> Iterator[str]:
    """A fresh, empty database of the session's cluster, dropped after the test."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    url = postgres_cluster.create_database(name)
    yield url
    postgres_cluster.drop_database(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def service_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The service database of a test, once per backend: an SQLite file in the test's
    folder, then a fresh database of the session's PostgreSQL cluster."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ace.db'}"
    return str(request.getfixturevalue("postgres_url"))
