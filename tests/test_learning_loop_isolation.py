"""Isolation of the learning loop, attacked from the other side: a loop (and the service
functions) of tenant B, of another user, or of another agent, given tenant A's real ids,
can neither read, feed back on, reflect on, curate from, re-learn, consolidate nor
restore anything of A's; the denial reads exactly like an id that does not exist, and A's
rows are unchanged afterwards. Both databases."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from test_learning_loop_core import LoopTeam

from ace.learning_loop import LearningLoop, NotFoundError
from ace.learning_loop import service as api
from ace.service import Store

LESSON = "Retry the payment gateway once before failing the order"


@dataclass
class World:
    store: Store
    team: LoopTeam
    a: LearningLoop
    ran: list[dict[str, Any]]
    running: str
    consolidated: str
    merged: list[str]
    flagged: str


@pytest.fixture
def world(service_db_url: str, tmp_path: Path) -> Iterator[World]:
    team = LoopTeam({"payment": LESSON})
    with Store(service_db_url) as store:
        a = LearningLoop(store, tmp_path / "a", team.model.name, "u1", tenant_id="tenant-a")

        def charge(order: str) -> str:
            a.get_playbook_strategies("shared-name", "payment gateway")
            if order == "o-2":
                raise ConnectionError("gateway timeout")
            return f"charged {order}"

        ran = [
            a.execute_with_learning(
                "Take the payment", charge, playbook_id="shared-name", order=f"o-{i}"
            )
            for i in range(3)
        ]
        running = a.memory.start_trajectory("Still running", playbook_id="shared-name")
        merged = a.consolidate_memories(importance_max=1.0, batch_size=2, max_batches=1)
        flagged = ran[0]["trajectory_id"]
        a.add_feedback(flagged, 0.0, "the customer was charged twice", "support")
        yield World(
            store,
            team,
            a,
            ran,
            running,
            merged[0]["consolidated_memory_id"],
            merged[0]["source_memory_ids"],
            flagged,
        )


def snapshot(world: World) -> dict[str, Any]:
    """Everything of A's that an attack could change."""
    a = world.a
    trajectories = {
        t: a.memory.get_trajectory(t)
        for t in [r["trajectory_id"] for r in world.ran] + [world.running]
    }
    memories = a.memory.list_memories(state=None, limit=1000)
    strategies = [  # (get_playbook rates without counting a reuse)
        s for group in a.memory.get_playbook("shared-name")["strategies"].values() for s in group
    ]
    book, version = world.store.load_skillbook("tenant-a", "shared-name")
    return {
        "trajectories": trajectories,
        "memories": {m["memory_id"]: (m["state"], m["content"], m["importance"]) for m in memories},
        "strategies": [(s["skill_id"], s["confidence"], s["evidence_count"]) for s in strategies],
        "skills": [(s.id, s.content, s.helpful, s.harmful) for s in book.skills()],
        "version": version,
    }


def denied(call: Callable[[], Any]) -> str:
    with pytest.raises(NotFoundError) as caught:
        call()
    return str(caught.value)


def attack(world: World, b: LearningLoop, *, tenant: str, user: str) -> None:
    """Every operation of ``b`` (and of the service functions in ``b``'s scope) on A's ids."""
    calls_before = {r: world.team.count(r) for r in ("reflector", "skill_manager")}
    tid, memory_id = world.ran[1]["trajectory_id"], world.ran[1]["reflection_id"]
    made_up = str(uuid.uuid4())
    # an id of A's is answered exactly like an id that does not exist
    assert denied(lambda: b.memory.get_trajectory(tid)).replace(tid, "X") == denied(
        lambda: b.memory.get_trajectory(made_up)
    ).replace(made_up, "X")
    denied(lambda: b.memory.log_step(tid, "action", "injected"))
    denied(lambda: b.memory.complete_trajectory(world.running, "failure"))
    denied(lambda: b.add_feedback(tid, 0.0, "sabotage", "attacker"))
    denied(lambda: b.memory.reflect(tid))
    denied(lambda: b.memory.get_memory(memory_id))
    denied(lambda: b.memory.curate_playbook([memory_id], "shared-name"))
    denied(lambda: b.memory.add_memory("note", trajectory_id=tid))
    denied(lambda: b.restore_memory(world.consolidated))
    assert b.process_relearning_queue(limit=50) == []
    assert b.consolidate_memories(importance_max=1.0, batch_size=2) == []
    assert b.memory.list_trajectories() == [] and b.memory.list_memories(state=None) == []
    # the same through the service functions, in b's scope
    scope = {"user_id": user}
    denied(lambda: api.get_trajectory(world.store, tenant, tid, user_id=user))
    denied(
        lambda: api.append_steps(
            world.store, tenant, tid, {**scope, "steps": [{"kind": "action", "text": "x"}]}
        )
    )
    denied(
        lambda: api.complete_trajectory(
            world.store, tenant, world.running, {**scope, "status": "success", "learn": True}
        )
    )
    denied(lambda: api.add_feedback(world.store, tenant, tid, {**scope, "score": 0.0}))
    denied(
        lambda: api.get_strategies(
            world.store,
            tenant,
            "shared-name",
            {"task_description": "payment", "trajectory_id": world.running, **scope},
        )
    )
    assert api.list_trajectories(world.store, tenant, user_id=user) == {"trajectories": []}
    assert {r: world.team.count(r) for r in calls_before} == calls_before  # no model call


def test_another_tenant_gets_nothing_of_a_by_id_guessing(world: World, tmp_path: Path) -> None:
    before = snapshot(world)
    b = LearningLoop(world.store, tmp_path / "b", world.team.model.name, "u1", tenant_id="tenant-b")
    attack(world, b, tenant="tenant-b", user="u1")
    # B's playbook of the same name is B's own: empty, and learning there leaves A's alone
    assert b.get_playbook_strategies("shared-name", "payment gateway") == []
    assert api.get_strategies(
        world.store, "tenant-b", "shared-name", {"task_description": "payment"}
    ) == {
        "playbook_id": "shared-name",
        "strategies": [],
    }
    mine = b.execute_with_learning("Take the payment", lambda: "ok", playbook_id="shared-name")
    b.add_feedback(mine["trajectory_id"], 0.0, "wrong")
    assert [r["trajectory_id"] for r in b.process_relearning_queue()] == [mine["trajectory_id"]]
    (strategy,) = b.get_playbook_strategies("shared-name", "payment gateway")
    assert strategy["pattern"] == LESSON and strategy["evidence_count"] == 1
    assert snapshot(world) == before
    # and A's own work is still A's: its flagged run is still waiting for A
    assert world.a.memory.get_trajectory(world.flagged)["relearn"]["state"] == "queued"
    (relearned,) = world.a.process_relearning_queue()
    assert relearned["trajectory_id"] == world.flagged and relearned["success"]


def test_another_user_and_another_agent_of_the_same_tenant_are_kept_apart(
    world: World, tmp_path: Path
) -> None:
    before = snapshot(world)
    other_user = LearningLoop(
        world.store, tmp_path / "u2", world.team.model.name, "u2", tenant_id="tenant-a"
    )
    attack(world, other_user, tenant="tenant-a", user="u2")
    assert snapshot(world) == before
    # playbooks are the tenant's: the other user sees the strategies (not the runs)
    shared = other_user.memory.get_playbook("shared-name")["strategies"]
    assert [s["pattern"] for group in shared.values() for s in group] == [LESSON]

    def agent_loop(agent: str | None) -> LearningLoop:
        return LearningLoop(
            world.store, tmp_path / "ag", world.team.model.name, "u3", agent, "tenant-a"
        )

    first, second, any_agent = agent_loop("agent-1"), agent_loop("agent-2"), agent_loop(None)
    run = first.execute_with_learning("Agent one's task", lambda: 1, enable_reflection=False)
    denied(lambda: second.memory.get_trajectory(run["trajectory_id"]))
    denied(lambda: second.add_feedback(run["trajectory_id"], 0.0))
    denied(
        lambda: api.get_trajectory(
            world.store, "tenant-a", run["trajectory_id"], user_id="u3", agent_id="agent-2"
        )
    )
    assert second.memory.list_trajectories() == []
    # a loop of the user without an agent sees all of the user's agents
    assert any_agent.memory.get_trajectory(run["trajectory_id"])["agent_id"] == "agent-1"
    assert first.memory.get_trajectory(run["trajectory_id"])["feedback"] == []


def test_tenant_none_is_the_default_tenant_never_every_tenant(world: World, tmp_path: Path) -> None:
    default = LearningLoop(world.store, tmp_path / "d", world.team.model.name, "u1")
    assert default.tenant_id == "default"
    attack(world, default, tenant=None, user="u1")
