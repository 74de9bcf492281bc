"""Attacks on the ACE service over HTTP, judged from the victim's side: API keys, tenants,
playbook id prefixes, rate limits, size limits, CORS and hostile ids and contents.

One real uvicorn server per backend (an SQLite file, then a database of the session's
PostgreSQL cluster), on a loopback port, with API keys configured and small size limits.
Every attack stays on 127.0.0.1 and every loop is bounded.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from _postgres import PostgresCluster
from _service_support import ServiceTeam, run_request, wait_for
from sqlalchemy import inspect, select, text

from ace import Skillbook, UpdateBatch, UpdateOperation
from ace.cli import main
from ace.errors import ConfigurationError
from ace.llm.retry import RetryPolicy
from ace.service import LearnerConfig, Store
from ace.service.api import ServiceServer
from ace.service.api.settings import ServiceSettings, check_bind
from ace.service.keys import create_key, hash_token, list_keys, revoke_key
from ace.service.models import ApiKey

FAST = {"poll_s": 0.05, "lease_s": 2.0, "retry_policy": RetryPolicy(max_retries=0)}
KIB = 1024
LIMITS = ServiceSettings(max_trajectory_bytes=64 * KIB, max_text_bytes=16 * KIB, max_k=50)
SECRET = "zebra-secret-42 refund policy for acme only"


@dataclass
class Keys:
    acme: str
    globex: str
    team_a: str  # acme, limited to playbook ids starting "team-a-"
    revoked: str
    slow: str  # acme, 3 requests per minute


@dataclass
class Service:
    server: ServiceServer
    store: Store
    keys: Keys
    backend: str

    def client(self, token: str | None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.server.url, headers=headers, timeout=30)


def learner_config(team: ServiceTeam) -> LearnerConfig:
    return LearnerConfig(
        reflector_model=team.model.name,
        skill_manager_model=team.model.name,
        reflector_settings={"max_retries": 0},
        skill_manager_settings={"max_retries": 0},
    )


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def service(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    database = None
    cluster: PostgresCluster | None = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('security') / 'ace.db'}"
    else:
        cluster = request.getfixturevalue("postgres_cluster")
        database = f"sec_{uuid.uuid4().hex[:10]}"
        url = cluster.create_database(database)
    store = Store(url, pool_size=10)
    try:
        tokens = {
            "acme": create_key(store, "acme", name="acme main")[1],
            "globex": create_key(store, "globex")[1],
            "team_a": create_key(store, "acme", prefixes=["team-a-"])[1],
            "revoked": create_key(store, "acme")[1],
            "slow": create_key(store, "acme", rate_limit=3)[1],
        }
        revoke_key(store, tokens["revoked"].split("_")[1])
        server = ServiceServer(
            store,
            learner=learner_config(ServiceTeam()),
            workers=1,
            port=0,
            settings=LIMITS,
            pool_options=FAST,
            grace_s=5,
        )
        with server:
            yield Service(server, store, Keys(**tokens), request.param)
    finally:
        store.close()
        if cluster is not None and database is not None:
            cluster.drop_database(database)


def concrete(path: str) -> str:
    return (
        path.replace("{playbook_id}", "pb")
        .replace("{job_id}", str(uuid.uuid4()))
        .replace("{skill_id}", "s-1")
    )


# ---------------------------------------------------------------------- keys
def test_every_route_but_health_needs_a_valid_key(service: Service) -> None:
    routes = [
        (method, concrete(route.path))
        for route in service.server.app.routes
        for method in sorted(getattr(route, "methods", None) or ())
        if method != "HEAD"
    ]
    assert len(routes) >= 15
    tokens = {
        "no header": None,
        "garbage": "not-a-key",
        "wrong secret": service.keys.acme[:-4] + "AAAA",
        "revoked": service.keys.revoked,
    }
    for label, token in tokens.items():
        with service.client(token) as http:
            for method, path in [*routes, ("GET", "/no/such/route")]:
                reply = http.request(method, path, json={} if method == "POST" else None)
                if path in ("/healthz", "/readyz"):
                    assert reply.status_code == 200, (label, path)
                    continue
                assert reply.status_code == 401, (label, method, path, reply.text)
                assert reply.headers["www-authenticate"] == 'Bearer realm="ace"'
    assert service.store.list_playbooks("acme") == []  # nothing was created by any of them
    with service.client(service.keys.acme) as http:
        assert http.get("/playbooks").status_code == 200


def test_a_key_revoked_while_in_use_is_refused_at_its_next_request(service: Service) -> None:
    info, token = service.server.keys.create("acme", name="short-lived")
    with service.client(token) as http:
        assert http.post("/playbooks/k1/embed_prompt", json={"prompt": "p"}).status_code == 200
        revoke_key(service.store, info.id)
        refused = http.post("/playbooks/k1/embed_prompt", json={"prompt": "p"})
        assert refused.status_code == 401
        assert refused.json()["detail"] == "invalid or revoked API key"


def test_keys_are_stored_as_hashes_only(service: Service) -> None:
    with service.store._read() as connection:
        rows = connection.execute(select(*ApiKey.__table__.c)).all()
    tokens = set(vars(service.keys).values())
    for row in rows:
        stored = " ".join(str(value) for value in row)
        assert not any(token.split("_", 2)[2] in stored for token in tokens)
    hashes = {row.token_hash for row in rows}
    assert {hash_token(t) for t in tokens} <= hashes
    assert hash_token(service.keys.acme) == hashlib.sha256(service.keys.acme.encode()).hexdigest()


# ---------------------------------------------------------------------- tenants
def test_one_tenant_never_reads_or_changes_another_tenants_playbooks_or_jobs(
    service: Service,
) -> None:
    acme = service.client(service.keys.acme)
    globex = service.client(service.keys.globex)
    with acme, globex:
        service.store.apply_update(
            "acme",
            "shared-name",
            UpdateBatch(operations=[UpdateOperation(type="ADD", section="policy", content=SECRET)]),
        )
        (secret_skill,) = service.store.load_skillbook("acme", "shared-name")[0].skills()
        job_id = acme.post(
            "/playbooks/shared-name/episodes/learn",
            json=run_request("acme"),
            headers={"Idempotency-Key": "acme-run-1"},
        ).json()["learn_job_id"]
        wait_for(lambda: acme.get(f"/jobs/{job_id}").json()["status"] == "done", 30, "acme's job")
        before = acme.get("/playbooks/shared-name").json()
        history_before = acme.get("/playbooks/shared-name/history").json()

        # globex tries everything it can name: acme's job id, acme's playbook id, skill id,
        # idempotency key; and asks for acme's secret by its words.
        answers = [
            globex.get(f"/jobs/{job_id}"),
            globex.get("/playbooks/shared-name"),
            globex.get("/playbooks/shared-name", headers={"Accept": "text/markdown"}),
            globex.get(f"/playbooks/shared-name/skills/{secret_skill.id}"),
            globex.get("/playbooks/shared-name/history"),
            globex.get("/playbooks/shared-name/export"),
            globex.post("/playbooks/shared-name/rollback", json={"to_version": 0}),
            globex.delete("/playbooks/shared-name"),
        ]
        assert [a.status_code for a in answers] == [404] * len(answers)
        embedded = globex.post(
            "/playbooks/shared-name/embed_prompt", json={"prompt": "zebra secret refund policy"}
        )
        assert embedded.status_code == 200 and embedded.json()["skill_ids"] == []
        reused = globex.post(
            "/playbooks/shared-name/episodes/learn",
            json=run_request("globex"),
            headers={"Idempotency-Key": "acme-run-1"},
        )
        assert reused.status_code == 202 and reused.json()["learn_job_id"] != job_id
        imported = globex.post(
            "/playbooks/shared-name/import",
            content=Skillbook().dumps(),
            headers={"Content-Type": "application/json"},
        )
        assert imported.status_code == 200  # into globex's own playbook of that name
        listing = globex.get("/playbooks").json()["items"]
        assert [p["playbook_id"] for p in listing] == ["shared-name"]
        leaked = " ".join(a.text for a in [*answers, embedded, reused, imported]) + str(listing)
        assert "for acme only" not in leaked
        assert secret_skill.id not in embedded.text + str(listing)

        # judged from acme's side: nothing of acme's changed
        assert acme.get("/playbooks/shared-name").json() == before
        assert acme.get("/playbooks/shared-name/history").json() == history_before
        assert acme.get(f"/jobs/{job_id}").json()["status"] == "done"
        assert service.store.get_job("globex", job_id) is None
        assert [j.id for j in service.store.list_jobs("acme", playbook_id="shared-name")] == [
            job_id
        ]


def test_a_prefix_limited_key_stays_within_its_prefixes(service: Service) -> None:
    acme = service.client(service.keys.acme)
    team_a = service.client(service.keys.team_a)
    with acme, team_a:
        other_job = acme.post("/playbooks/team-b-x/episodes/learn", json=run_request("b")).json()[
            "learn_job_id"
        ]
        acme.post("/playbooks/team-a/embed_prompt", json={"prompt": "p"})
        assert (
            team_a.post("/playbooks/team-a-1/embed_prompt", json={"prompt": "p"}).status_code == 200
        )
        for escape in ("team-b-x", "team-a", "TEAM-A-1", "team-a_1", "xteam-a-1", "team-b-x"):
            reply = team_a.post(f"/playbooks/{escape}/embed_prompt", json={"prompt": "p"})
            assert reply.status_code == 403, escape
            assert (
                reply.json()["detail"]
                == "this API key may only use playbook ids starting with 'team-a-'"
            )
            assert team_a.get(f"/playbooks/{escape}").status_code == 403
            assert team_a.delete(f"/playbooks/{escape}").status_code == 403
        for encoded in ("team-a-%2F..%2Fteam-b-x", "team-a-%00", "team-a-..%5Cteam-b-x"):
            reply = team_a.get(f"/playbooks/{encoded}")
            assert reply.status_code in (404, 422), (encoded, reply.status_code)
        # the same tenant's job of another prefix is "not found" to this key
        assert team_a.get(f"/jobs/{other_job}").status_code == 404
        assert acme.get(f"/jobs/{other_job}").status_code == 200
        listed = [p["playbook_id"] for p in team_a.get("/playbooks").json()["items"]]
        assert listed == ["team-a-1"]
        clash = team_a.post(
            "/playbooks/team-a-2/episodes/learn",
            json=run_request("c"),
            headers={"Idempotency-Key": "shared-key"},
        )
        assert clash.status_code == 202
        stolen = acme.post(
            "/playbooks/team-b-y/episodes/learn",
            json=run_request("d"),
            headers={"Idempotency-Key": "shared-key"},
        )
        assert stolen.status_code == 409 and "team-a-2" not in stolen.text
    assert service.store.get_playbook("acme", "team-b-x") is not None  # untouched


def test_each_key_is_rate_limited_with_retry_after(service: Service) -> None:
    with service.client(service.keys.slow) as slow, service.client(service.keys.acme) as acme:
        statuses = [slow.get("/playbooks").status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        refused = slow.get("/playbooks")
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["retry-after"]) <= 20
        assert "3 requests per minute" in refused.json()["detail"]
        assert acme.get("/playbooks").status_code == 200  # other keys are not affected
        assert slow.get("/healthz").status_code == 200


# ---------------------------------------------------------------------- hostile input
HOSTILE_IDS = [
    "x'; DROP TABLE playbooks;--",
    'a" OR "1"="1',
    "../../etc/passwd",
    "..",
    "%00",
    "plàybook",
    "ｐｌａｙ",  # fullwidth letters
    "a\u202eb",  # right-to-left override
    "a/b",
    "a\\b",
    "x" * 129,
]
HOSTILE_TEXT = [
    "'); DROP TABLE skills; --",
    '" OR 1=1 --',
    "scope : p1 OR content : *",  # FTS5 column filters and syntax
    'NEAR("a" "b") AND "unbalanced',
    "日本語 🚀 \u202e mirrored",
    "../../etc/passwd",
    "%s %(x)s {0} $1 ?",
]


def test_hostile_ids_are_refused_and_hostile_contents_round_trip_untouched(
    service: Service,
) -> None:
    store = service.store
    with service.client(service.keys.acme) as http:
        for bad in HOSTILE_IDS:
            reply = http.post(
                f"/playbooks/{quote(bad, safe='')}/embed_prompt", json={"prompt": "p"}
            )
            assert reply.status_code in (404, 422), (bad, reply.status_code)
            if reply.status_code == 422:
                assert reply.json()["detail"][0]["loc"] == ["path", "playbook_id"]
        assert all(re.fullmatch(r"[a-z0-9-]+", p) for p in store.list_playbooks("acme"))

        # contents reach the database only as bound values: stored and read back as sent
        book = Skillbook()
        for index, value in enumerate(HOSTILE_TEXT):
            book.add_skill(value, f"{value} (skill {index})", skill_id=f"{value}#{index}")
        imported = http.post(
            "/playbooks/hostile/import",
            content=book.dumps(),
            headers={"Content-Type": "application/json"},
        )
        assert imported.status_code == 200, imported.text
        for index, value in enumerate(HOSTILE_TEXT):
            skill = http.get(f"/playbooks/hostile/skills/{quote(f'{value}#{index}', safe='')}")
            if "/" in value:  # a slash can never be one path segment
                assert skill.status_code == 404
                continue
            assert skill.json()["content"] == f"{value} (skill {index})", value
        exported = Skillbook.loads(http.get("/playbooks/hostile/export").content)
        assert exported.to_dict()["skills"] == book.to_dict()["skills"]
        for value in HOSTILE_TEXT:
            embedded = http.post("/playbooks/hostile/embed_prompt", json={"prompt": value, "k": 50})
            assert embedded.status_code == 200, (value, embedded.text)
            assert embedded.json()["prompt"].startswith(value)
            assert len(embedded.json()["skill_ids"]) == len(HOSTILE_TEXT)
        request = {
            "user_message": " ".join(HOSTILE_TEXT),
            "trajectory": "\n".join(HOSTILE_TEXT) + "\nLESSON-hostile",
            "ground_truth": HOSTILE_TEXT[0],
            "evaluation": HOSTILE_TEXT[2],
        }
        job_id = http.post(
            "/playbooks/hostile/episodes/learn",
            json=request,
            headers={"Idempotency-Key": HOSTILE_TEXT[0]},
        ).json()["learn_job_id"]
        stored = store.get_job_request("acme", job_id)
        assert stored is not None and stored.model_dump(exclude_none=True) == request
        wait_for(lambda: http.get(f"/jobs/{job_id}").json()["status"] == "done", 30, "the job")

        # what a database cannot store is a clear 422, not a server error
        for field, escaped in (("trajectory", "a\\u0000b"), ("user_message", "\\ud800")):
            body = {"user_message": "m", "trajectory": "t", field: "<>"}
            raw = json.dumps(body).replace("<>", escaped).encode()
            reply = http.post(
                "/playbooks/hostile/episodes/learn",
                content=raw,
                headers={"Content-Type": "application/json"},
            )
            assert reply.status_code == 422, (field, reply.text)
            assert reply.json()["detail"][0]["loc"] == ["body", field]
        bad_book = http.post(
            "/playbooks/hostile/import",
            content=b'{"skills": {"a": {"id": "a", "section": "s", "content": "x\\u0000y"}}}',
            headers={"Content-Type": "application/json"},
        )
        assert bad_book.status_code == 422
    # every table is still there, and only acme's rows were written
    names = set(inspect(store.engine).get_table_names())
    assert {"playbooks", "skills", "learn_jobs", "api_keys", "tenants"} <= names
    with store._read() as connection:
        tenants = set(
            connection.execute(text("SELECT DISTINCT tenant_id FROM playbooks")).scalars()
        )
    assert tenants <= {"acme", "globex"}


def test_size_limits_are_the_configured_ones(service: Service) -> None:
    with service.client(service.keys.acme) as http:
        exact = {"user_message": "m LESSON-size", "trajectory": "t" * (64 * KIB)}
        assert http.post("/playbooks/sizes/episodes/learn", json=exact).status_code == 202
        over = {"user_message": "m", "trajectory": "t" * (64 * KIB + 1)}
        reply = http.post("/playbooks/sizes/episodes/learn", json=over)
        assert reply.status_code == 413 and reply.json()["field"] == "trajectory"
        message = {"user_message": "m" * (16 * KIB + 1), "trajectory": "t"}
        assert http.post("/playbooks/sizes/episodes/learn", json=message).json()["field"] == (
            "user_message"
        )
        raw = http.post(
            "/playbooks/sizes/episodes/learn",
            content=b" " * (LIMITS.body_limit("/playbooks/sizes/episodes/learn") + 1),
            headers={"Content-Type": "application/json"},
        )
        assert raw.status_code == 413 and "at most" in raw.json()["detail"]
        assert (
            http.post("/playbooks/sizes/embed_prompt", json={"prompt": "p", "k": 51}).json()[
                "message"
            ]
            == "k: k must be between 1 and 50"
        )
        # an unauthenticated body is never read: refused by the key check first
        with service.client(None) as anonymous:
            refused = anonymous.post(
                "/playbooks/sizes/episodes/learn", content=b"x" * (10 * 1024 * KIB)
            )
            assert refused.status_code == 401


# ---------------------------------------------------------------------- deployment
def test_listening_beyond_loopback_needs_keys_or_insecure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        check_bind(host, keys_configured=False, insecure=False)
    for host in ("0.0.0.0", "::", "192.168.1.10"):
        with pytest.raises(ConfigurationError, match="--insecure"):
            check_bind(host, keys_configured=False, insecure=False)
        check_bind(host, keys_configured=True, insecure=False)
        check_bind(host, keys_configured=False, insecure=True)
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    with Store(empty) as store, pytest.raises(ConfigurationError, match="refusing to listen on"):
        ServiceServer(store, learner=LearnerConfig("m", "m"), host="0.0.0.0", port=0)
    assert main(["serve", "--host", "0.0.0.0", "--database-url", empty]) == 2
    assert "refusing to listen on 0.0.0.0 without API keys" in capsys.readouterr().err


def test_cors_answers_only_the_configured_origins(tmp_path: Path) -> None:
    settings = ServiceSettings(cors_origins=("https://app.example",))
    with Store(f"sqlite:///{tmp_path / 'cors.db'}") as store:
        team = ServiceTeam()
        with ServiceServer(
            store, learner=learner_config(team), port=0, settings=settings
        ) as server:
            with httpx.Client(base_url=server.url) as http:
                for origin, allowed in (
                    ("https://app.example", True),
                    ("https://evil.example", False),
                ):
                    preflight = http.options(
                        "/playbooks/pb/embed_prompt",
                        headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
                    )
                    got = preflight.headers.get("access-control-allow-origin")
                    assert got == (origin if allowed else None), origin
    with pytest.raises(ConfigurationError, match="CORS origin"):
        ServiceSettings(cors_origins=("app.example",))


def test_ace_keys_create_list_revoke(service: Service, capsys: pytest.CaptureFixture[str]) -> None:
    url = service.store.url
    assert main(["keys", "create", "--tenant", "initech", "--prefix", "tps-", "--name", "ci",
                 "--database-url", url]) == 0  # fmt: skip
    out = capsys.readouterr()
    token = out.out.strip()
    assert re.fullmatch(r"ace_[0-9a-f]{12}_[A-Za-z0-9_-]{43}", token)
    key_id = token.split("_")[1]
    assert f"key {key_id} of tenant 'initech'" in out.err
    assert main(["keys", "list", "--tenant", "initech", "--database-url", url]) == 0
    listed = capsys.readouterr().out
    assert key_id in listed and "prefixes=tps-" in listed and token.split("_", 2)[2] not in listed
    assert main(["keys", "list", "--prefix", "tps", "--json", "--database-url", url]) == 0
    assert '"tenant": "initech"' in capsys.readouterr().out
    with service.client(token) as http:
        assert http.post("/playbooks/tps-1/embed_prompt", json={"prompt": "p"}).status_code == 200
        assert main(["keys", "revoke", key_id, "--tenant", "other", "--database-url", url]) == 2
        assert "no API key" in capsys.readouterr().err
        assert main(["keys", "revoke", key_id, "--database-url", url]) == 0
        assert http.post("/playbooks/tps-1/embed_prompt", json={"prompt": "p"}).status_code == 401
    assert [k.active for k in list_keys(service.store, "initech")] == [False]
    assert main(["keys", "create", "--prefix", "bad prefix", "--database-url", url]) == 2
    assert "key prefix 'bad prefix'" in capsys.readouterr().err


def test_the_api_keys_migration_upgrades_and_downgrades(service_db_url: str) -> None:
    from alembic import command

    from ace.service import _db, schema

    engine = _db.make_engine(_db.database_url(service_db_url))
    try:
        schema.upgrade(engine, "0002")
        assert "api_keys" not in inspect(engine).get_table_names()
        schema.upgrade(engine, "0003")
        columns = {c["name"] for c in inspect(engine).get_columns("api_keys")}
        assert columns == {
            "id", "tenant_id", "token_hash", "prefixes", "name", "rate_limit", "created_at",
            "revoked_at",
        }  # fmt: skip
        with engine.connect() as connection, connection.begin():
            command.downgrade(schema._config(connection), "0002")
        assert "api_keys" not in inspect(engine).get_table_names()
        assert schema.state(engine).current == "0002"
    finally:
        engine.dispose()
