"""The learning loop over HTTP (``ace.service.api.learning``): a real uvicorn server on a
loopback port over SQLite, keys for two tenants and a prefix-limited key, the loop's roles
scripted through litellm. An agent in another language runs the whole loop with JSON, and
every route is tried with the other tenant's (and the other user's) ids."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from test_learning_loop_core import LoopTeam

from ace import UpdateBatch, UpdateOperation
from ace.llm.retry import RetryPolicy
from ace.service import LearnerConfig, Store
from ace.service.api import ServiceServer
from ace.service.keys import create_key

REFUND = "Ask for the order number before refunding"
WHO = {"user_id": "js-agent", "agent_id": "bot-1"}
FAST = {"poll_s": 0.05, "lease_s": 2.0, "retry_policy": RetryPolicy(max_retries=0)}


@dataclass
class Served:
    server: ServiceServer
    team: LoopTeam
    acme: str
    globex: str
    team_a: str

    def client(self, token: str) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"}
        return httpx.Client(base_url=self.server.url, headers=headers, timeout=60)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder: Path = tmp_path_factory.mktemp("learning-api")
    team = LoopTeam({"Refund": REFUND})
    store = Store(f"sqlite:///{folder / 'ace.db'}", pool_size=10)
    try:
        add = UpdateOperation(type="ADD", section="refunds", content=REFUND)
        store.apply_update("acme", "support", UpdateBatch(operations=[add]))
        keys = {
            "acme": create_key(store, "acme")[1],
            "globex": create_key(store, "globex")[1],
            "team_a": create_key(store, "acme", prefixes=["team-a-"])[1],
        }
        learner = LearnerConfig(
            reflector_model=team.model.name, skill_manager_model=team.model.name
        )
        server = ServiceServer(store, learner=learner, workers=1, port=0, pool_options=FAST)
        with server:
            yield Served(server, team, **keys)
    finally:
        store.close()


def start(http: httpx.Client, playbook_id: str = "support") -> str:
    answer = http.post(
        "/trajectories",
        json={**WHO, "task_description": "Refund a damaged order", "playbook_id": playbook_id},
    )
    assert answer.status_code == 201, answer.text
    assert answer.headers["Location"] == f"/trajectories/{answer.json()['trajectory_id']}"
    return str(answer.json()["trajectory_id"])


def test_an_agent_runs_the_whole_loop_over_http(served: Served) -> None:
    with served.client(served.acme) as http:
        tid = start(http)
        found = http.post(
            "/playbooks/support/strategies",
            json={"task_description": "refund the order", "trajectory_id": tid, **WHO},
        )
        assert found.status_code == 200, found.text
        assert [s["pattern"] for s in found.json()["strategies"]] == [REFUND]
        steps = http.post(
            f"/trajectories/{tid}/steps",
            json={**WHO, "steps": [{"kind": "action", "text": "asked for the order number"}]},
        )
        assert steps.json() == {"trajectory_id": tid, "positions": [0]}
        done = http.post(
            f"/trajectories/{tid}/complete",
            json={**WHO, "status": "failure", "success_score": 0.2, "learn": True},
        ).json()
        assert (done["status"], done["queued_for_learning"]) == ("failure", True)
        assert done["cited_skill_ids"] == ["refunds-00001"]

        learned = http.post("/learning/process", json={**WHO, "limit": 5})
        assert learned.status_code == 200, learned.text
        (item,) = learned.json()["results"]
        assert item["success"] and item["trajectory_id"] == tid and item["reflection_id"]
        assert served.team.count("reflector", "asked for the order number") == 1
        again = http.post("/learning/process", json={**WHO, "limit": 5}).json()
        assert again == {"results": []}  # each queued trajectory is learned once

        feedback = http.post(
            f"/trajectories/{tid}/feedback",
            json={**WHO, "score": 0.0, "message": "refunded the wrong order", "source": "qa"},
        )
        assert feedback.status_code == 200, feedback.text
        assert feedback.json()["trajectory_id"] == tid and feedback.json()["flagged"]

        whole = http.get(f"/trajectories/{tid}", params=WHO).json()
        assert [s["text"] for s in whole["steps"]] == ["asked for the order number"]
        assert [f["message"] for f in whole["feedback"]] == ["refunded the wrong order"]
        listed = http.get("/trajectories", params={**WHO, "status": "failure"}).json()
        assert [t["trajectory_id"] for t in listed["trajectories"]] == [tid]
        grouped = http.get("/playbooks/support/strategies").json()
        assert grouped["playbook_id"] == "support"
        assert REFUND in str(grouped["strategies"])


def test_another_tenant_or_user_gets_404_on_every_trajectory_route(served: Served) -> None:
    with served.client(served.acme) as acme, served.client(served.globex) as globex:
        tid = start(acme)
        other_user = {"user_id": "someone-else"}
        for http, who in ((globex, WHO), (acme, other_user)):
            assert http.get(f"/trajectories/{tid}", params=who).status_code == 404
            for route, body in (
                ("steps", {"steps": [{"kind": "action", "text": "injected"}]}),
                ("complete", {"status": "success"}),
                ("feedback", {"score": 0.0, "message": "sabotage"}),
            ):
                answer = http.post(f"/trajectories/{tid}/{route}", json={**who, **body})
                assert answer.status_code == 404, (route, answer.text)
                assert tid in answer.json()["detail"]
            assert http.get("/trajectories", params=who).json() == {"trajectories": []}
            learned = http.post("/learning/process", json={**who, "limit": 10}).json()
            assert learned == {"results": []}
        # globex's strategies for the same playbook id are its own (none), not acme's
        theirs = globex.post("/playbooks/support/strategies", json={"task_description": "refund"})
        assert theirs.json()["strategies"] == []
        # nothing of the attempts reached acme's trajectory
        whole = acme.get(f"/trajectories/{tid}", params=WHO).json()
        assert whole["status"] == "running" and whole["steps"] == [] and whole["feedback"] == []


def test_a_prefix_limited_key_sees_only_its_playbooks(served: Served) -> None:
    with served.client(served.acme) as acme, served.client(served.team_a) as team_a:
        theirs = start(acme, "support")
        refused = team_a.post("/trajectories", json={**WHO, "task_description": "x"})
        assert refused.status_code == 403 and "team-a-" in refused.json()["detail"]
        mine = start(team_a, "team-a-bot")
        assert team_a.get(f"/trajectories/{theirs}", params=WHO).status_code == 404
        assert team_a.post(
            f"/trajectories/{theirs}/feedback", json={**WHO, "score": 1.0}
        ).status_code == 404  # fmt: skip
        listed = team_a.get("/trajectories", params=WHO).json()["trajectories"]
        assert [t["trajectory_id"] for t in listed] == [mine]
        assert team_a.get("/playbooks/support/strategies").status_code == 403
        assert team_a.post("/learning/process", json=WHO).status_code == 403


def test_bad_bodies_name_the_field_before_anything_is_written(served: Served) -> None:
    with served.client(served.acme) as http:
        answer = http.post("/trajectories", json={"user_id": "u"})
        assert answer.status_code == 422 and "task_description" in answer.text
        tid = start(http)
        answer = http.post(f"/trajectories/{tid}/complete", json={**WHO, "status": "maybe"})
        assert answer.status_code == 422 and "status" in answer.text
        answer = http.post(f"/trajectories/{tid}/feedback", json={**WHO, "score": 7})
        assert answer.status_code == 422 and "score" in answer.text
        answer = http.get("/trajectories", params={**WHO, "status": "lost"})
        assert answer.status_code == 422 and "status must be one of" in answer.text
        assert http.get(f"/trajectories/{tid}", params=WHO).json()["status"] == "running"
