"""The learning loop's service functions (``ace.learning_loop.service``, what the HTTP layer
mounts) with JSON bodies as another language would send them, and the service's learn
jobs recorded as trajectories. Both databases, roles scripted through litellm."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from _service_support import ServiceTeam, lesson, run_request
from sqlalchemy import func, select
from test_learning_loop_core import LoopTeam

from ace import UpdateBatch, UpdateOperation
from ace.errors import UsageError
from ace.learning_loop import LEARN_JOB_USER, NotFoundError
from ace.learning_loop import service as api
from ace.llm.retry import RetryPolicy
from ace.service import Learner, LearnerConfig, Store, WorkerPool
from ace.service.models import Trajectory

REFUND = "Ask for the order number before refunding"


def wire(value: Any) -> Any:
    """What a client in another language gets: the value through JSON and back."""
    return json.loads(json.dumps(value))


def test_a_client_in_another_language_runs_the_whole_loop(
    service_db_url: str, tmp_path: Path
) -> None:
    team = LoopTeam({"Refund": REFUND})
    payloads = tmp_path / "payloads"
    who = {"user_id": "js-agent", "agent_id": "bot-1"}
    with Store(service_db_url) as store:
        add = UpdateOperation(type="ADD", section="refunds", content=REFUND)
        store.apply_update("acme", "support", UpdateBatch(operations=[add]))
        started = api.start_trajectory(
            store,
            "acme",
            wire(
                {
                    **who,
                    "task_description": "Refund a damaged order",
                    "task_type": "support",
                    "playbook_id": "support",
                    "arguments": {"order": "A-1", "reason": "damaged"},
                }
            ),
            backend=payloads,
        )
        tid = started["trajectory_id"]
        assert started == {"trajectory_id": tid, "status": "running"}
        found = api.get_strategies(
            store,
            "acme",
            "support",
            wire({"task_description": "refund the order", "trajectory_id": tid, **who}),
        )
        assert [s["pattern"] for s in found["strategies"]] == [REFUND]
        assert set(found["strategies"][0]) == {
            "pattern", "context", "confidence", "evidence_count", "category", "skill_id",
            "relevance",
        }  # fmt: skip
        steps = api.append_steps(
            store,
            "acme",
            tid,
            wire(
                {
                    **who,
                    "steps": [
                        {"kind": "action", "text": "asked for the order number"},
                        {"kind": "observation", "text": "got A-1", "data": {"via": "chat"}},
                    ],
                }
            ),
            backend=payloads,
        )
        assert steps == {"trajectory_id": tid, "positions": [0, 1]}
        done = api.complete_trajectory(
            store,
            "acme",
            tid,
            wire(
                {
                    **who,
                    "status": "success",
                    "success_score": 0.9,
                    "metrics": {"turns": 4, "duration_ms": 1200},
                    "result": {"refunded": True},
                    "learn": True,
                }
            ),
            backend=payloads,
        )
        assert wire(done) == done
        assert (done["status"], done["success_score"], done["duration_ms"]) == (
            "success", 0.9, 1200,
        )  # fmt: skip
        assert done["queued_for_learning"] and done["relearn"]["state"] == "queued"
        assert done["cited_skill_ids"] == ["refunds-00001"] and done["result"] == {"refunded": True}

        learned = api.process_learning_queue(
            store, "acme", wire({**who, "limit": 5}), llm_provider=team.model.name, backend=payloads
        )
        (item,) = learned["results"]
        assert item["success"] and item["trajectory_id"] == tid and wire(learned) == learned
        (prompt,) = team.requests["reflector"]
        assert "asked for the order number" in prompt and '"order": "A-1"' in prompt
        assert "- [refunds-00001] " + REFUND in prompt and "Outcome: success" in prompt

        feedback = api.add_feedback(
            store,
            "acme",
            tid,
            wire(
                {
                    **who,
                    "score": 0.1,
                    "message": "refund went to the wrong card",
                    "source": "billing",
                }
            ),
        )
        # 0.7 * |0.1 - 0.9| + 0.3 * (1 - 0.1)
        assert feedback["flagged"] and feedback["priority"] == pytest.approx(0.83)
        full = api.get_trajectory(store, "acme", tid, backend=payloads, **who)
        assert wire(full) == full
        assert [(s["kind"], s["text"]) for s in full["steps"]] == [
            ("action", "asked for the order number"),
            ("observation", "got A-1"),
        ]
        assert full["steps"][1]["data"] == {"via": "chat"}
        assert full["arguments"] == {"order": "A-1", "reason": "damaged"}
        assert full["feedback"][0]["source"] == "billing"
        assert full["reflection_id"] == item["reflection_id"]
        listed = api.list_trajectories(store, "acme", **who)["trajectories"]
        assert [t["trajectory_id"] for t in listed] == [tid]
        grouped = api.get_playbook_strategies(store, "acme", "support")
        rated = [s for group in grouped["strategies"].values() for s in group]
        assert [(s["pattern"], s["evidence_count"]) for s in rated] == [(REFUND, 1)]


def test_bad_bodies_are_usage_errors_naming_what_is_wrong(tmp_path: Path) -> None:
    with Store(f"sqlite:///{tmp_path / 'ace.db'}") as store:
        start = {"user_id": "u", "task_description": "t"}
        tid = api.start_trajectory(store, "acme", start)["trajectory_id"]
        cases: list[tuple[Any, str]] = [
            (lambda: api.start_trajectory(store, "acme", {"task_description": "t"}), "user_id"),
            (lambda: api.start_trajectory(store, "acme", {**start, "tenant_id": "x"}), "tenant_id"),
            (lambda: api.start_trajectory(store, "acme", {**start, "task_description": ""}),
             "task_description"),
            (lambda: api.start_trajectory(store, "acme", ["not", "an", "object"]), "JSON object"),
            (lambda: api.add_feedback(store, "acme", tid, {"user_id": "u", "score": 1.5}),
             "score"),
            (lambda: api.complete_trajectory(store, "acme", tid, {"user_id": "u", "status": "done"}),
             "status"),
            (lambda: api.append_steps(store, "acme", tid, {"user_id": "u", "steps": []}), "steps"),
            (lambda: api.get_strategies(store, "acme", "pb", {"task_description": "x",
                                                              "strategy_type": "great"}),
             "strategy_type"),
            (lambda: api.get_strategies(store, "acme", "pb", {"task_description": "x",
                                                              "trajectory_id": tid}),
             "needs the user_id"),
            (lambda: api.list_trajectories(store, "acme", user_id="u", status="odd"), "status"),
        ]  # fmt: skip
        for call, problem in cases:
            with pytest.raises(UsageError, match=problem):
                call()
        # nothing was written by the refused calls
        found = api.get_trajectory(store, "acme", tid, user_id="u")
        assert (found["status"], found["feedback"], found["steps"]) == ("running", [], [])


def _pool(store: Store, model: str) -> WorkerPool:
    settings = {"max_retries": 0}
    config = LearnerConfig(
        reflector_model=model,
        skill_manager_model=model,
        reflector_settings=settings,
        skill_manager_settings=settings,
    )
    retry = RetryPolicy(max_retries=0, initial_delay_s=0.05, multiplier=1.0, jitter=0.0)
    return WorkerPool(store, Learner(config), poll_s=0.05, lease_s=2.0, retry_policy=retry)


def test_learn_jobs_are_recorded_as_trajectories(service_db_url: str, tmp_path: Path) -> None:
    team = ServiceTeam()
    service = {"user_id": LEARN_JOB_USER}
    with Store(service_db_url) as store:
        job = store.submit_job("acme", "calc", run_request("7"), idempotency_key="run-7")
        again = store.submit_job("acme", "calc", run_request("7"), idempotency_key="run-7")
        assert again.id == job.id
        with store.engine.connect() as connection:
            count = connection.execute(select(func.count()).select_from(Trajectory)).scalar_one()
        assert count == 1  # one trajectory per job, the repeated submission made none
        queued = api.get_trajectory(store, "acme", job.id, **service)
        assert (queued["origin"], queued["status"], queued["playbook_id"]) == (
            "learn_job", "unknown", "calc",
        )  # fmt: skip
        assert queued["task_description"] == "Solve task 7. LESSON-7"
        assert queued["learn_job"]["status"] == "queued" and queued["completed_at"] is None
        with pytest.raises(NotFoundError):
            api.get_trajectory(store, "other-tenant", job.id, **service)

        with _pool(store, team.model.name).start() as workers:
            assert workers.wait_idle(30)
        processed = api.get_trajectory(store, "acme", job.id, **service)
        assert processed["learn_job"]["status"] == "done" and processed["completed_at"]
        assert processed["metrics"]["learn_job"]["version"] == 1
        reflection_id = processed["reflection_id"]
        assert reflection_id is not None
        # the lesson the job added is backed by the job's trajectory (outcome unknown:
        # a full helpful vote)
        (strategy,) = api.get_strategies(
            store, "acme", "calc", {"task_description": "re-read the task statement"}
        )["strategies"]
        assert strategy["pattern"] == lesson("7") and strategy["evidence_count"] == 1
        assert strategy["confidence"] == pytest.approx(2 / 3, abs=1e-6)
        skill_id = strategy["skill_id"]

        # feedback on the job's run re-learns from the job's own trajectory text
        feedback = api.add_feedback(
            store, "acme", job.id, {**service, "score": 0.0, "message": "the answer was right"}
        )
        assert feedback["flagged"] and feedback["priority"] == pytest.approx(0.65)
        learned = api.process_learning_queue(
            store, "acme", service, llm_provider=team.model.name, backend=tmp_path / "p"
        )
        (item,) = learned["results"]
        assert item["success"] and item["reflection_id"] != reflection_id
        relearned = [t for t in team.requests["reflector"] if "the answer was right" in t]
        assert len(relearned) == 1 and "[1] Assistant:\n41" in relearned[0]
        assert "TASK\nSolve task 7. LESSON-7\n" in relearned[0]
        (strategy,) = [
            s
            for s in api.get_strategies(
                store, "acme", "calc", {"task_description": "re-read the task statement"}
            )["strategies"]
            if s["skill_id"] == skill_id
        ]
        assert strategy["confidence"] == pytest.approx(1 / 3, abs=1e-6)  # its run scored 0


def test_a_job_queued_before_the_learning_loop_existed_gets_its_trajectory_when_done(
    tmp_path: Path,
) -> None:
    from sqlalchemy import delete

    team = ServiceTeam()
    with Store(f"sqlite:///{tmp_path / 'ace.db'}") as store:
        job = store.submit_job("acme", "calc", run_request("9"))
        with store.engine.begin() as connection:  # as if submitted before revision 0004
            connection.execute(delete(Trajectory).where(Trajectory.id == job.id))
        with pytest.raises(NotFoundError):
            api.get_trajectory(store, "acme", job.id, user_id=LEARN_JOB_USER)
        with _pool(store, team.model.name).start() as workers:
            assert workers.wait_idle(30)
        found = api.get_trajectory(store, "acme", job.id, user_id=LEARN_JOB_USER)
        assert (found["origin"], found["learn_job"]["status"]) == ("learn_job", "done")
        assert found["task_description"] == "Solve task 9. LESSON-9"
        assert found["reflection_id"] is not None and found["completed_at"] is not None
