"""The service store on real databases (an SQLite file, and PostgreSQL from the session's
cluster): playbooks as rows, versions and history, rollback, tenants, migrations."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text, update
from test_compat_data import ESTABLISHED

from ace import Skillbook, UpdateBatch, UpdateOperation
from ace.cli import main
from ace.errors import ConfigurationError, UsageError
from ace.service import (
    ALL_TENANTS,
    DEFAULT_TENANT,
    SchemaVersionError,
    Store,
    _db,
    database_url,
    schema,
)
from ace.service.models import (
    Base,
    LearnJob,
    Playbook,
    SimilarityDecisionRow,
    SkillRow,
    SkillSourceRow,
    Tenant,
    utcnow,
)


def add(section: str, content: str) -> UpdateOperation:
    return UpdateOperation(type="ADD", section=section, content=content)


def batch(*ops: UpdateOperation) -> UpdateBatch:
    return UpdateBatch(reasoning="test", operations=list(ops))


def test_database_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ACE_DATABASE_URL", raising=False)
    assert database_url(None) == "sqlite:///ace.db"
    assert database_url(tmp_path / "x.db") == f"sqlite:///{tmp_path}/x.db"
    assert database_url("postgresql://u:p@h:5/db") == "postgresql+psycopg://u:p@h:5/db"
    assert database_url("postgres://h/db") == "postgresql+psycopg://h/db"
    monkeypatch.setenv("ACE_DATABASE_URL", f"sqlite:///{tmp_path}/env.db")
    assert database_url(None) == f"sqlite:///{tmp_path}/env.db"
    for bad, says in [
        ("mysql://h/db", "unsupported scheme 'mysql'"),
        ("postgresql+asyncpg://h/db", "driver 'asyncpg' is not supported"),
        ("sqlite://", "in-memory"),
        ("sqlite:///:memory:", "in-memory"),
        (f"sqlite:///{tmp_path}/missing/x.db", "does not exist"),
    ]:
        with pytest.raises(ConfigurationError, match=says):
            database_url(bad)
    assert not (tmp_path / "missing").exists()


def test_a_playbook_is_stored_as_rows_and_round_trips_the_file_format(
    service_db_url: str, tmp_path: Path
) -> None:
    original = Skillbook.from_dict(ESTABLISHED)
    path = tmp_path / "established.json"
    path.write_text(original.dumps())  # with the defaults loading filled in (timestamps)
    with Store(service_db_url) as store:
        entry = store.import_skillbook("acme", "support", path)
        assert (entry.version, entry.kind, entry.note) == (
            1,
            "import",
            "imported from established.json",
        )
        with store.engine.connect() as connection:
            count = lambda table: connection.execute(  # noqa: E731
                select(func.count()).select_from(table)
            ).scalar_one()
            assert count(SkillRow) == 2
            assert count(SkillSourceRow) == 2
            assert count(SimilarityDecisionRow) == 1
            assert connection.execute(
                select(SkillRow.helpful, SkillRow.neutral).where(
                    SkillRow.skill_id == "general-00001"
                )
            ).one() == (2, 1)
        exported = store.export_skillbook("acme", "support")
        assert exported.to_dict() == original.to_dict()
        out = store.export_to_file("acme", "support", tmp_path / "out.json")
        assert Skillbook.load_from_file(out).to_dict() == original.to_dict()
        assert json.loads(out.read_text())["exported_by"] == "ace 0.9.3"
        # and back in, under another id: the same content
        store.import_skillbook("acme", "copy", Skillbook.loads(exported.dumps()))
        assert store.export_skillbook("acme", "copy").to_dict() == original.to_dict()
        info = store.get_playbook("acme", "support")
        assert info is not None and (info.version, info.skills) == (1, 1)  # one is "invalid"


def test_every_batch_is_a_version_with_its_history(service_db_url: str) -> None:
    with Store(service_db_url) as store:
        first = store.apply_update(None, "pb", batch(add("math", "Show the steps")), job_id="j-1")
        assert (first.version, first.added_ids, first.applied) == (1, ["math-00001"], 1)
        tag = UpdateOperation(type="TAG", skill_id="math-00001", metadata={"helpful": 2})
        missing = UpdateOperation(type="UPDATE", skill_id="nope-00009", content="x")
        second = store.apply_update(None, "pb", batch(tag, missing))
        assert second.version == 2
        assert second.skipped == [
            {
                "operation": {"type": "UPDATE", "section": "", "content": "x",
                              "skill_id": "nope-00009", "metadata": {}},
                "reason": "no skill with id 'nope-00009'",
            }
        ]  # fmt: skip
        book, version = store.load_skillbook(DEFAULT_TENANT, "pb")
        assert version == 2
        skill = book.get_skill("math-00001")
        assert skill is not None and skill.helpful == 2
        assert [(s.trace_id, s.operation_type) for s in skill.sources] == []
        history = store.history(None, "pb")
        assert [(h.version, h.kind, h.job_id, h.rebased) for h in history] == [
            (1, "update", "j-1", False),
            (2, "update", None, False),
        ]
        assert history[0].operations[0]["content"] == "Show the steps"
        assert history[1].skipped[0]["reason"].startswith("no skill")


def test_a_batch_from_an_old_version_is_reapplied_and_skips_what_was_removed(
    service_db_url: str,
) -> None:
    with Store(service_db_url) as store:
        store.apply_update(None, "pb", batch(add("a", "Keep me"), add("b", "Remove me")))
        # two batches computed on version 1; the first removes b-00002
        remove = UpdateOperation(type="REMOVE", skill_id="b-00002")
        assert store.apply_update(None, "pb", batch(remove), base_version=1).version == 2
        late = batch(
            UpdateOperation(type="TAG", skill_id="b-00002", metadata={"harmful": 1}),
            UpdateOperation(type="UPDATE", skill_id="b-00002", content="edited"),
            UpdateOperation(type="TAG", skill_id="a-00001", metadata={"helpful": 1}),
            add("c", "New lesson"),
        )
        applied = store.apply_update(None, "pb", late, base_version=1, job_id="late-job")
        assert applied.version == 3 and applied.entry.rebased and applied.entry.base_version == 1
        assert applied.applied == 2
        assert [s["reason"] for s in applied.skipped] == ["no skill with id 'b-00002'"] * 2
        book, _ = store.load_skillbook(None, "pb")
        assert [s.id for s in book.skills()] == ["a-00001", "c-00003"]
        a = book.get_skill("a-00001")
        assert a is not None and a.helpful == 1
        recorded = store.history(None, "pb")[-1]
        assert recorded.job_id == "late-job" and len(recorded.skipped) == 2


def test_any_earlier_version_can_be_exported_and_restored(service_db_url: str) -> None:
    with Store(service_db_url) as store:
        store.apply_update(None, "pb", batch(add("a", "One")))
        store.apply_update(None, "pb", batch(add("a", "Two")))
        edit = UpdateOperation(type="UPDATE", skill_id="a-00001", content="One, edited")
        store.apply_update(
            None, "pb", batch(edit, UpdateOperation(type="REMOVE", skill_id="a-00002"))
        )
        at = {v: store.export_skillbook(None, "pb", version=v).as_prompt() for v in range(4)}
        assert at[0] == "(the skillbook is empty)"
        assert at[1] == "## a\n- [a-00001] One"
        assert at[2] == "## a\n- [a-00001] One\n- [a-00002] Two"
        assert at[3] == "## a\n- [a-00001] One, edited"
        entry = store.rollback(None, "pb", 2)
        assert (entry.version, entry.kind, entry.note) == (
            4,
            "rollback",
            "rolled back to version 2",
        )
        assert store.export_skillbook(None, "pb").as_prompt() == at[2]
        # a new skill after the rollback never reuses an id
        added = store.apply_update(None, "pb", batch(add("a", "Three")))
        assert added.added_ids == ["a-00003"]
        store.rollback(None, "pb", 4)  # the rollback itself can be undone
        assert store.export_skillbook(None, "pb").as_prompt() == at[2]
        with pytest.raises(UsageError, match="does not exist yet"):
            store.export_skillbook(None, "pb", version=99)
        with pytest.raises(UsageError, match="has no playbook"):
            store.rollback(None, "other", 0)


def test_tenants_never_see_each_other(service_db_url: str) -> None:
    with Store(service_db_url) as store:
        store.apply_update("acme", "pb", batch(add("a", "Acme's lesson")))
        store.apply_update("globex", "pb", batch(add("a", "Globex's lesson")))
        store.apply_update(None, "pb", batch(add("a", "Default lesson")))
        for tenant, lesson in [("acme", "Acme's"), ("globex", "Globex's"), (None, "Default")]:
            book, version = store.load_skillbook(tenant, "pb")
            assert version == 1 and [s.content.split()[0] for s in book.skills()] == [lesson]
            assert [r.skill.content for r in store.top_skills(tenant, "pb", "lesson", 5)] == [
                book.skills()[0].content
            ]
        job = store.submit_job("acme", "pb", {"user_message": "m", "trajectory": "t"})
        assert store.get_job("acme", job.id) is not None
        assert store.get_job("globex", job.id) is None and store.get_job(None, job.id) is None
        assert store.list_jobs("globex") == [] and len(store.list_jobs("acme")) == 1
        assert store.list_playbooks("acme") == ["pb"] and store.list_playbooks("initech") == []
        for bad in ("", " x", "a\nb", "x" * 201, 5):
            with pytest.raises(UsageError):
                store.load_skillbook(bad, "pb")  # type: ignore[arg-type]


def test_learn_requests_are_checked_before_anything_is_stored(service_db_url: str) -> None:
    with Store(service_db_url) as store:
        for request, says in [
            ({"user_message": "m"}, "trajectory: Field required"),
            (
                {"user_message": "  ", "trajectory": "t"},
                "user_message: Value error, must not be empty",
            ),
            ({"user_message": "m", "trajectory": "t", "extra": 1}, "extra: Extra inputs"),
            ({"user_message": "m", "trajectory": 5}, "trajectory: Input should be a valid string"),
            ("m", "expected an object"),
        ]:
            with pytest.raises(UsageError, match=says):
                store.submit_job(None, "pb", request)  # type: ignore[arg-type]
        with pytest.raises(UsageError, match="max_attempts"):
            store.submit_job(None, "pb", {"user_message": "m", "trajectory": "t"}, max_attempts=0)
        assert store.job_counts(None) == {"queued": 0, "running": 0, "done": 0, "failed": 0}
        assert store.get_playbook(None, "pb") is None
        full = {
            "user_message": "m",
            "trajectory": "t",
            "ground_truth": "42",
            "evaluation": "tests failed",
            "reflector_additional_instructions": "focus on tools",
            "curator_additional_instructions": "one section only",
        }
        first = store.submit_job(None, "pb", full, idempotency_key="req-1")
        again = store.submit_job(None, "pb", {"user_message": "other", "trajectory": "t"},
                                 idempotency_key="req-1")  # fmt: skip
        other_tenant = store.submit_job("acme", "pb", full, idempotency_key="req-1")
        assert again.id == first.id != other_tenant.id
        assert (first.status, first.attempts, first.idempotency_key) == ("queued", 0, "req-1")
        # what submit_job returns is what the database holds (it is not read back)
        assert store.get_job(None, first.id) == first
        assert store.get_job("acme", other_tenant.id) == other_tenant
        request = store.get_job_request(None, first.id)
        assert request is not None and request.model_dump(exclude_none=True) == full


def test_finished_jobs_are_purged_per_tenant_or_for_all(service_db_url: str) -> None:
    with Store(service_db_url) as store:
        ids = {
            tenant: [store.submit_job(tenant, "pb", {"user_message": "m", "trajectory": "t"}).id
                     for _ in range(3)]
            for tenant in ("acme", "globex")
        }  # fmt: skip
        old = utcnow() - timedelta(days=40)
        with store.engine.begin() as connection:
            for tenant in ("acme", "globex"):
                done, failed, _queued = ids[tenant]
                connection.execute(
                    update(LearnJob)
                    .where(LearnJob.id == done)
                    .values(status="done", finished_at=old)
                )
                connection.execute(
                    update(LearnJob)
                    .where(LearnJob.id == failed)
                    .values(status="failed", finished_at=utcnow() - timedelta(days=2))
                )
        assert store.purge_jobs(30, tenant="acme") == 1
        assert store.job_counts("acme") == {"queued": 1, "running": 0, "done": 0, "failed": 1}
        assert store.job_counts("globex")["done"] == 1
        assert store.purge_jobs(1, tenant=ALL_TENANTS) == 3  # globex's old one, both failed ones
        for tenant in ("acme", "globex"):
            assert store.job_counts(tenant) == {"queued": 1, "running": 0, "done": 0, "failed": 0}
        with pytest.raises(UsageError):
            store.purge_jobs(-1, tenant=ALL_TENANTS)


def test_a_database_at_the_first_revision_is_upgraded_with_its_data(
    service_db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["db", "upgrade", "--database-url", service_db_url, "--revision", "0001"]) == 0
    assert "upgraded from empty to 0001" in capsys.readouterr().out
    url = _db.database_url(service_db_url)
    engine = _db.make_engine(url)
    try:
        now = utcnow()
        with _db.write(engine) as connection:  # what an ace of revision 0001 wrote
            connection.execute(Tenant.__table__.insert().values(id="acme", created_at=now))
            pk = connection.execute(
                Playbook.__table__.insert()
                .values(tenant_id="acme", playbook_id="pb", version=1, next_id=2, extra={},
                        created_at=now, updated_at=now)
                .returning(Playbook.pk)
            ).scalar_one()  # fmt: skip
            connection.execute(
                SkillRow.__table__.insert().values(
                    playbook_pk=pk, skill_id="db-00001", position=0, section="databases",
                    content="Run migrations before starting workers", status="active",
                    helpful=1, harmful=0, neutral=0, created_at=now.isoformat(),
                    updated_at=now.isoformat(), extra={},
                )
            )  # fmt: skip
        assert schema.state(engine).current == "0001"
    finally:
        engine.dispose()
    head = schema.head_revision()
    with pytest.raises(SchemaVersionError, match=rf"revision 0001, older than this ace's {head}"):
        Store(service_db_url, migrate=False)
    assert main(["db", "upgrade", "--database-url", service_db_url]) == 0
    assert f"upgraded from 0001 to {head}" in capsys.readouterr().out
    assert main(["db", "current", "--database-url", service_db_url]) == 0
    assert f"revision {head} (newest known: {head}; up to date)" in capsys.readouterr().out
    with Store(service_db_url, migrate=False) as store:
        ranked = store.top_skills("acme", "pb", "when should I run the migration?", 3, fill=False)
        assert [r.skill.id for r in ranked] == ["db-00001"]
        store.apply_update("acme", "pb", batch(add("databases", "Back up before migrating")))
        assert store.load_skillbook("acme", "pb")[1] == 2
    assert main(["db", "upgrade", "--database-url", service_db_url]) == 0
    assert f"already at revision {head}" in capsys.readouterr().out


def test_a_newer_schema_is_refused_naming_both_revisions(
    service_db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    Store(service_db_url).close()
    engine = _db.make_engine(_db.database_url(service_db_url))
    with _db.write(engine) as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    engine.dispose()
    with pytest.raises(SchemaVersionError) as refused:
        Store(service_db_url)
    assert (
        "schema revision 0099, newer than this ace knows (its newest is "
        + schema.head_revision()
        + ")"
        in str(refused.value)
    )
    assert (refused.value.current, refused.value.head) == ("0099", schema.head_revision())
    assert main(["db", "upgrade", "--database-url", service_db_url]) == 2
    assert "revision 0099, newer than this ace knows" in capsys.readouterr().err


def test_the_models_match_the_migrations(service_db_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    def ours(obj: object, name: str | None, kind: str, reflected: bool, other: object) -> bool:
        # the full-text index objects are dialect-specific SQL, not models
        return not (name or "").startswith(("skills_fts", "ix_skills_search")) and name != "search"

    with Store(service_db_url) as store, store.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"include_object": ours, "compare_type": True}
        )
        assert compare_metadata(context, Base.metadata) == []


def test_connections_killed_while_idle_are_replaced_before_use(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pooled connection is checked on checkout only after sitting idle; one the server
    closed meanwhile (a restart, an idle timeout) is replaced, so the caller never sees it."""
    import psycopg

    from ace.service import _db

    monkeypatch.setattr(_db, "PING_AFTER_IDLE_S", 0.2)
    with Store(postgres_url) as store:
        store.ensure_playbook("acme", "pb")
        with store._read() as connection:
            pid = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        admin_url = postgres_url.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(admin_url, autocommit=True) as admin:
            killed = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = %s", [pid]
            ).fetchone()
        assert killed == (True,)
        time.sleep(0.3)  # idle longer than PING_AFTER_IDLE_S
        assert store.get_playbook("acme", "pb") is not None
        with store._read() as connection:
            assert connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one() != pid


def _fresh_and_cached(store: Store, tenant: str, playbook_id: str) -> tuple[Any, Any]:
    """The playbook's state read from its rows, and what the store's cache holds for the
    same version (None when it holds nothing)."""
    with store._read() as connection:
        pk = store._playbook_pk(connection, tenant, playbook_id)
        assert pk is not None
        fresh = store._load_state(connection, pk)
    return fresh, store._states.get(pk, fresh.created_at, fresh.version)


def test_cached_playbook_states_equal_their_rows(service_db_url: str) -> None:
    """States are cached per version, read in committed snapshots or written by committed
    transactions; after every kind of change the cached state is exactly what the rows say."""

    def ops(*operations: UpdateOperation) -> UpdateBatch:
        return UpdateBatch(operations=list(operations))

    with Store(service_db_url) as store:
        steps = [
            lambda: store.apply_update("acme", "pb", ops(
                UpdateOperation(type="ADD", section="a", content="first lesson"),
                UpdateOperation(type="ADD", section="b", content="second lesson"),
            )),
            lambda: store.apply_update("acme", "pb", ops(
                UpdateOperation(type="UPDATE", skill_id="a-00001", content="first, edited"),
                UpdateOperation(type="TAG", skill_id="b-00002", metadata={"helpful": 2}),
            )),
            lambda: store.apply_update("acme", "pb", ops(
                UpdateOperation(type="REMOVE", skill_id="b-00002"),
                UpdateOperation(type="ADD", section="c", content="third lesson"),
            ), base_version=1),  # computed on an older version: re-applied on the newer
            lambda: store.rollback("acme", "pb", 1),
            lambda: store.import_skillbook("acme", "pb", Skillbook.from_dict(ESTABLISHED)),
        ]  # fmt: skip
        cached_after_write = 0
        for step in steps:
            step()
            fresh, cached = _fresh_and_cached(store, "acme", "pb")
            if cached is not None:
                cached_after_write += 1
                assert cached == fresh
                # the writer's own skillbook, kept with the state, is what the rows give
                assert cached.skillbook().to_dict() == fresh.skillbook().to_dict()
            store.load_skillbook("acme", "pb")  # a read caches it when the write did not
            fresh, cached = _fresh_and_cached(store, "acme", "pb")
            assert cached == fresh
            assert cached.skillbook().to_dict() == fresh.skillbook().to_dict()
        assert cached_after_write >= 3  # the apply_update steps cache what they wrote


def test_a_recreated_playbook_is_never_served_from_another_stores_cache(
    service_db_url: str,
) -> None:
    """Two stores on one database (two processes): one deletes and re-creates a playbook,
    which SQLite may give the deleted one's pk, at the same version number. The other store
    must read the new content, through top_skills, load_skillbook and the API's ranker."""
    from ace.service.api.ranking import Ranker

    def add(store: Store, content: str) -> None:
        op = UpdateOperation(type="ADD", section="s", content=content)
        store.apply_update("acme", "pb", UpdateBatch(operations=[op]))

    with Store(service_db_url) as reader, Store(service_db_url) as writer:
        ranker = Ranker(reader)
        add(writer, "rotate the old credentials")
        assert reader.load_skillbook("acme", "pb")[0].skills()[0].content == (
            "rotate the old credentials"
        )
        assert [s.content for s in ranker.top("acme", "pb", "credentials", 5).skills] == [
            "rotate the old credentials"
        ]
        with writer._read() as connection:
            old_pk = writer._playbook_pk(connection, "acme", "pb")
        assert writer.delete_playbook("acme", "pb")
        add(writer, "page the on-call engineer")  # re-created, version 1 again
        with writer._read() as connection:
            new_pk = writer._playbook_pk(connection, "acme", "pb")
        if service_db_url.startswith("sqlite"):
            assert new_pk == old_pk  # the case this test is about
        book, version = reader.load_skillbook("acme", "pb")
        assert version == 1 and [s.content for s in book.skills()] == ["page the on-call engineer"]
        ranked = ranker.top("acme", "pb", "credentials engineer", 5).skills
        assert [s.content for s in ranked] == ["page the on-call engineer"]
        assert [r.skill.content for r in reader.top_skills("acme", "pb", "engineer", 5)] == [
            "page the on-call engineer"
        ]


def test_the_text_index_migration_drops_and_rebuilds_the_database_indexes(
    service_db_url: str,
) -> None:
    """0005 drops 0002's full-text indexes (ranking is in process now); its downgrade
    rebuilds them with the existing skills indexed, and upgrading again drops them."""
    from alembic import command
    from sqlalchemy import inspect

    from ace.service import schema

    sqlite = service_db_url.startswith("sqlite")
    probe = (
        "SELECT rowid FROM skills_fts WHERE skills_fts MATCH 'rotating'"
        if sqlite
        else "SELECT pk FROM skills WHERE search @@ to_tsquery('english', 'rotating')"
    )

    def indexed() -> bool:
        if sqlite:
            return "skills_fts" in inspect(store.engine).get_table_names()
        return "search" in {c["name"] for c in inspect(store.engine).get_columns("skills")}

    with Store(service_db_url) as store:
        op = UpdateOperation(type="ADD", section="s", content="rotate the credentials")
        store.apply_update("acme", "pb", UpdateBatch(operations=[op]))
        assert not indexed()
        with store.engine.connect() as connection, connection.begin():
            command.downgrade(schema._config(connection), "0004")
        assert indexed()
        with store.engine.connect() as connection:
            assert len(connection.execute(text(probe)).all()) == 1  # stemmed, like before
        schema.upgrade(store.engine)
        assert not indexed() and schema.state(store.engine).current == "0005"
        ranked = store.top_skills("acme", "pb", "rotating credentials", 3)
        assert [r.skill.content for r in ranked] == ["rotate the credentials"]


def _skill_writes(statements: list[str]) -> dict[str, int]:
    counts = {"INSERT": 0, "UPDATE": 0, "DELETE": 0}
    for statement in statements:
        words = [*statement.split(), "", "", ""]
        verb = words[0].upper()
        table = words[2] if verb in ("INSERT", "DELETE") else words[1]
        if verb in counts and table.strip('"') == SkillRow.__tablename__:
            counts[verb] += 1
    return counts


def test_a_batch_rewrites_only_the_skills_it_names(service_db_url: str) -> None:
    """Applying a batch writes the rows of the skills its operations name and no other;
    the stored result is what applying the batch in memory gives."""
    from sqlalchemy import event

    book = Skillbook()
    for n in range(6):
        book.add_skill("s", f"lesson {n}")
    ids = [s.id for s in book.skills()]
    update_batch = batch(
        UpdateOperation(type="TAG", skill_id=ids[0], metadata={"helpful": 2}),
        UpdateOperation(type="UPDATE", skill_id=ids[1], content="lesson 1, sharper"),
        UpdateOperation(type="REMOVE", skill_id=ids[2]),
        add("t", "a new lesson"),
    )
    with Store(service_db_url) as store:
        store.import_skillbook(None, "pb", book)
        statements: list[str] = []
        event.listen(
            store.engine, "before_cursor_execute", lambda *args: statements.append(args[2])
        )
        store.apply_update(None, "pb", update_batch)
        stored, _ = store.load_skillbook(None, "pb")
    assert _skill_writes(statements) == {"INSERT": 1, "UPDATE": 2, "DELETE": 1}
    book.apply_update(update_batch)

    def comparable(b: Skillbook) -> list[dict[str, object]]:
        return [
            {k: v for k, v in s.to_dict().items() if k not in ("created_at", "updated_at")}
            for s in b.skills(include_inactive=True)
        ]

    assert comparable(stored) == comparable(book)


def test_a_job_on_an_existing_playbook_is_stored_like_the_first(service_db_url: str) -> None:
    """On PostgreSQL a job for an existing playbook is queued by one statement (its
    trajectory included); what it stores is what the transaction that created the
    playbook stored for the first job."""
    from sqlalchemy import event

    from ace.service.models import Trajectory

    request = {"user_message": "why did the refund fail?", "trajectory": "t"}
    with Store(service_db_url) as store:
        first = store.submit_job(None, "pb", request)
        statements: list[str] = []
        event.listen(
            store.engine, "before_cursor_execute", lambda *args: statements.append(args[2])
        )
        second = store.submit_job(None, "pb", request)
        if store.dialect == "postgresql":
            assert len(statements) == 1 and statements[0].lstrip().startswith("WITH")
        for job in (first, second):
            assert store.get_job(None, job.id) == job
        with store.engine.connect() as connection:
            rows = {
                row.id: row._asdict()
                for row in connection.execute(
                    select(Trajectory).where(Trajectory.id.in_([first.id, second.id]))
                )
            }
    assert set(rows) == {first.id, second.id}
    varying = ("id", "started_at", "arguments")
    same = [{k: v for k, v in rows[j.id].items() if k not in varying} for j in (first, second)]
    assert same[0] == same[1]
    assert same[0]["origin"] == "learn_job" and same[0]["playbook_id"] == "pb"
    assert rows[second.id]["arguments"] == {"value": {"learn_job_id": second.id}}
