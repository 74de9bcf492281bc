"""The ACE service store: tenants' playbooks as rows, their history, and durable learn jobs.

``Store(url)`` opens (and migrates) a database: an SQLite file by default (``ace.db``,
WAL), or PostgreSQL (``postgresql://...``, psycopg 3). Every function that reads or
writes a playbook or a job takes the tenant first; ``None`` means `DEFAULT_TENANT`,
never "all tenants". Workers' own calls (`Store.claim_job` and what follows a claim) go
by the claim, which names its tenant.

Changes to a playbook are serialised by its ``version``: a change computed on version
``v`` is applied as ``v + 1`` if nobody got there first; otherwise it is re-applied on
the newer state (operations naming a skill removed meanwhile are skipped, and the history
says so). Every change keeps what it replaced, so any earlier version can be exported or
restored (`Store.rollback`).
"""

from __future__ import annotations

import functools
import hashlib
import os
import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ace.errors import RunError, UsageError
from ace.llm.retry import RetryPolicy
from ace.service import _db, schema
from ace.service.models import (
    LearnJob,
    Playbook,
    PlaybookVersion,
    SimilarityDecisionRow,
    SkillEmbedding,
    SkillRow,
    SkillSourceRow,
    Tenant,
    Trajectory,
    utcnow,
)
from ace.service.requests import (
    DEFAULT_TENANT,
    AppliedUpdate,
    ClaimedJob,
    HistoryEntry,
    JobInfo,
    JobStatus,
    LearnRequest,
    PlaybookInfo,
    check_id,
    tenant_of,
)
from ace.skillbook import Skill, Skillbook, SkillSource
from ace.updates import UpdateBatch

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

    from ace.service.relevance import RankedSkill
    from ace.service.text_index import TextIndex

DEFAULT_LEASE_S = 30.0
"""How long a claim lasts without a heartbeat before another worker may take the job."""
DEFAULT_JOB_RETRY = RetryPolicy(
    max_retries=4, initial_delay_s=5.0, multiplier=3.0, max_delay_s=600.0
)
"""Job-level retries (after the client's own): 5 attempts, waiting ~5 s, 15 s, 45 s, 135 s."""


class AllTenants:
    """The explicit choice of every tenant, for maintenance (`Store.purge_jobs`) only."""

    def __repr__(self) -> str:
        return "ALL_TENANTS"


ALL_TENANTS = AllTenants()
"""Pass as ``tenant`` to `Store.purge_jobs` to purge every tenant's old jobs."""


class LeaseLostError(RunError):
    """A worker's claim on a job is no longer current (its lease expired and the job was
    claimed again, or it was released); what it computed is discarded."""


@dataclass
class _Stored:
    pk: int
    position: int
    record: dict[str, Any]


@dataclass
class _State:
    playbook_pk: int
    created_at: datetime
    """The playbook row's creation time: with the pk, it tells a re-created playbook (whose
    pk SQLite may reuse) from the one before."""
    version: int
    next_id: int
    extra: dict[str, Any]
    skills: dict[str, _Stored]
    decisions: dict[str, dict[str, Any]]

    @functools.cached_property
    def text_index(self) -> TextIndex:
        """The active skills' text index by row pk, built on first use: a cached state
        keeps it, so every ranking of one version shares it."""
        from ace.service.text_index import TextIndex

        return TextIndex(
            (s.pk, s.record["content"], s.record.get("section") or "")
            for s in self.skills.values()
            if s.record.get("status", "active") == "active"
        )

    @functools.cached_property
    def _skillbook(self) -> Skillbook:
        ordered = sorted(self.skills.values(), key=lambda s: (s.position, s.pk))
        return Skillbook.from_dict(
            {
                **self.extra,
                "skills": {s.record["id"]: s.record for s in ordered},
                "next_id": self.next_id,
                "similarity_decisions": self.decisions,
            },
            origin="stored playbook",
        )

    def skillbook(self) -> Skillbook:
        """The state as a skillbook of the caller's own: built from the rows once per
        state, then copied (a cached state serves every job on its version)."""
        return self._skillbook.copy()

    def skillbook_to_update(self, batch: UpdateBatch) -> Skillbook:
        """A skillbook to apply ``batch`` to: this state's, copied only where the batch
        changes it (the cost of a job then does not grow with the playbook)."""
        return self._skillbook._copy_for_update(batch)

    def preset_skillbook(self, book: Skillbook) -> None:
        """Take ``book`` as this state's skillbook instead of building it from the rows:
        for the writer of a version, whose skillbook made the rows. ``book`` must equal
        what the rows give, and nothing else may change it afterwards."""
        self.__dict__["_skillbook"] = book


CACHED_STATES = 64
"""Playbook versions whose loaded rows a store keeps in memory (least recently used go)."""


class _StateCache:
    """Loaded playbook states by (pk, creation time, version), shared read-only.

    A version's content never changes once committed, so a state read in a committed
    snapshot, or written by a transaction that then committed, stays true forever. Saves
    reading and decoding a playbook's rows twice per learn job (at the claim and when the
    update is applied) when the job before it ran in this process.
    """

    def __init__(self, capacity: int = CACHED_STATES) -> None:
        self.capacity = capacity
        self._lock = threading.Lock()
        self._states: OrderedDict[tuple[int, datetime, int], _State] = OrderedDict()

    def get(self, playbook_pk: int, created_at: datetime, version: int) -> _State | None:
        with self._lock:
            found = self._states.get((playbook_pk, created_at, version))
            if found is not None:
                self._states.move_to_end((playbook_pk, created_at, version))
            return found

    def put(self, state: _State) -> None:
        key = (state.playbook_pk, state.created_at, state.version)
        with self._lock:
            self._states[key] = state
            self._states.move_to_end(key)
            while len(self._states) > self.capacity:
                self._states.popitem(last=False)


def skill_record(skill: Skill) -> dict[str, Any]:
    """A skill as the store keeps it: the file-format dict with all three counters."""
    record = skill.to_dict()
    record.update(helpful=skill.helpful, harmful=skill.harmful, neutral=skill.neutral)
    return record


_STAGED = "ace_staged_states"
"""Key of ``Connection.info``: states a write transaction produced, cached once it commits."""
_COLUMNS = ("section", "content", "justification", "evidence", "status", "created_at")
_COUNTERS = ("helpful", "harmful", "neutral")


class Store:
    """The service's database: playbooks, their history, learn jobs, relevance.

    ``url``: an SQLAlchemy-style URL, a path (an SQLite file), or None
    (``ACE_DATABASE_URL``, else ``sqlite:///ace.db``). An older schema is upgraded on
    open unless ``migrate=False`` (then it is refused); a newer one is always refused
    (``SchemaVersionError`` naming both revisions). ``embedding_model`` (a litellm
    embedding model) makes `top_skills` mix embedding similarity into the ranking.
    ``pool_size`` should cover the worker threads that share this store.
    """

    def __init__(
        self,
        url: str | os.PathLike[str] | None = None,
        *,
        migrate: bool = True,
        embedding_model: str | None = None,
        embedding_kwargs: Mapping[str, Any] | None = None,
        pool_size: int = 5,
    ) -> None:
        self.url = _db.database_url(url)
        if embedding_model is not None and (
            not isinstance(embedding_model, str) or not embedding_model.strip()
        ):
            raise UsageError(f"embedding_model must be a model string, got {embedding_model!r}")
        if pool_size < 1:
            raise UsageError(f"pool_size must be >= 1, got {pool_size}")
        self.embedding_model = embedding_model
        self.embedding_kwargs = dict(embedding_kwargs or {})
        self.engine: Engine = _db.make_engine(self.url, pool_size=pool_size)
        self._states = _StateCache()
        try:
            found = schema.check(self.engine, url_for_messages=self.display_url)
            if migrate and not found.up_to_date:
                schema.upgrade(self.engine, url_for_messages=self.display_url)
                found = schema.check(self.engine, url_for_messages=self.display_url)
            if not found.up_to_date:
                raise schema.SchemaVersionError(
                    f"database {self.display_url} is at schema revision {found.current or 'none'}, "
                    f"older than this ace's {found.head}: run `ace db upgrade --database-url URL`",
                    current=found.current,
                    head=found.head,
                )
        except BaseException:
            self.engine.dispose()
            raise

    # ------------------------------------------------------------------ basics
    @property
    def dialect(self) -> Literal["sqlite", "postgresql"]:
        """``"sqlite"`` or ``"postgresql"``."""
        return "sqlite" if _db.is_sqlite(self.url) else "postgresql"

    @property
    def display_url(self) -> str:
        """The URL with its password hidden."""
        return _db.redacted(self.url)

    def close(self) -> None:
        """Close every pooled connection; the store is unusable afterwards."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.display_url!r})"

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        staged: list[_State] = []
        with _db.write(self.engine) as connection:
            connection.info[_STAGED] = staged
            try:
                yield connection
            finally:
                del connection.info[_STAGED]
        for state in staged:  # reached only once the transaction committed
            self._states.put(state)

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self.engine.connect() as connection:
            if self.dialect == "postgresql":  # one snapshot for every statement
                connection = connection.execution_options(isolation_level="REPEATABLE READ")
            with connection.begin():
                yield connection

    @contextmanager
    def _statement(self) -> Iterator[Connection]:
        """A connection for one statement that needs no transaction of its own: on
        PostgreSQL in autocommit (one round trip where BEGIN and the end make three); on
        SQLite a read transaction (in process: as cheap)."""
        if self.dialect != "postgresql":
            with self._read() as connection:
                yield connection
            return
        with self.engine.connect() as connection:
            yield connection.execution_options(isolation_level="AUTOCOMMIT")

    def _insert_ignore(
        self, connection: Connection, table: Any, values: dict[str, Any], keys: list[str]
    ) -> None:
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            connection.execute(pg_insert(table).on_conflict_do_nothing(), values)
        else:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            connection.execute(
                sqlite_insert(table).on_conflict_do_nothing(index_elements=keys), values
            )

    # ------------------------------------------------------------------ playbooks
    def _playbook_pk(self, connection: Connection, tenant: str, playbook_id: str) -> int | None:
        return connection.execute(
            _playbook_pk_query(), {"tenant": tenant, "playbook_id": playbook_id}
        ).scalar_one_or_none()

    def _ensure_playbook(self, connection: Connection, tenant: str, playbook_id: str) -> int:
        found = self._playbook_pk(connection, tenant, playbook_id)
        if found is not None:
            return found
        now = utcnow()
        self._insert_ignore(connection, Tenant, {"id": tenant, "created_at": now}, ["id"])
        self._insert_ignore(
            connection,
            Playbook,
            {
                "tenant_id": tenant,
                "playbook_id": playbook_id,
                "version": 0,
                "next_id": 1,
                "extra": {},
                "created_at": now,
                "updated_at": now,
            },
            ["tenant_id", "playbook_id"],
        )
        created = self._playbook_pk(connection, tenant, playbook_id)
        assert created is not None
        return created

    def ensure_playbook(self, tenant: str | None, playbook_id: str) -> PlaybookInfo:
        """The playbook, created empty (version 0) when it does not exist yet."""
        tenant, playbook_id = tenant_of(tenant), check_id("playbook_id", playbook_id)
        with self._write() as connection:
            self._ensure_playbook(connection, tenant, playbook_id)
        info = self.get_playbook(tenant, playbook_id)
        assert info is not None
        return info

    def get_playbook(self, tenant: str | None, playbook_id: str) -> PlaybookInfo | None:
        """The playbook's version and size, or None when the tenant has no such playbook."""
        tenant, playbook_id = tenant_of(tenant), check_id("playbook_id", playbook_id)
        from sqlalchemy import func, select

        with self._read() as connection:
            row = connection.execute(
                select(Playbook).where(
                    Playbook.tenant_id == tenant, Playbook.playbook_id == playbook_id
                )
            ).one_or_none()
            if row is None:
                return None
            count = connection.execute(
                select(func.count())
                .select_from(SkillRow)
                .where(SkillRow.playbook_pk == row.pk, SkillRow.status == "active")
            ).scalar_one()
        return PlaybookInfo(tenant, playbook_id, row.version, count, row.created_at, row.updated_at)

    def list_playbooks(self, tenant: str | None) -> list[str]:
        """The tenant's playbook ids, sorted."""
        from sqlalchemy import select

        tenant = tenant_of(tenant)
        with self._read() as connection:
            return list(
                connection.execute(
                    select(Playbook.playbook_id)
                    .where(Playbook.tenant_id == tenant)
                    .order_by(Playbook.playbook_id)
                ).scalars()
            )

    def playbook_page(
        self,
        tenant: str | None,
        *,
        after: str | None = None,
        limit: int = 100,
        prefixes: Sequence[str] = (),
    ) -> list[PlaybookInfo]:
        """Up to ``limit`` of the tenant's playbooks, sorted by id, after the id ``after``
        (a page cursor), only ids starting with one of ``prefixes`` when given."""
        from sqlalchemy import func, or_, select

        tenant = tenant_of(tenant)
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise UsageError(f"limit must be an integer >= 1, got {limit!r}")
        active = (
            select(func.count())
            .select_from(SkillRow)
            .where(SkillRow.playbook_pk == Playbook.pk, SkillRow.status == "active")
            .scalar_subquery()
        )
        query = select(
            Playbook.playbook_id,
            Playbook.version,
            Playbook.created_at,
            Playbook.updated_at,
            active.label("active"),
        ).where(Playbook.tenant_id == tenant)
        if after is not None:
            query = query.where(Playbook.playbook_id > after)
        if prefixes:
            query = query.where(
                or_(*(Playbook.playbook_id.startswith(p, autoescape=True) for p in prefixes))
            )
        with self._read() as connection:
            rows = connection.execute(query.order_by(Playbook.playbook_id).limit(limit)).all()
        return [
            PlaybookInfo(
                tenant, row.playbook_id, row.version, int(row.active), row.created_at,
                row.updated_at,
            )
            for row in rows
        ]  # fmt: skip

    def delete_playbook(self, tenant: str | None, playbook_id: str) -> bool:
        """Delete the playbook with its skills, history and jobs (a worker still running one
        of them loses its claim); False when the tenant has no such playbook."""
        from sqlalchemy import delete

        tenant, playbook_id = tenant_of(tenant), check_id("playbook_id", playbook_id)
        with self._write() as connection:
            pk = self._playbook_pk(connection, tenant, playbook_id)
            if pk is None:
                return False
            connection.execute(delete(Playbook).where(Playbook.pk == pk))
        return True

    def history_entry(
        self, tenant: str | None, playbook_id: str, version: int
    ) -> HistoryEntry | None:
        """The playbook's change that produced ``version``, or None."""
        found = self.history(tenant, playbook_id, since_version=version - 1, limit=1)
        return found[0] if found and found[0].version == version else None

    def _load_state(
        self, connection: Connection, playbook_pk: int, *, cached: bool = False
    ) -> _State:
        """The playbook's rows as of this transaction. ``cached``: only in a read
        transaction, whose snapshot is committed data; the result is then shared and must
        not be changed."""
        from sqlalchemy import select

        playbook = connection.execute(select(Playbook).where(Playbook.pk == playbook_pk)).one()
        if cached:
            found = self._states.get(playbook_pk, playbook.created_at, playbook.version)
            if found is not None:
                return found
        rows = connection.execute(select(SkillRow).where(SkillRow.playbook_pk == playbook_pk)).all()
        sources: dict[int, list[dict[str, Any]]] = {}
        for skill_pk, data in connection.execute(
            select(SkillSourceRow.skill_pk, SkillSourceRow.data)
            .join(SkillRow, SkillRow.pk == SkillSourceRow.skill_pk)
            .where(SkillRow.playbook_pk == playbook_pk)
            .order_by(SkillSourceRow.skill_pk, SkillSourceRow.position)
        ):
            sources.setdefault(skill_pk, []).append(dict(data))
        skills: dict[str, _Stored] = {}
        for row in rows:
            record: dict[str, Any] = {
                "id": row.skill_id,
                **{name: getattr(row, name) for name in _COLUMNS},
                "updated_at": row.updated_at,
                "sources": sources.get(row.pk, []),
                **{name: getattr(row, name) for name in _COUNTERS},
                **dict(row.extra or {}),
            }
            skills[row.skill_id] = _Stored(row.pk, row.position, record)
        decisions = {
            f"{a},{b}": dict(data)
            for a, b, data in connection.execute(
                select(
                    SimilarityDecisionRow.id_a,
                    SimilarityDecisionRow.id_b,
                    SimilarityDecisionRow.data,
                ).where(SimilarityDecisionRow.playbook_pk == playbook_pk)
            )
        }
        state = _State(
            playbook_pk,
            playbook.created_at,
            playbook.version,
            playbook.next_id,
            dict(playbook.extra or {}),
            skills,
            decisions,
        )
        if cached:
            self._states.put(state)
        return state

    def load_skillbook(self, tenant: str | None, playbook_id: str) -> tuple[Skillbook, int]:
        """The playbook as a ``Skillbook`` and the version it is (an unknown playbook is
        empty at version 0)."""
        tenant, playbook_id = tenant_of(tenant), check_id("playbook_id", playbook_id)
        with self._read() as connection:
            pk = self._playbook_pk(connection, tenant, playbook_id)
            if pk is None:
                return Skillbook(), 0
            state = self._load_state(connection, pk, cached=True)
        return state.skillbook(), state.version

    def skillbook_at(self, tenant: str | None, playbook_id: str, version: int) -> Skillbook:
        """The playbook as it was at ``version`` (0: empty), rebuilt from its history."""
        tenant, playbook_id = tenant_of(tenant), check_id("playbook_id", playbook_id)
        with self._read() as connection:
            pk = self._playbook_pk(connection, tenant, playbook_id)
            if pk is None:
                raise UsageError(f"tenant {tenant!r} has no playbook {playbook_id!r}")
            return self._state_at(connection, pk, version).skillbook()

    def _state_at(self, connection: Connection, playbook_pk: int, version: int) -> _State:
        from sqlalchemy import select

        state = self._load_state(connection, playbook_pk)
        if isinstance(version, bool) or not isinstance(version, int) or version < 0:
            raise UsageError(f"version must be an integer >= 0, got {version!r}")
        if version > state.version:
            raise UsageError(
                f"version {version} does not exist yet; the playbook is at {state.version}"
            )
        undos = connection.execute(
            select(PlaybookVersion.undo)
            .where(PlaybookVersion.playbook_pk == playbook_pk, PlaybookVersion.version > version)
            .order_by(PlaybookVersion.version.desc())
        ).scalars()
        for undo in undos:
            for skill_id, before in undo["skills"].items():
                if before is None:
                    state.skills.pop(skill_id, None)
                else:
                    state.skills[skill_id] = _Stored(0, before["position"], before["skill"])
            state.next_id = undo["next_id"]
            if undo.get("decisions") is not None:
                state.decisions = undo["decisions"]
            if undo.get("extra") is not None:
                state.extra = undo["extra"]
        state.version = version
        return state

    # ------------------------------------------------------------------ writing
    def _bump(self, connection: Connection, playbook_pk: int) -> tuple[int, datetime]:
        """Take the playbook's next version, holding its row until the transaction ends.
        Returns the version the change is applied on (the one before), and the playbook's
        creation time. One atomic statement: concurrent writers queue on the row and each
        gets the next number, so a change computed on an older version never retries; it
        is applied to whatever the rows hold once it has the row."""
        from sqlalchemy import update

        taken = connection.execute(
            update(Playbook)
            .where(Playbook.pk == playbook_pk)
            .values(version=Playbook.version + 1, updated_at=utcnow())
            .returning(Playbook.version, Playbook.created_at)
        ).one()
        return int(taken[0]) - 1, taken[1]

    def _write_state(
        self,
        connection: Connection,
        state: _State,
        target: dict[str, tuple[int, dict[str, Any]]],
        *,
        next_id: int,
        decisions: dict[str, dict[str, Any]],
        extra: dict[str, Any],
        pks: dict[str, int] | None = None,
    ) -> dict[str, Any]:
        """Make the rows of ``state`` hold ``target`` (id -> (position, record)); return the
        undo record of the change. ``pks`` receives each target skill's row pk."""
        from sqlalchemy import delete, insert, update

        undo_skills: dict[str, Any] = {}
        for skill_id, stored in state.skills.items():
            if skill_id not in target:
                undo_skills[skill_id] = {"position": stored.position, "skill": stored.record}
                connection.execute(delete(SkillRow).where(SkillRow.pk == stored.pk))
        pks = {} if pks is None else pks
        for skill_id, (position, record) in target.items():
            old = state.skills.get(skill_id)
            if old is not None:
                pks[skill_id] = old.pk
            if old is not None and old.record == record and old.position == position:
                continue
            columns = _columns(record, position)
            if old is None:
                undo_skills[skill_id] = None
                skill_pk = connection.execute(
                    insert(SkillRow).returning(SkillRow.pk),
                    {"playbook_pk": state.playbook_pk, "skill_id": skill_id, **columns},
                ).scalar_one()
                pks[skill_id] = skill_pk
                self._write_sources(connection, skill_pk, record.get("sources") or [])
                continue
            undo_skills[skill_id] = {"position": old.position, "skill": old.record}
            connection.execute(update(SkillRow).where(SkillRow.pk == old.pk).values(**columns))
            if (old.record.get("sources") or []) != (record.get("sources") or []):
                connection.execute(delete(SkillSourceRow).where(SkillSourceRow.skill_pk == old.pk))
                self._write_sources(connection, old.pk, record.get("sources") or [])
        decisions_changed = decisions != state.decisions
        if decisions_changed:
            connection.execute(
                delete(SimilarityDecisionRow).where(
                    SimilarityDecisionRow.playbook_pk == state.playbook_pk
                )
            )
            for key, data in decisions.items():
                id_a, _, id_b = key.partition(",")
                connection.execute(
                    insert(SimilarityDecisionRow).values(
                        playbook_pk=state.playbook_pk, id_a=id_a, id_b=id_b, data=data
                    )
                )
        extra_changed = extra != state.extra
        connection.execute(
            update(Playbook)
            .where(Playbook.pk == state.playbook_pk)
            .values(next_id=next_id, extra=extra, updated_at=utcnow())
        )
        return {
            "next_id": state.next_id,
            "skills": undo_skills,
            "decisions": state.decisions if decisions_changed else None,
            "extra": state.extra if extra_changed else None,
        }

    def _write_sources(
        self, connection: Connection, skill_pk: int, sources: Sequence[dict[str, Any]]
    ) -> None:
        from sqlalchemy import insert

        if not sources:
            return
        connection.execute(
            insert(SkillSourceRow),
            [
                {
                    "skill_pk": skill_pk,
                    "position": i,
                    "trace_uid": source.get("trace_uid"),
                    "operation_type": source.get("operation_type"),
                    "data": source,
                }
                for i, source in enumerate(sources)
            ],
        )

    def _history(
        self,
        connection: Connection,
        playbook_pk: int,
        *,
        version: int,
        kind: str,
        base_version: int,
        undo: dict[str, Any],
        job_id: str | None = None,
        operations: list[dict[str, Any]] | None = None,
        skipped: list[dict[str, Any]] | None = None,
        added_ids: list[str] | None = None,
        note: str | None = None,
    ) -> HistoryEntry:
        from sqlalchemy import insert

        now = utcnow()
        entry = HistoryEntry(
            version=version,
            kind=kind,
            job_id=job_id,
            base_version=base_version,
            operations=operations or [],
            skipped=skipped or [],
            added_ids=added_ids or [],
            note=note,
            created_at=now,
        )
        connection.execute(
            insert(PlaybookVersion),
            {
                "playbook_pk": playbook_pk,
                "version": version,
                "kind": kind,
                "job_id": job_id,
                "base_version": base_version,
                "operations": entry.operations,
                "skipped": entry.skipped,
                "added_ids": entry.added_ids,
                "undo": undo,
                "note": note,
                "created_at": now,
            },
        )
        return entry

    def _apply(
        self,
        connection: Connection,
        playbook_pk: int,
        batch: UpdateBatch,
        *,
        base_version: int,
        job_id: str | None,
        source: SkillSource | Mapping[str, Any] | None,
    ) -> AppliedUpdate:
        applied_on, created_at = self._bump(connection, playbook_pk)
        # the rows hold version applied_on (this transaction holds the playbook's row now)
        state = self._states.get(playbook_pk, created_at, applied_on) or self._load_state(
            connection, playbook_pk
        )
        book = state.skillbook_to_update(batch)
        report = book.apply_update(batch, source=source)
        positions = [s.position for s in state.skills.values()]
        next_position = max(positions, default=-1) + 1
        # an operation changes only the skill it names (or adds): the others keep the
        # record they were built from, so a job's cost does not grow with the playbook
        touched = {op.skill_id for op in report.applied if op.skill_id}
        target: dict[str, tuple[int, dict[str, Any]]] = {}
        for skill in book.skills(include_inactive=True):
            old = state.skills.get(skill.id)
            if old is None:
                target[skill.id] = (next_position, skill_record(skill))
                next_position += 1
            elif skill.id in touched:
                target[skill.id] = (old.position, skill_record(skill))
            else:
                target[skill.id] = (old.position, old.record)
        written: dict[str, int] = {}
        undo = self._write_state(
            connection,
            state,
            target,
            next_id=book.next_id,
            decisions=book.similarity_decisions,
            extra=state.extra,
            pks=written,
        )
        staged = connection.info.get(_STAGED)
        if staged is not None:
            written_state = _State(
                playbook_pk,
                created_at,
                applied_on + 1,
                book.next_id,
                state.extra,
                {
                    skill_id: _Stored(written[skill_id], position, record)
                    for skill_id, (position, record) in target.items()
                },
                {key: dict(data) for key, data in book.similarity_decisions.items()},
            )
            written_state.preset_skillbook(book)  # nothing changes it after this point
            staged.append(written_state)
        skipped = [
            {"operation": op.model_dump(mode="json", exclude_none=True), "reason": why}
            for op, why in report.skipped
        ]
        entry = self._history(
            connection,
            playbook_pk,
            version=applied_on + 1,
            kind="update",
            base_version=base_version,
            undo=undo,
            job_id=job_id,
            operations=[op.model_dump(mode="json", exclude_none=True) for op in report.applied],
            skipped=skipped,
            added_ids=list(report.added_ids),
            note=batch.reasoning or None,
        )
        return AppliedUpdate(
            version=applied_on + 1,
            entry=entry,
            applied=len(report.applied),
            skipped=skipped,
            added_ids=list(report.added_ids),
        )

    def apply_update(
        self,
        tenant: str | None,
        playbook_id: str,
        batch: UpdateBatch,
        *,
        base_version: int | None = None,
        job_id: str | None = None,
        source: SkillSource | Mapping[str, Any] | None = None,
    ) -> AppliedUpdate:
        """Apply ``batch`` as one new version (the playbook is created if missing).

        ``base_version`` is the version the batch was computed on (default: the current
        one); when others changed the playbook since, the batch is applied to the newer
        state and operations naming skills that are gone are skipped and recorded.
        """
        tenant, playbook_id = tenant_of(tenant), check_id("playbook_id", playbook_id)
        if not isinstance(batch, UpdateBatch):
            raise UsageError(f"apply_update: expected an UpdateBatch, got {type(batch).__name__}")
        with self._write() as connection:
            pk = self._ensure_playbook(connection, tenant, playbook_id)
            base = base_version if base_version is not None else _version(connection, pk)
            return self._apply(
                connection, pk, batch, base_version=base, job_id=job_id, source=source
            )

    def import_skillbook(
        self,
        tenant: str | None,
        playbook_id: str,
        skillbook: Skillbook | str | os.PathLike[str],
        *,
        note: str | None = None,
    ) -> HistoryEntry:
        """Replace the playbook's content with a skillbook (or a skillbook file), as one new
        version (the playbook is created if missing); the old content stays in the history."""
        tenant, playbook_id = tenant_of(tenant), check_id("playbook_id", playbook_id)
        if isinstance(skillbook, str | os.PathLike):
            path = Path(skillbook)
            skillbook = Skillbook.load_from_file(path)
            note = note or f"imported from {path.name}"
        if not isinstance(skillbook, Skillbook):
            raise UsageError(
                f"import_skillbook: expected a Skillbook or a path, got {type(skillbook).__name__}"
            )
        data = skillbook.to_dict()
        extra = {
            k: v
            for k, v in data.items()
            if k not in ("skills", "sections", "next_id", "similarity_decisions")
        }
        target = {
            skill.id: (i, skill_record(skill))
            for i, skill in enumerate(skillbook.skills(include_inactive=True))
        }
        with self._write() as connection:
            pk = self._ensure_playbook(connection, tenant, playbook_id)
            applied_on, _ = self._bump(connection, pk)
            state = self._load_state(connection, pk)
            undo = self._write_state(
                connection,
                state,
                target,
                next_id=skillbook.next_id,
                decisions=skillbook.similarity_decisions,
                extra=extra,
            )
            return self._history(
                connection,
                pk,
                version=applied_on + 1,
                kind="import",
                base_version=applied_on,
                undo=undo,
                added_ids=list(target),
                note=note or "imported",
            )

    def export_skillbook(
        self, tenant: str | None, playbook_id: str, *, version: int | None = None
    ) -> Skillbook:
        """The playbook (at ``version``, default the current one) as a ``Skillbook``;
        ``.dumps()`` / ``.save_to_file(path)`` give the established file format."""
        if version is None:
            book, _ = self.load_skillbook(tenant, playbook_id)
            return book
        return self.skillbook_at(tenant, playbook_id, version)

    def export_to_file(
        self,
        tenant: str | None,
        playbook_id: str,
        path: str | os.PathLike[str],
        *,
        version: int | None = None,
    ) -> Path:
        """Write the playbook (at ``version``) as a skillbook file, atomically."""
        return self.export_skillbook(tenant, playbook_id, version=version).save(path)

    def rollback(
        self, tenant: str | None, playbook_id: str, to_version: int, *, note: str | None = None
    ) -> HistoryEntry:
        """Make the playbook's content what it was at ``to_version``, as a new version
        (nothing is erased: the rollback itself can be rolled back)."""
        tenant, playbook_id = tenant_of(tenant), check_id("playbook_id", playbook_id)
        with self._write() as connection:
            pk = self._playbook_pk(connection, tenant, playbook_id)
            if pk is None:
                raise UsageError(f"tenant {tenant!r} has no playbook {playbook_id!r}")
            if isinstance(to_version, bool) or not isinstance(to_version, int) or to_version < 0:
                raise UsageError(f"version must be an integer >= 0, got {to_version!r}")
            applied_on, _ = self._bump(connection, pk)  # holds the row
            if to_version > applied_on:
                raise UsageError(
                    f"version {to_version} does not exist yet; the playbook is at {applied_on}"
                )
            wanted = self._state_at(connection, pk, to_version)
            state = self._load_state(connection, pk)
            target = {
                skill_id: (stored.position, stored.record)
                for skill_id, stored in sorted(
                    wanted.skills.items(), key=lambda item: (item[1].position, item[1].pk)
                )
            }
            undo = self._write_state(
                connection,
                state,
                target,
                next_id=max(wanted.next_id, state.next_id),  # ids are never reused
                decisions=wanted.decisions,
                extra=wanted.extra,
            )
            return self._history(
                connection,
                pk,
                version=applied_on + 1,
                kind="rollback",
                base_version=applied_on,
                undo=undo,
                note=note or f"rolled back to version {to_version}",
            )

    def history(
        self,
        tenant: str | None,
        playbook_id: str,
        *,
        since_version: int = 0,
        limit: int | None = None,
    ) -> list[HistoryEntry]:
        """The playbook's changes after ``since_version``, oldest first (the first ``limit``
        of them when given)."""
        from sqlalchemy import select

        tenant, playbook_id = tenant_of(tenant), check_id("playbook_id", playbook_id)
        with self._read() as connection:
            pk = self._playbook_pk(connection, tenant, playbook_id)
            if pk is None:
                return []
            query = (
                select(PlaybookVersion)
                .where(PlaybookVersion.playbook_pk == pk, PlaybookVersion.version > since_version)
                .order_by(PlaybookVersion.version)
            )
            rows = connection.execute(query if limit is None else query.limit(limit)).all()
        return [
            HistoryEntry(
                version=r.version,
                kind=r.kind,
                job_id=r.job_id,
                base_version=r.base_version,
                operations=list(r.operations),
                skipped=list(r.skipped),
                added_ids=list(r.added_ids),
                note=r.note,
                created_at=r.created_at,
            )
            for r in rows
        ]

    # ------------------------------------------------------------------ relevance
    def top_skills(
        self,
        tenant: str | None,
        playbook_id: str,
        query_text: str,
        k: int = 20,
        **options: Any,
    ) -> list[RankedSkill]:
        """The ``k`` skills most relevant to ``query_text``; see ``ace.service.relevance``."""
        from ace.service.relevance import top_skills

        return top_skills(self, tenant, playbook_id, query_text, k, **options)

    def _cached_embeddings(
        self, connection: Connection, skill_pks: Sequence[int], model: str
    ) -> dict[int, tuple[str, list[float]]]:
        from sqlalchemy import select

        if not skill_pks:
            return {}
        rows = connection.execute(
            select(SkillEmbedding.skill_pk, SkillEmbedding.content_hash, SkillEmbedding.vector)
            .where(SkillEmbedding.model == model)
            .where(SkillEmbedding.skill_pk.in_(list(skill_pks)))
        )
        return {pk: (digest, list(vector)) for pk, digest, vector in rows}

    def _store_embeddings(self, model: str, vectors: Mapping[int, tuple[str, list[float]]]) -> None:
        from sqlalchemy import delete, insert, select

        if not vectors:
            return
        with self._write() as connection:
            existing = set(
                connection.execute(
                    select(SkillRow.pk).where(SkillRow.pk.in_(list(vectors)))
                ).scalars()
            )
            keep = {pk: value for pk, value in vectors.items() if pk in existing}
            if not keep:
                return
            connection.execute(
                delete(SkillEmbedding).where(
                    SkillEmbedding.model == model, SkillEmbedding.skill_pk.in_(list(keep))
                )
            )
            connection.execute(
                insert(SkillEmbedding),
                [
                    {"skill_pk": pk, "model": model, "content_hash": digest, "vector": vector}
                    for pk, (digest, vector) in keep.items()
                ],
            )

    # ------------------------------------------------------------------ jobs
    def submit_job(
        self,
        tenant: str | None,
        playbook_id: str,
        request: LearnRequest | Mapping[str, Any],
        *,
        idempotency_key: str | None = None,
        max_attempts: int | None = None,
    ) -> JobInfo:
        """Queue a learn job; once this returns, the job is durable. The playbook is
        created if missing. A repeated ``idempotency_key`` (per tenant) returns the job
        it first created instead of queueing another."""
        from sqlalchemy import insert
        from sqlalchemy.exc import IntegrityError

        tenant, playbook_id = tenant_of(tenant), check_id("playbook_id", playbook_id)
        parsed = LearnRequest.parse(request)
        if idempotency_key is not None:
            check_id("idempotency_key", idempotency_key)
            existing = self._job_by_key(tenant, idempotency_key)
            if existing is not None:
                return existing
        attempts = DEFAULT_JOB_RETRY.max_retries + 1 if max_attempts is None else max_attempts
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
            raise UsageError(f"max_attempts must be an integer >= 1, got {max_attempts!r}")
        from ace.learning_loop._jobs import trajectory_row  # a trajectory per job

        job_id = str(uuid.uuid4())
        now = utcnow()
        job: dict[str, Any] = {
            "id": job_id,
            "tenant_id": tenant,
            "status": "queued",
            "payload": parsed.model_dump(mode="json", exclude_none=True),
            "idempotency_key": idempotency_key,
            "attempts": 0,
            "max_attempts": attempts,
            "errors": [],
            "created_at": now,
            "available_at": now,
        }
        trajectory = trajectory_row(
            tenant=tenant, job_id=job_id, playbook_id=playbook_id, request=parsed, now=now
        )
        try:
            if not self._submit_in_one_statement(tenant, playbook_id, job, trajectory):
                with self._write() as connection:
                    pk = self._ensure_playbook(connection, tenant, playbook_id)
                    # parameters apart from the statement: SQLAlchemy then reuses one
                    # compiled form instead of building and keying a statement per request
                    connection.execute(insert(LearnJob), {**job, "playbook_pk": pk})
                    connection.execute(insert(Trajectory), trajectory)
        except IntegrityError:
            if idempotency_key is None:
                raise
            existing = self._job_by_key(tenant, idempotency_key)
            if existing is None:
                raise
            return existing
        # what get_job would read back, without another transaction
        return JobInfo(
            id=job_id,
            tenant=tenant,
            playbook_id=playbook_id,
            status="queued",
            attempts=0,
            max_attempts=attempts,
            error=None,
            errors=[],
            result=None,
            idempotency_key=idempotency_key,
            created_at=now,
            available_at=now,
            started_at=None,
            finished_at=None,
            worker_id=None,
        )

    def _submit_in_one_statement(
        self, tenant: str, playbook_id: str, job: dict[str, Any], trajectory: dict[str, Any]
    ) -> bool:
        """On PostgreSQL, insert a job and its trajectory with one statement that commits
        on its own: one round trip where a transaction takes five. False when nothing was
        inserted (the playbook does not exist yet) or on SQLite, which cannot insert in a
        WITH clause."""
        if self.dialect != "postgresql":
            return False
        params = {"tenant": tenant, "playbook_id": playbook_id}
        params.update({f"job_{name}": value for name, value in job.items()})
        params.update({f"trajectory_{name}": value for name, value in trajectory.items()})
        statement = _submit_statement(tuple(job), tuple(trajectory))
        with self._statement() as connection:
            return connection.execute(statement, params).first() is not None

    def _job_by_key(self, tenant: str, key: str) -> JobInfo | None:
        from sqlalchemy import select

        with self._read() as connection:
            job_id = connection.execute(
                select(LearnJob.id).where(
                    LearnJob.tenant_id == tenant, LearnJob.idempotency_key == key
                )
            ).scalar_one_or_none()
        return None if job_id is None else self.get_job(tenant, job_id)

    def _job_query(self) -> Any:
        return _job_select()

    def get_job(self, tenant: str | None, job_id: str) -> JobInfo | None:
        """The tenant's job ``job_id``, or None (another tenant's job is never returned)."""
        tenant = tenant_of(tenant)
        with self._read() as connection:
            row = connection.execute(
                self._job_query().where(LearnJob.tenant_id == tenant, LearnJob.id == job_id)
            ).one_or_none()
        return None if row is None else _job_info(row)

    def get_job_request(self, tenant: str | None, job_id: str) -> LearnRequest | None:
        """The request a job of the tenant carries, or None."""
        from sqlalchemy import select

        tenant = tenant_of(tenant)
        with self._read() as connection:
            payload = connection.execute(
                select(LearnJob.payload).where(LearnJob.tenant_id == tenant, LearnJob.id == job_id)
            ).scalar_one_or_none()
        return None if payload is None else LearnRequest.model_validate(payload)

    def list_jobs(
        self,
        tenant: str | None,
        *,
        playbook_id: str | None = None,
        status: JobStatus | None = None,
        limit: int = 1000,
    ) -> list[JobInfo]:
        """The tenant's jobs, oldest first, optionally of one playbook and/or status."""
        tenant = tenant_of(tenant)
        query = self._job_query().where(LearnJob.tenant_id == tenant)
        if playbook_id is not None:
            query = query.where(Playbook.playbook_id == check_id("playbook_id", playbook_id))
        if status is not None:
            query = query.where(LearnJob.status == status)
        with self._read() as connection:
            rows = connection.execute(
                query.order_by(LearnJob.created_at, LearnJob.id).limit(limit)
            ).all()
        return [_job_info(row) for row in rows]

    def job_counts(self, tenant: str | None, *, playbook_id: str | None = None) -> dict[str, int]:
        """How many of the tenant's jobs are in each state (every state is present)."""
        from sqlalchemy import func, select

        tenant = tenant_of(tenant)
        query = (
            select(LearnJob.status, func.count())
            .join(Playbook, Playbook.pk == LearnJob.playbook_pk)
            .where(LearnJob.tenant_id == tenant)
        )
        if playbook_id is not None:
            query = query.where(Playbook.playbook_id == check_id("playbook_id", playbook_id))
        with self._read() as connection:
            found = {row[0]: row[1] for row in connection.execute(query.group_by(LearnJob.status))}
        return {
            status: int(found.get(status, 0)) for status in ("queued", "running", "done", "failed")
        }

    def claim_job(self, worker_id: str, *, lease_s: float = DEFAULT_LEASE_S) -> ClaimedJob | None:
        """Claim the next job to run, of any tenant: a queued job that is due, or a running
        one whose lease expired (its worker died). None when there is nothing to do.

        On PostgreSQL concurrent claimers skip each other's rows (``FOR UPDATE SKIP
        LOCKED``); on SQLite the write lock serialises them. A job whose worker died on
        each of its attempts fails here, naming that cause.
        """
        from sqlalchemy import update

        if lease_s <= 0:
            raise UsageError(f"lease_s must be > 0, got {lease_s}")
        statements = _job_statements()
        while True:
            now = utcnow()
            with self._write() as connection:
                candidate = connection.execute(statements.next_due, {"now": now}).one_or_none()
                if candidate is None:
                    return None
                job_id, status, attempts, max_attempts, errors = candidate
                if status == "running":
                    cause = (
                        f"the worker running attempt {attempts} stopped responding "
                        "(its lease expired)"
                    )
                    errors = [*errors, _error_entry(attempts, cause, True, now)]
                    if attempts >= max_attempts:
                        connection.execute(
                            update(LearnJob)
                            .where(LearnJob.id == job_id)
                            .values(
                                status="failed",
                                error=f"gave up after {attempts} attempt(s): {cause}",
                                errors=errors,
                                finished_at=now,
                                lease_expires_at=None,
                                claim_token=None,
                            )
                        )
                        continue
                token = str(uuid.uuid4())
                connection.execute(
                    statements.by_id,
                    {
                        "job_id": job_id,
                        "status": "running",
                        "attempts": attempts + 1,
                        "errors": errors,
                        "worker_id": worker_id,
                        "claim_token": token,
                        "heartbeat_at": now,
                        "lease_expires_at": now + timedelta(seconds=lease_s),
                        "started_at": now,
                    },
                )
                job = connection.execute(statements.claimed, {"job_id": job_id}).one()
                return ClaimedJob(
                    id=job.id,
                    tenant=job.tenant_id,
                    playbook_id=job.playbook_id,
                    playbook_pk=job.playbook_pk,
                    request=LearnRequest.model_validate(job.payload),
                    attempt=job.attempts,
                    max_attempts=job.max_attempts,
                    claim_token=token,
                    worker_id=worker_id,
                )

    def heartbeat(self, claim: ClaimedJob, *, lease_s: float = DEFAULT_LEASE_S) -> bool:
        """Extend the claim's lease; False when the claim is no longer current."""
        now = utcnow()
        with self._write() as connection:
            extended = connection.execute(
                _job_statements().held,
                {
                    "job_id": claim.id,
                    "token": claim.claim_token,
                    "heartbeat_at": now,
                    "lease_expires_at": now + timedelta(seconds=lease_s),
                },
            ).rowcount
        return bool(extended)

    def load_claimed_skillbook(self, claim: ClaimedJob) -> tuple[Skillbook, int]:
        """The claimed job's playbook and its version (what the worker learns against)."""
        with self._read() as connection:
            state = self._load_state(connection, claim.playbook_pk, cached=True)
        return state.skillbook(), state.version

    def finish_job(
        self,
        claim: ClaimedJob,
        batch: UpdateBatch,
        *,
        base_version: int,
        source: SkillSource | Mapping[str, Any] | None = None,
        result: Mapping[str, Any] | None = None,
    ) -> AppliedUpdate:
        """Apply the job's batch and mark it ``done``, in one transaction: the update is
        applied once or not at all. Raises ``LeaseLostError`` (nothing applied) when the
        claim is no longer current."""
        statements = _job_statements()
        now = utcnow()
        with self._write() as connection:
            held = connection.execute(
                statements.held,
                {"job_id": claim.id, "token": claim.claim_token, "heartbeat_at": now},
            ).rowcount
            if not held:
                raise LeaseLostError(
                    f"job {claim.id}: the claim of attempt {claim.attempt} is no longer current "
                    "(the lease expired and the job was claimed again, or it was released)"
                )
            applied = self._apply(
                connection,
                claim.playbook_pk,
                batch,
                base_version=base_version,
                job_id=claim.id,
                source=source,
            )
            summary = {
                **dict(result or {}),
                "version": applied.version,
                "base_version": base_version,
                "rebased_from": base_version if applied.entry.rebased else None,
                "applied": applied.applied,
                "skipped": applied.skipped,
                "added_ids": applied.added_ids,
            }
            connection.execute(
                statements.by_id,
                {
                    "job_id": claim.id,
                    "status": "done",
                    "error": None,
                    "result": summary,
                    "finished_at": utcnow(),
                    "lease_expires_at": None,
                    "claim_token": None,
                },
            )
            from ace.learning_loop._jobs import record_processed  # its trajectory, evidence

            record_processed(self, connection, claim, applied, summary)
        return applied

    def fail_job(
        self,
        claim: ClaimedJob,
        cause: str,
        *,
        retryable: bool,
        retry_policy: RetryPolicy = DEFAULT_JOB_RETRY,
    ) -> JobStatus | None:
        """Record a failed attempt. A retryable one goes back to ``queued`` after the
        policy's backoff while attempts remain; otherwise the job is ``failed`` with the
        cause. Returns the new status (None: the claim was no longer current)."""
        from sqlalchemy import select, update

        now = utcnow()
        with self._write() as connection:
            errors = connection.execute(
                select(LearnJob.errors).where(
                    LearnJob.id == claim.id, LearnJob.claim_token == claim.claim_token
                )
            ).scalar_one_or_none()
            if errors is None:
                return None
            errors = [*errors, _error_entry(claim.attempt, cause, retryable, now)]
            if retryable and claim.attempt < claim.max_attempts:
                delay = retry_policy.delay_s(claim.attempt)
                values: dict[str, Any] = {
                    "status": "queued",
                    "error": cause,
                    "available_at": now + timedelta(seconds=delay),
                }
            else:
                prefix = f"gave up after {claim.attempt} attempt(s): " if retryable else ""
                values = {"status": "failed", "error": prefix + cause, "finished_at": now}
            updated = connection.execute(
                update(LearnJob)
                .where(LearnJob.id == claim.id, LearnJob.claim_token == claim.claim_token)
                .values(
                    **values,
                    errors=errors,
                    lease_expires_at=None,
                    claim_token=None,
                    worker_id=claim.worker_id,
                )
            ).rowcount
        return values["status"] if updated else None

    def release_job(self, claim: ClaimedJob) -> bool:
        """Give an unfinished job back (shutdown): queued again at once, the attempt not
        counted. False when the claim was no longer current."""
        from sqlalchemy import update

        with self._write() as connection:
            released = connection.execute(
                update(LearnJob)
                .where(
                    LearnJob.id == claim.id,
                    LearnJob.claim_token == claim.claim_token,
                    LearnJob.status == "running",
                )
                .values(
                    status="queued",
                    attempts=LearnJob.attempts - 1,
                    available_at=utcnow(),
                    lease_expires_at=None,
                    claim_token=None,
                    worker_id=None,
                )
            ).rowcount
        return bool(released)

    def purge_jobs(self, older_than_days: float, *, tenant: str | AllTenants | None) -> int:
        """Delete ``done`` and ``failed`` jobs that finished more than ``older_than_days``
        ago, of one tenant (None: the default one) or of every tenant (`ALL_TENANTS`).
        The playbooks' history keeps the job ids. Returns how many were deleted."""
        from sqlalchemy import delete

        if isinstance(older_than_days, bool) or not isinstance(older_than_days, int | float):
            raise UsageError(f"older_than_days must be a number, got {older_than_days!r}")
        if older_than_days < 0:
            raise UsageError(f"older_than_days must be >= 0, got {older_than_days}")
        cutoff = utcnow() - timedelta(days=older_than_days)
        query = delete(LearnJob).where(
            LearnJob.status.in_(("done", "failed")), LearnJob.finished_at < cutoff
        )
        if not isinstance(tenant, AllTenants):
            query = query.where(LearnJob.tenant_id == tenant_of(tenant))
        with self._write() as connection:
            return int(connection.execute(query).rowcount)


@dataclass(frozen=True)
class _JobStatements:
    """The statements of a job's life that every job runs, built once: building and
    keying a statement costs more than running it. Values come as parameters; an UPDATE
    sets the columns its parameters name (besides ``job_id`` and ``token``)."""

    next_due: Any
    """The next job to run (``now``): queued and due, or running with an expired lease."""
    by_id: Any
    """UPDATE the job ``job_id``."""
    held: Any
    """UPDATE the job ``job_id`` while ``token`` is its current claim and it runs."""
    claimed: Any
    """The job ``job_id`` with its playbook's id."""


@functools.cache
def _job_statements() -> _JobStatements:
    from sqlalchemy import and_, bindparam, or_, select, update

    now = bindparam("now", type_=LearnJob.__table__.c.available_at.type)
    next_due = (
        select(
            LearnJob.id, LearnJob.status, LearnJob.attempts, LearnJob.max_attempts, LearnJob.errors
        )
        .where(
            or_(
                and_(LearnJob.status == "queued", LearnJob.available_at <= now),
                and_(LearnJob.status == "running", LearnJob.lease_expires_at < now),
            )
        )
        .order_by(LearnJob.available_at, LearnJob.created_at)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    job_id = bindparam("job_id", type_=LearnJob.__table__.c.id.type)
    held = update(LearnJob).where(
        LearnJob.id == job_id,
        LearnJob.claim_token == bindparam("token", type_=LearnJob.__table__.c.claim_token.type),
        LearnJob.status == "running",
    )
    return _JobStatements(
        next_due=next_due,
        by_id=update(LearnJob).where(LearnJob.id == job_id),
        held=held,
        claimed=_job_select().where(LearnJob.id == job_id),
    )


@functools.cache
def _job_select() -> Any:
    """Every column of a job, with its playbook's id (statements are immutable: each
    ``.where`` makes a new one)."""
    from sqlalchemy import select

    return select(*LearnJob.__table__.c, Playbook.playbook_id).join(
        Playbook, Playbook.pk == LearnJob.playbook_pk
    )


@functools.cache
def _playbook_pk_query() -> Any:
    """A playbook's pk by tenant and id: built once (most requests run it; building and
    keying the statement cost more than running it)."""
    from sqlalchemy import bindparam, select

    return select(Playbook.pk).where(
        Playbook.tenant_id == bindparam("tenant"),
        Playbook.playbook_id == bindparam("playbook_id"),
    )


@functools.cache
def _submit_statement(job_columns: tuple[str, ...], trajectory_columns: tuple[str, ...]) -> Any:
    """``WITH job AS (INSERT INTO learn_jobs ... SELECT ..., playbooks.pk FROM playbooks
    WHERE <the playbook> RETURNING id) INSERT INTO trajectories ... SELECT ... FROM job``:
    both rows or neither. Values are parameters named ``job_<column>`` and
    ``trajectory_<column>``, typed as their columns; built once."""
    from sqlalchemy import bindparam, insert, select

    jobs: Any = LearnJob.__table__
    trajectories: Any = Trajectory.__table__
    playbooks: Any = Playbook.__table__

    def values(table: Any, prefix: str, names: tuple[str, ...]) -> list[Any]:
        return [bindparam(f"{prefix}_{name}", type_=table.c[name].type) for name in names]

    job = (
        insert(jobs)
        .from_select(
            [*job_columns, "playbook_pk"],
            select(*values(jobs, "job", job_columns), playbooks.c.pk).where(
                playbooks.c.tenant_id == bindparam("tenant"),
                playbooks.c.playbook_id == bindparam("playbook_id"),
            ),
        )
        .returning(jobs.c.id)
        .cte("job")
    )
    return (
        insert(trajectories)
        .from_select(
            list(trajectory_columns),
            select(*values(trajectories, "trajectory", trajectory_columns)).select_from(job),
        )
        .returning(trajectories.c.id)
    )


def _version(connection: Connection, playbook_pk: int) -> int:
    from sqlalchemy import select

    return int(
        connection.execute(select(Playbook.version).where(Playbook.pk == playbook_pk)).scalar_one()
    )


def _columns(record: Mapping[str, Any], position: int) -> dict[str, Any]:
    known = {"id", "sources", "updated_at", *_COLUMNS, *_COUNTERS}
    return {
        "position": position,
        **{name: record.get(name) for name in _COLUMNS},
        "updated_at": record.get("updated_at"),
        **{name: int(record.get(name) or 0) for name in _COUNTERS},
        "extra": {k: v for k, v in record.items() if k not in known},
    }


def _error_entry(attempt: int, cause: str, retryable: bool, when: datetime) -> dict[str, Any]:
    return {"attempt": attempt, "cause": cause, "retryable": retryable, "at": when.isoformat()}


def _job_info(job: Any) -> JobInfo:
    return JobInfo(
        id=job.id,
        tenant=job.tenant_id,
        playbook_id=job.playbook_id,
        status=job.status,
        attempts=job.attempts,
        max_attempts=job.max_attempts,
        error=job.error,
        errors=list(job.errors or []),
        result=dict(job.result) if job.result is not None else None,
        idempotency_key=job.idempotency_key,
        created_at=job.created_at,
        available_at=job.available_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        worker_id=job.worker_id,
    )


def content_hash(text: str) -> str:
    """The hash that tells whether a cached embedding still matches a skill's text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


__all__ = [
    "ALL_TENANTS",
    "DEFAULT_JOB_RETRY",
    "DEFAULT_LEASE_S",
    "DEFAULT_TENANT",
    "AllTenants",
    "LeaseLostError",
    "Store",
    "content_hash",
    "skill_record",
]
