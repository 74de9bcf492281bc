"""The ACE service over HTTP, as an agent and an operator use it: a real uvicorn server on a
loopback port (one per module) over an SQLite store, its in-process worker pool learning
through scripted roles (``ServiceTeam``, reached through litellm), driven with httpx and
``ace.client``. Security (keys, tenants, prefixes, hostile input) is in
``test_service_api_security``; PostgreSQL and ``ace serve`` in ``test_service_api_postgres``.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from _service_support import ServiceTeam, lesson, run_request, wait_for
from logfire.testing import CaptureLogfire

from ace import Skillbook, UpdateBatch, UpdateOperation
from ace.client import ACEClient, ACEServiceError, AsyncACEClient
from ace.llm.retry import RetryPolicy
from ace.service import LearnerConfig, Store
from ace.service.api import ServiceServer
from ace.service.api.ranking import Ranker
from ace.service.api.settings import MIB, ServiceSettings
from ace.service.markers import PLAYBOOK_BEGIN, PLAYBOOK_END, embed

FAST = {"poll_s": 0.05, "lease_s": 2.0, "retry_policy": RetryPolicy(max_retries=0)}


def learner_config(team: ServiceTeam) -> LearnerConfig:
    return LearnerConfig(
        reflector_model=team.model.name,
        skill_manager_model=team.model.name,
        reflector_settings={"max_retries": 0},
        skill_manager_settings={"max_retries": 0},
    )


@pytest.fixture(scope="module")
def team() -> ServiceTeam:
    return ServiceTeam()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, team: ServiceTeam) -> Iterator[ServiceServer]:
    folder = tmp_path_factory.mktemp("api")
    store = Store(f"sqlite:///{folder / 'ace.db'}", pool_size=10)
    service = ServiceServer(
        store, learner=learner_config(team), workers=2, port=0, pool_options=FAST, grace_s=5
    )
    with service:
        yield service
    store.close()


@pytest.fixture(scope="module")
def http(server: ServiceServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


def learn_body(tag: str, prompt: str = "") -> dict[str, str]:
    request = run_request(tag)
    if prompt:
        request["user_message"] = prompt
        request["trajectory"] = f"{prompt}\nAssistant: 41\nEvaluation: wrong, 42"
    return request


def read_response(sock: socket.socket) -> str:
    """One whole HTTP response (headers and its Content-Length of body) from ``sock``."""
    data = b""
    for _ in range(100):  # bounded: a response is a few hundred bytes
        chunk = sock.recv(65536)
        data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = re.search(rb"content-length: (\d+)", head, re.IGNORECASE)
        if not chunk or (length and len(body) >= int(length.group(1))):
            break
    return data.decode()


def skill_lines(prompt: str) -> list[str]:
    block = prompt[prompt.index(PLAYBOOK_BEGIN) : prompt.index(PLAYBOOK_END)]
    return [line for line in block.splitlines() if line.startswith("- [")]


# ---------------------------------------------------------------------- the seed's two calls
def test_an_agent_learns_through_the_two_calls(server: ServiceServer, team: ServiceTeam) -> None:
    with ACEClient(server.url) as ace:
        first = ace.embed_prompt("support-bot", "Refund order 17. LESSON-refund", k=20)
        assert first.startswith("Refund order 17. LESSON-refund\n\n" + PLAYBOOK_BEGIN)
        assert first.rstrip().endswith(PLAYBOOK_END) and skill_lines(first) == []
        trajectory = f"{first}\nAssistant: refunded twice\nEvaluation: double refund"
        job_id = ace.start_learn("support-bot", first, trajectory)
        job = ace.wait_for_job(job_id, timeout=30)
        assert job["status"] == "done", job
        assert job["operations"] == [
            {"type": "ADD", "section": "lessons", "content": lesson("refund"), "metadata": {}}
        ]
        assert job["reflection"]["key_insight"] == lesson("refund")
        assert {"reflect_s", "curate_s", "queued_s", "total_s"} <= set(job["timings"])
        assert job["attempts"] == 1 and job["error"] is None and job["playbook_version"] == 1

        second = ace.embed_prompt("support-bot", "Refund order 18. LESSON-again")
        assert skill_lines(second) == [f"- [lessons-00001] {lesson('refund')}"]
        # the next run cites the embedded skill; the reflector marks it helpful
        again = ace.start_learn("support-bot", second, f"{second}\nAssistant: ok")
        assert ace.wait_for_job(again, timeout=30)["reflection"]["cited_skill_ids"] == [
            "lessons-00001"
        ]
        third = ace.embed_prompt("support-bot", "Refund order 19")
        assert f"- [lessons-00001] {lesson('refund')} (helpful 1)" in skill_lines(third)
    assert team.count("reflector", "LESSON-refund") == 1


def test_the_async_client_makes_the_same_calls(server: ServiceServer) -> None:
    async def run() -> dict[str, object]:
        async with AsyncACEClient(server.url) as ace:
            prompt = await ace.embed_prompt("async-bot", "Plan the trip. LESSON-async", k=5)
            job_id = await ace.start_learn("async-bot", prompt, f"{prompt}\nAssistant: done")
            job = await ace.wait_for_job(job_id, timeout=30)
            assert await ace.get_job(job_id) == job
            return job

    job = asyncio.run(run())
    assert job["status"] == "done" and job["playbook_id"] == "async-bot"


def test_a_retried_learn_post_with_the_same_idempotency_key_returns_the_same_job(
    http: httpx.Client, server: ServiceServer
) -> None:
    headers = {"Idempotency-Key": "run-2026-05-01-0001"}
    first = http.post("/playbooks/idem/episodes/learn", json=learn_body("idem"), headers=headers)
    again = http.post("/playbooks/idem/episodes/learn", json=learn_body("idem"), headers=headers)
    assert first.status_code == again.status_code == 202
    assert first.json()["learn_job_id"] == again.json()["learn_job_id"]
    assert first.headers["location"] == f"/jobs/{first.json()['learn_job_id']}"
    assert len(server.store.list_jobs(None, playbook_id="idem")) == 1
    other = http.post("/playbooks/idem/episodes/learn", json=learn_body("idem"))
    assert other.json()["learn_job_id"] != first.json()["learn_job_id"]
    # the same key for another playbook is refused rather than answered with this job
    clash = http.post("/playbooks/idem-2/episodes/learn", json=learn_body("x"), headers=headers)
    assert clash.status_code == 409 and "another playbook" in clash.json()["detail"]


def test_embed_prompt_ranks_by_relevance_and_bounds_k(
    http: httpx.Client, server: ServiceServer
) -> None:
    store = server.store
    contents = [
        ("billing", "Check the invoice currency before refunding"),
        ("shipping", "Confirm the courier tracking number with the customer"),
        ("billing", "Refund to the original payment method only"),
        ("general", "Greet the customer by name"),
    ]
    store.apply_update(
        None,
        "ranked",
        UpdateBatch(
            operations=[UpdateOperation(type="ADD", section=s, content=c) for s, c in contents]
        ),
    )
    reply = http.post(
        "/playbooks/ranked/embed_prompt", json={"prompt": "refund the invoice", "k": 2}
    )
    assert reply.status_code == 200
    body = reply.json()
    ranked = store.top_skills(None, "ranked", "refund the invoice", 2)
    assert body["skill_ids"] == [r.skill.id for r in ranked]
    assert body["prompt"] == embed("refund the invoice", [r.skill for r in ranked])
    assert body["playbook_version"] == 1
    for k in (0, 101, -1, "many", 2.5, True):
        bad = http.post("/playbooks/ranked/embed_prompt", json={"prompt": "x", "k": k})
        assert bad.status_code == 422, k
        assert bad.json()["detail"][0]["loc"] == ["body", "k"], bad.json()
        assert bad.json()["message"].startswith("k: ")
    missing = http.post("/playbooks/ranked/embed_prompt", json={"k": 3})
    assert missing.status_code == 422 and missing.json()["message"] == "prompt: Field required"
    extra = http.post("/playbooks/ranked/embed_prompt", json={"prompt": "x", "top": 3})
    assert extra.status_code == 422 and extra.json()["detail"][0]["loc"] == ["body", "top"]
    assert http.post("/playbooks/ranked/embed_prompt", content=b"{not json").status_code == 422


def test_the_cached_ranking_matches_the_store_ranking(service_db_url: str) -> None:
    """The API ranks from a per-version cache; its order must be ``top_skills``'s exactly,
    also with evidence, inactive skills, ties and after the playbook changes."""
    with Store(service_db_url) as store:
        _compare_rankings(store)


def _compare_rankings(store: Store) -> None:
    operations = [
        UpdateOperation(type="ADD", section=f"s{i % 3}", content=f"alpha beta item {i} gamma")
        for i in range(12)
    ] + [UpdateOperation(type="ADD", section="other", content="unrelated words here")]
    store.apply_update(None, "cache", UpdateBatch(operations=operations))
    book, _ = store.load_skillbook(None, "cache")
    ids = [s.id for s in book.skills()]
    tags = [
        UpdateOperation(type="TAG", skill_id=ids[3], metadata={"helpful": 3}),
        UpdateOperation(type="TAG", skill_id=ids[5], metadata={"harmful": 2}),
        UpdateOperation(type="REMOVE", skill_id=ids[7]),
    ]
    ranker = Ranker(store)
    queries = ["alpha", "gamma item 4", "unrelated", "nothing matches", "", "item 11 beta"]
    for round_ in range(2):
        for query in queries:
            for k in (1, 3, 20):
                expected = [r.skill.id for r in store.top_skills(None, "cache", query, k)]
                got = [s.id for s in ranker.top("default", "cache", query, k).skills]
                assert got == expected, (round_, query, k)
        if round_ == 0:
            store.apply_update(None, "cache", UpdateBatch(operations=tags))
    assert ids[7] not in [s.id for s in ranker.top("default", "cache", "alpha", 20).skills]

    # many matches with mixed evidence (the ranker leaves out hopeless matches early)
    rng = random.Random(7)
    words = [f"w{i}" for i in range(40)]
    adds = [
        UpdateOperation(type="ADD", section="mix", content=" ".join(rng.sample(words, 6)))
        for _ in range(150)
    ]
    store.apply_update(None, "mixed", UpdateBatch(operations=adds))
    book, _ = store.load_skillbook(None, "mixed")
    tags = [
        UpdateOperation(
            type="TAG",
            skill_id=skill.id,
            metadata={"helpful": rng.randint(0, 6), "harmful": rng.randint(0, 6)},
        )
        for skill in book.skills()
    ]
    store.apply_update(None, "mixed", UpdateBatch(operations=tags))
    for _ in range(25):
        query, k = " ".join(rng.sample(words, rng.randint(1, 8))), rng.randint(1, 40)
        expected = [r.skill.id for r in store.top_skills(None, "mixed", query, k)]
        assert [s.id for s in ranker.top("default", "mixed", query, k).skills] == expected


# ---------------------------------------------------------------------- jobs and playbooks
def test_a_job_is_described_and_bad_job_ids_are_named(http: httpx.Client) -> None:
    job_id = http.post("/playbooks/jobs-pb/episodes/learn", json=learn_body("jobs")).json()[
        "learn_job_id"
    ]
    wait_for(lambda: http.get(f"/jobs/{job_id}").json()["status"] == "done", 30, "the job")
    job = http.get(f"/jobs/{job_id}").json()
    assert {"status", "attempts", "error", "timings", "reflection", "operations"} <= set(job)
    bad = http.get("/jobs/not-a-job")
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["path", "job_id"]
    unknown = http.get("/jobs/00000000-0000-4000-8000-000000000000")
    assert unknown.status_code == 404


def test_playbooks_are_listed_shown_exported_imported_rolled_back_and_deleted(
    http: httpx.Client, server: ServiceServer, tmp_path: Path
) -> None:
    for name in ("pages-a", "pages-b", "pages-c", "pages-d", "pages-e"):
        assert (
            http.post(f"/playbooks/{name}/embed_prompt", json={"prompt": "hi"}).status_code == 200
        )
    seen: list[str] = []
    after = "pages-"  # ids sort after their prefix: start the walk there
    while after:
        page = http.get("/playbooks", params={"limit": 2, "after": after}).json()
        seen += [p["playbook_id"] for p in page["items"] if p["playbook_id"].startswith("pages-")]
        after = page["next_after"]
        assert len(page["items"]) <= 2
    assert seen == ["pages-a", "pages-b", "pages-c", "pages-d", "pages-e"]
    assert http.get("/playbooks", params={"limit": 0}).json()["detail"][0]["loc"] == [
        "query",
        "limit",
    ]
    assert http.get("/playbooks").json()["items"][0]["version"] >= 0

    # a skillbook file in, the same file out, as JSON, Markdown and one skill
    book = Skillbook()
    first = book.add_skill("triage", "Ask for the error message first")
    book.add_skill("triage", "Reproduce before fixing")
    imported = http.post(
        "/playbooks/files/import",
        content=book.dumps(),
        headers={"Content-Type": "application/json"},
    )
    assert imported.status_code == 200 and imported.json() == {
        "playbook_id": "files",
        "version": 1,
        "skills": 2,
    }
    exported = http.get("/playbooks/files/export")
    assert exported.headers["content-disposition"] == 'attachment; filename="files.json"'
    assert Skillbook.loads(exported.content).to_dict() == book.to_dict()
    shown = http.get("/playbooks/files").json()
    assert shown["version"] == 1 and [s["content"] for s in shown["skills"]] == [
        "Ask for the error message first",
        "Reproduce before fixing",
    ]
    markdown = http.get("/playbooks/files", headers={"Accept": "text/markdown"})
    assert markdown.headers["content-type"].startswith("text/markdown")
    assert markdown.text.startswith("# Skillbook") and "Reproduce before fixing" in markdown.text
    assert http.get(f"/playbooks/files/skills/{first.id}").json()["content"] == first.content
    assert http.get("/playbooks/files/skills/triage-99999").status_code == 404

    with ACEClient(server.url) as ace:
        assert ace.import_playbook("files", Skillbook().dumps()) == 2
        assert ace.get_playbook("files")["skills"] == []
        rolled = http.post("/playbooks/files/rollback", json={"to_version": 1})
        assert rolled.json()["version"] == 3
        assert len(ace.get_playbook("files")["skills"]) == 2
        assert [h["kind"] for h in ace.history("files")] == ["import", "import", "rollback"]
        assert Skillbook.loads(ace.export_playbook("files", version=2)).skills() == []
        too_far = http.get("/playbooks/files/export", params={"version": 9})
        assert too_far.status_code == 422 and "does not exist yet" in too_far.json()["message"]
        bad_file = http.post("/playbooks/files/import", content=b'{"skills": 3}')
        assert bad_file.status_code == 422

        job_id = ace.start_learn("files", "Task LESSON-gone", "trace LESSON-gone")
        ace.delete_playbook("files")
        with pytest.raises(ACEServiceError) as gone:
            ace.get_playbook("files")
        assert gone.value.status == 404
        with pytest.raises(ACEServiceError) as job_gone:
            ace.get_job(job_id)
        assert job_gone.value.status == 404
        assert http.delete("/playbooks/files").status_code == 404
    # an id deleted and used again starts empty (nothing of the old one is ranked)
    again = http.post("/playbooks/files/embed_prompt", json={"prompt": "error message"}).json()
    assert again["skill_ids"] == [] and again["playbook_version"] == 0


def test_playbook_ids_and_other_caller_mistakes_are_422_naming_the_field(
    http: httpx.Client,
) -> None:
    for bad in ("-starts-with-dash", ".hidden", "x" * 129, "has space", "semi;colon", "é"):
        reply = http.post(f"/playbooks/{bad}/embed_prompt", json={"prompt": "p"})
        assert reply.status_code == 422, bad
        assert reply.json()["detail"][0]["loc"] == ["path", "playbook_id"]
        assert reply.json()["message"].startswith("playbook_id: playbook_id must be 1-128")
    no_trajectory = http.post("/playbooks/ok/episodes/learn", json={"user_message": "m"})
    assert no_trajectory.status_code == 422
    assert no_trajectory.json()["message"] == "trajectory: Field required"
    blank = http.post("/playbooks/ok/episodes/learn", json={"user_message": " ", "trajectory": "t"})
    assert blank.json()["detail"][0]["loc"] == ["body", "user_message"]
    wrong_type = http.post(
        "/playbooks/ok/episodes/learn", json={"user_message": "m", "trajectory": 7}
    )
    assert wrong_type.json()["detail"][0]["loc"] == ["body", "trajectory"]
    long_key = http.post(
        "/playbooks/ok/episodes/learn",
        json=learn_body("k"),
        headers={"Idempotency-Key": "k" * 201},
    )
    assert long_key.status_code == 422
    assert long_key.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]
    assert http.get("/playbooks/ok/history", params={"since_version": -1}).status_code == 422


def test_a_trajectory_over_ten_megabytes_is_413_and_bodies_are_capped_before_parsing(
    http: httpx.Client, server: ServiceServer
) -> None:
    assert ServiceSettings().max_trajectory_bytes == 10 * MIB
    over = {"user_message": "m", "trajectory": "x" * (10 * MIB + 1)}
    reply = http.post("/playbooks/big/episodes/learn", json=over)
    assert reply.status_code == 413
    assert reply.json() == {
        "detail": f"trajectory is {10 * MIB + 1} bytes; the limit is {10 * MIB} bytes",
        "field": "trajectory",
    }
    wide = {"user_message": "m", "trajectory": "é" * (5 * MIB + 1)}  # 2 bytes each in UTF-8
    assert http.post("/playbooks/big/episodes/learn", json=wide).status_code == 413
    big_prompt = http.post("/playbooks/big/embed_prompt", json={"prompt": "p" * (2 * MIB + 1)})
    assert big_prompt.status_code == 413 and big_prompt.json()["field"] == "prompt"
    assert server.store.get_playbook(None, "big") is None  # nothing was queued or created

    # A declared 100 MB body is refused from its headers: the server answers without
    # waiting for (or reading) the body.
    host, port = "127.0.0.1", server.port
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(
            b"POST /playbooks/big/episodes/learn HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nContent-Length: 104857600\r\n\r\n{"
        )
        head = read_response(sock)
    assert head.startswith("HTTP/1.1 413"), head
    assert "this route accepts at most" in head

    # Without a Content-Length (chunked), reading stops once the limit is passed.
    limit = server.settings.body_limit("/playbooks/big/embed_prompt")
    payload = b"x" * (limit + 1)
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(
            b"POST /playbooks/big/embed_prompt HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            + f"{len(payload):x}\r\n".encode()
            + payload
            + b"\r\n0\r\n\r\n"
        )
        head = read_response(sock)
    assert head.startswith("HTTP/1.1 413"), head


# ---------------------------------------------------------------------- operations
def test_health_readiness_metrics_docs_and_no_cors_by_default(
    http: httpx.Client, server: ServiceServer
) -> None:
    assert http.get("/healthz").json() == {"status": "ok"}
    assert http.get("/readyz").json() == {"status": "ready", "database": "ok", "workers": 2}
    http.post("/playbooks/metrics-pb/embed_prompt", json={"prompt": "count me"})
    http.post("/playbooks/metrics-pb/embed_prompt", json={"prompt": "x", "k": 0})
    job_id = http.post("/playbooks/metrics-pb/episodes/learn", json=learn_body("m")).json()[
        "learn_job_id"
    ]
    wait_for(lambda: http.get(f"/jobs/{job_id}").json()["status"] == "done", 30, "the job")
    text = http.get("/metrics").text
    route = 'route="/playbooks/{playbook_id}/embed_prompt"'
    assert f'ace_http_requests_total{{method="POST",{route},status="200"}}' in text
    assert f'ace_http_requests_total{{method="POST",{route},status="422"}}' in text
    assert f'ace_http_request_duration_seconds_bucket{{{route},le="+Inf"}}' in text
    assert "# TYPE ace_http_request_duration_seconds histogram" in text
    assert 'ace_learn_queue_depth{status="queued"}' in text
    done = [line for line in text.splitlines() if line.startswith('ace_learn_jobs{status="done"}')]
    assert int(done[0].split()[-1]) >= 1
    outcomes = [line for line in text.splitlines() if 'outcome="done"' in line]
    assert int(outcomes[0].split()[-1]) >= 1
    calls = [line for line in text.splitlines() if line.startswith("ace_model_calls_total{")]
    assert {'role="reflector"' in line for line in calls} == {True, False}
    assert "ace_model_cost_usd_total{" in text and 'kind="completion"' in text
    assert "metrics-pb" not in text  # ids never become labels
    assert http.get("/metrics").headers["content-type"].startswith("text/plain; version=0.0.4")

    spec = http.get("/openapi.json").json()
    assert {
        "/playbooks/{playbook_id}/embed_prompt",
        "/playbooks/{playbook_id}/episodes/learn",
        "/jobs/{job_id}",
    } <= set(spec["paths"])
    assert http.get("/docs").status_code == 200
    preflight = http.options(
        "/playbooks/x/embed_prompt",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers
    simple = http.post(
        "/playbooks/x/embed_prompt", json={"prompt": "p"}, headers={"Origin": "https://a.example"}
    )
    assert "access-control-allow-origin" not in simple.headers


def test_the_client_names_the_server_error_and_retries_unreachable_servers() -> None:
    with ACEClient("http://127.0.0.1:9", retries=1, max_retry_wait_s=0.01) as ace:
        with pytest.raises(ACEServiceError, match=r"cannot reach http://127\.0\.0\.1:9") as failed:
            ace.embed_prompt("pb", "p")
        assert failed.value.status is None


def test_the_client_reports_the_422_message(server: ServiceServer) -> None:
    with ACEClient(server.url) as ace, pytest.raises(ACEServiceError) as failed:
        ace.embed_prompt("pb", "p", k=0)
    assert failed.value.status == 422
    assert "k: k must be between 1 and 100" in str(failed.value)
    assert json.dumps(failed.value.detail)  # the server's field list, as sent


def test_a_callers_traceparent_never_parents_the_servers_spans(
    http: httpx.Client, capfire: CaptureLogfire
) -> None:
    """With a tracer provider in the process (logfire configured), a client's trace context
    header must not place the server's work inside the client's trace."""
    trace_id = "0af7651916cd43dd8448eb211c80319c"
    reply = http.post(
        "/playbooks/traced/embed_prompt",
        json={"prompt": "hello"},
        headers={"traceparent": f"00-{trace_id}-b7ad6b7169203331-01"},
    )
    assert reply.status_code == 200, reply.text
    exported = capfire.exporter.exported_spans_as_dict()
    ids = {s["context"]["trace_id"] for s in exported} | {
        (s.get("parent") or {}).get("trace_id") for s in exported
    }
    assert int(trace_id, 16) not in ids and trace_id not in str(exported)
