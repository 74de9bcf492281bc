"""The learning loop (``ace.learning_loop``) against real databases, with the roles scripted
through litellm (``ace.testing``): what a trajectory records, sync and async execution,
the memory API, payloads in the backend, and 50 tasks through feedback, re-learning by
two processes' worth of loops, and consolidation with its undo.

``LoopTeam`` (used by the other ``test_learning_loop_*`` files too) answers as the
Reflector, the SkillManager and the consolidator.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from ace import UpdateBatch, UpdateOperation
from ace.errors import UsageError
from ace.learning_loop import (
    LearningLoop,
    LocalContentStore,
    NotFoundError,
    current_trajectory_id,
    formulas,
)
from ace.service import Store
from ace.service.models import MemoryRow, StrategyEvidence, Trajectory
from ace.testing import Fail, FunctionModel, RecordedRequest

_TASK = re.compile(r"\nTASK\n(.*?)\n\nTHE ATTEMPT'S REASONING", re.S)
_CITED = re.compile(r"SKILLS THE ATTEMPT CITED\n(.*?)(?:\n\n|\nReply with)", re.S)


class LoopTeam:
    """Scripted roles. The Reflector teaches the lesson of the first ``lessons`` keyword
    found in the task (else ``default``) and tags every cited skill helpful, or harmful
    when the run got feedback scored 0.0; the SkillManager adds each reflection's lesson
    unless the skillbook has it; the consolidator joins the notes' first lines.
    ``fail[role]`` makes that role's replies fail (a ``Fail``) while set; ``delay_s``
    slows every reply."""

    def __init__(
        self,
        lessons: dict[str, str] | None = None,
        default: str = "Check the inputs before acting",
        delay_s: float = 0.0,
    ) -> None:
        self.lessons = dict(lessons or {})
        self.default = default
        self.delay_s = delay_s
        self.fail: dict[str, Fail] = {}
        self.requests: dict[str, list[str]] = defaultdict(list)
        self._lock = threading.Lock()
        self.model = FunctionModel(self._reply)

    def count(self, role: str, containing: str = "") -> int:
        with self._lock:
            return sum(containing in text for text in self.requests[role])

    def lesson_for(self, text: str) -> tuple[str, str]:
        for keyword, lesson in self.lessons.items():
            if keyword in text:
                return keyword, lesson
        return "general", self.default

    def _reply(self, request: RecordedRequest) -> str | Fail:
        text = "\n".join(str(m.get("content") or "") for m in request.messages)
        if "You review one attempt" in text:
            role = "reflector"
        elif "You maintain a skillbook" in text:
            role = "skill_manager"
        elif "You consolidate memories" in text:
            role = "consolidator"
        else:
            role = "other"
        with self._lock:
            self.requests[role].append(text)
        if self.delay_s:
            time.sleep(self.delay_s)
        if role in self.fail:
            return self.fail[role]
        if role == "reflector":
            task = _TASK.search(text)
            _, lesson = self.lesson_for(task.group(1) if task else text)
            cited = _CITED.search(text)
            ids = re.findall(r"\[([^\[\]\n]+)\]", cited.group(1)) if cited else []
            verdict = "harmful" if "- score 0.0" in text else "helpful"
            return json.dumps(
                {
                    "reasoning": "scripted",
                    "key_insight": lesson,
                    "extracted_learnings": [{"learning": lesson, "atomicity_score": 0.9}],
                    "skill_tags": [{"id": i, "tag": verdict} for i in dict.fromkeys(ids)],
                }
            )
        if role == "skill_manager":
            book = text.split("CURRENT SKILLBOOK", 1)[1].split("\nREFLECTIONS\n", 1)[0]
            reflections = json.loads(
                text.split("\nREFLECTIONS\n", 1)[1].split("\n\nReply with", 1)[0]
            )
            operations = []
            for reflection in reflections:
                lesson = reflection["key_insight"]
                section, _ = self.lesson_for(lesson)
                if lesson and lesson not in book:
                    operations.append({"type": "ADD", "section": section, "content": lesson})
                    book += lesson
            return json.dumps({"reasoning": "scripted", "operations": operations})
        if role == "consolidator":
            notes = re.findall(r"NOTE \d+ \([^)]*\)\n(.*)", text)
            return json.dumps({"reasoning": "scripted", "content": "Merged: " + " | ".join(notes)})
        return "scripted"


def new_loop(
    store: Store, team: LoopTeam, tmp_path: Path, user: str = "u1", **options: Any
) -> LearningLoop:
    options.setdefault("tenant_id", "acme")
    return LearningLoop(store, tmp_path / "payloads", team.model.name, user, **options)


def skill_id_with(store: Store, tenant: str, playbook: str, content: str) -> str:
    book, _ = store.load_skillbook(tenant, playbook)
    (found,) = [s.id for s in book.skills() if s.content == content]
    return found


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Any:
    with Store(f"sqlite:///{tmp_path / 'ace.db'}") as store:
        yield store


CACHE = "Warm the cache before switching traffic to it"
MIGRATION = "Back up the table before running a migration"


def test_a_run_records_arguments_result_logs_steps_and_looked_up_strategies(
    sqlite_store: Store, tmp_path: Path
) -> None:
    team = LoopTeam({"cach": CACHE})
    loop = new_loop(sqlite_store, team, tmp_path)
    add = UpdateOperation(type="ADD", section="cache", content=CACHE)
    sqlite_store.apply_update("acme", "ops", UpdateBatch(operations=[add]))
    log = logging.getLogger("tests.learning_loop.deploy")

    def deploy(ttl: int, region: str) -> dict[str, Any]:
        found = loop.get_playbook_strategies("ops", "deploy the cache", strategy_type="neutral")
        log.warning("deploying to %s with %d strategies", region, len(found))
        loop.memory.log_step(current_trajectory_id() or "", "decision", "blue-green switch")
        return {"deployed": True, "ttl": ttl}

    result = loop.execute_with_learning(
        "Deploy caching with 5min TTL", deploy, "deployment", "ops", ttl=300, region="eu-west"
    )
    assert set(result) == {
        "result", "trajectory_id", "success", "error", "reflection_id", "duration_ms",
        "learning_error",
    }  # fmt: skip
    assert result["success"] is True and result["error"] is None
    assert result["result"] == {"deployed": True, "ttl": 300}
    assert result["learning_error"] is None and result["duration_ms"] >= 0
    found = loop.memory.get_trajectory(result["trajectory_id"])
    assert found["arguments"] == {"ttl": 300, "region": "eu-west"}
    assert found["result"] == {"deployed": True, "ttl": 300}
    assert (found["status"], found["success_score"], found["task_type"]) == (
        "success", 1.0, "deployment",
    )  # fmt: skip
    assert [s["kind"] for s in found["steps"]] == ["strategies", "log", "decision"]
    looked_up, logged, decided = found["steps"]
    assert json.loads(looked_up["text"])["strategies"][0]["pattern"] == CACHE
    assert logged["text"] == "deploying to eu-west with 1 strategies"
    assert logged["data"] == {"level": "WARNING", "logger": "tests.learning_loop.deploy"}
    assert decided["text"] == "blue-green switch" and decided["position"] == 2
    assert found["cited_skill_ids"] == ["cache-00001"]
    # the Reflector read all of it, and saw the looked-up strategy as cited
    (prompt,) = team.requests["reflector"]
    for piece in ("deploying to eu-west", "blue-green switch", '"region": "eu-west"', CACHE):
        assert piece in prompt
    assert "- [cache-00001] " + CACHE in prompt
    memory = loop.memory.get_memory(result["reflection_id"])
    assert memory["memory_type"] == "reflection" and memory["content"].startswith(CACHE)
    assert memory["sources"] == [{"kind": "trajectory", "id": result["trajectory_id"]}]
    assert found["reflection_id"] == result["reflection_id"]
    # curation: the lesson was already there, so only the reflection's helpful tag landed
    book, version = sqlite_store.load_skillbook("acme", "ops")
    cached = book.get_skill("cache-00001")
    assert version == 2 and cached is not None and cached.helpful == 1
    strategies = loop.get_playbook_strategies("ops", "cache")
    assert strategies[0]["evidence_count"] == 1 and strategies[0]["confidence"] == pytest.approx(
        2 / 3, abs=1e-6
    )


def test_a_failing_task_is_recorded_returned_and_reflected_on(
    sqlite_store: Store, tmp_path: Path
) -> None:
    team = LoopTeam()
    loop = new_loop(sqlite_store, team, tmp_path)

    def flaky_upstream(order_id: str) -> None:
        logging.getLogger("tests.learning_loop.orders").error("upstream said 503 for %s", order_id)
        raise ValueError(f"upstream 503 for {order_id}")

    result = loop.execute_with_learning("Fetch the order", flaky_upstream, order_id="o-7")
    assert result["success"] is False and result["result"] is None
    assert result["error"] == "ValueError: upstream 503 for o-7"
    assert result["reflection_id"] is not None
    found = loop.memory.get_trajectory(result["trajectory_id"])
    assert (found["status"], found["success_score"]) == ("failure", 0.0)
    assert found["error"] == "ValueError: upstream 503 for o-7"
    assert "in flaky_upstream" in found["traceback"]
    assert 'raise ValueError(f"upstream 503 for {order_id}")' in found["traceback"]
    assert [s["text"] for s in found["steps"]] == ["upstream said 503 for o-7"]
    (prompt,) = team.requests["reflector"]
    assert "Outcome: failure" in prompt and "The task raised ValueError: upstream 503" in prompt
    assert "Traceback (most recent call last)" in prompt


def test_an_interrupted_task_is_recorded_then_the_interrupt_goes_on(
    sqlite_store: Store, tmp_path: Path
) -> None:
    team = LoopTeam()
    loop = new_loop(sqlite_store, team, tmp_path)

    def interrupted() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        loop.execute_with_learning("Long batch", interrupted)
    (found,) = loop.memory.list_trajectories()
    assert (found["status"], found["error"]) == ("failure", "KeyboardInterrupt")
    assert team.count("reflector") == 0  # no learning from an interrupted process


def test_the_async_version_keeps_the_event_loop_free_and_each_run_its_own_logs(
    sqlite_store: Store, tmp_path: Path
) -> None:
    team = LoopTeam(delay_s=0.3)
    loop = new_loop(sqlite_store, team, tmp_path)
    log = logging.getLogger("tests.learning_loop.async")

    async def fetch(name: str, pause: float) -> str:
        for part in range(3):
            log.warning("%s part %d", name, part)
            await asyncio.sleep(pause)
        return name.upper()

    def blocking(name: str) -> str:  # a sync task runs in a worker thread
        log.warning("%s in a thread", name)
        return name

    async def main() -> tuple[list[dict[str, Any]], int]:
        ticks = 0
        stop = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not stop.is_set():
                ticks += 1
                await asyncio.sleep(0.005)

        ticking = asyncio.create_task(ticker())
        results = await asyncio.gather(
            loop.execute_with_learning_async("Fetch a", fetch, name="a", pause=0.01),
            loop.execute_with_learning_async("Fetch b", fetch, name="b", pause=0.013),
            loop.execute_with_learning_async("Thread c", blocking, name="c"),
        )
        stop.set()
        await ticking
        return list(results), ticks

    results, ticks = asyncio.run(main())
    assert [r["result"] for r in results] == ["A", "B", "c"]
    assert all(r["success"] and r["reflection_id"] for r in results)
    # the reflections (0.3 s each) ran while the event loop kept ticking every 5 ms
    assert ticks > 20
    for result, name, count in zip(results, "abc", (3, 3, 1), strict=True):
        steps = loop.memory.get_trajectory(result["trajectory_id"])["steps"]
        texts = [s["text"] for s in steps if s["kind"] == "log"]
        assert len(texts) == count and all(t.startswith(name + " ") for t in texts), texts


def test_the_sync_version_runs_an_async_task_and_refuses_inside_an_event_loop(
    sqlite_store: Store, tmp_path: Path
) -> None:
    loop = new_loop(sqlite_store, LoopTeam(), tmp_path)

    async def answer(value: int) -> int:
        await asyncio.sleep(0)
        return value * 2

    result = loop.execute_with_learning("Double", answer, enable_reflection=False, value=21)
    assert (result["result"], result["reflection_id"]) == (42, None)

    async def inside() -> None:
        loop.execute_with_learning("Double", answer, value=1)

    with pytest.raises(UsageError, match="execute_with_learning_async"):
        asyncio.run(inside())


def test_the_memory_api_records_a_manual_trajectory_and_curates_from_it(
    sqlite_store: Store, tmp_path: Path
) -> None:
    team = LoopTeam({"Deploy": "Deploy blue-green and watch the health checks"})
    loop = new_loop(sqlite_store, team, tmp_path)
    memory = loop.memory
    traj_id = memory.start_trajectory("Deploy API changes", "deployment")
    assert memory.log_step(traj_id, "decision", "Chose blue-green deployment") == 0
    assert memory.log_step(traj_id, "action", "Deployed to staging") == 1
    assert memory.log_step(traj_id, "observation", "All health checks passed") == 2
    done = memory.complete_trajectory(
        traj_id, status="success", success_score=0.95, metrics={"rollback_count": 0}
    )
    assert (done["status"], done["success_score"], done["metrics"]) == (
        "success", 0.95, {"rollback_count": 0},
    )  # fmt: skip
    with pytest.raises(UsageError, match="already completed"):
        memory.complete_trajectory(traj_id, status="failure")
    reflection = memory.reflect(traj_id)
    assert reflection["key_insight"] == "Deploy blue-green and watch the health checks"
    assert "Chose blue-green deployment" in team.requests["reflector"][0]
    curated = memory.curate_playbook([reflection["memory_id"]], playbook_name="ops_playbook")
    assert (curated["version"], curated["applied"], len(curated["added_ids"])) == (1, 1, 1)
    book, _ = sqlite_store.load_skillbook("acme", "ops_playbook")
    (skill,) = book.skills()
    assert skill.content == reflection["key_insight"]
    assert [(s.source_system, s.trace_id) for s in skill.sources] == [
        ("ace-learning-loop", traj_id)
    ]
    with pytest.raises(UsageError, match="status must be one of"):
        memory.complete_trajectory(memory.start_trajectory("x"), status="done")


def test_a_trajectory_block_completes_itself(sqlite_store: Store, tmp_path: Path) -> None:
    loop = new_loop(sqlite_store, LoopTeam(), tmp_path)
    with loop.memory.trajectory("Resize images", "media") as run:
        run.log_step("action", "resized 3 images")
        logging.getLogger("tests.learning_loop.block").warning("one was too small")
        assert current_trajectory_id() == run.id
    assert current_trajectory_id() is None
    found = loop.memory.get_trajectory(run.id)
    assert found["status"] == "success" and found["success_score"] == 1.0
    assert [s["text"] for s in found["steps"]] == ["resized 3 images", "one was too small"]

    with pytest.raises(OSError, match="disk full"), loop.memory.trajectory("Save") as failed:
        raise OSError("disk full")
    found = loop.memory.get_trajectory(failed.id)
    assert (found["status"], found["error"]) == ("failure", "OSError: disk full")
    assert "raise OSError" in found["traceback"]

    with loop.memory.trajectory("Partial") as partial:
        partial.complete("partial", 0.5, {"done": 3, "of": 6})
    found = loop.memory.get_trajectory(partial.id)
    assert (found["status"], found["success_score"], found["metrics"]) == (
        "partial", 0.5, {"done": 3, "of": 6},
    )  # fmt: skip


class DictBackend:
    """Any object with put/get is a backend."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}

    def put(self, data: bytes) -> str:
        key = f"blob-{len(self.blobs)}"
        self.blobs[key] = data
        return key

    def get(self, key: str) -> bytes:
        return self.blobs[key]


def test_large_payloads_go_to_the_backend_and_come_back(
    sqlite_store: Store, tmp_path: Path
) -> None:
    from ace.learning_loop.payloads import INLINE_LIMIT_BYTES

    team = LoopTeam()
    loop = new_loop(sqlite_store, team, tmp_path)
    blob = "x" * (INLINE_LIMIT_BYTES + 100)

    def echo(document: str) -> dict[str, str]:
        loop.memory.log_step(current_trajectory_id() or "", "observation", "long " + blob)
        return {"copy": document}

    result = loop.execute_with_learning("Echo a document", echo, document=blob)
    with sqlite_store.engine.connect() as connection:
        row = connection.execute(
            select(Trajectory.arguments, Trajectory.result).where(
                Trajectory.id == result["trajectory_id"]
            )
        ).one()
    digest = row.arguments["$ref"]
    assert row.arguments["bytes"] > INLINE_LIMIT_BYTES and len(row.arguments["preview"]) == 300
    stored = LocalContentStore(tmp_path / "payloads")
    assert json.loads(stored.get(digest)) == {"document": blob}
    assert (tmp_path / "payloads" / digest[:2] / digest).exists()
    found = loop.memory.get_trajectory(result["trajectory_id"])
    assert found["arguments"] == {"document": blob} and found["result"] == {"copy": blob}
    assert found["steps"][0]["text"] == "long " + blob
    assert blob in team.requests["reflector"][0]  # the Reflector read the whole value
    # a backend of one's own: anything with put/get
    custom = DictBackend()
    other = LearningLoop(sqlite_store, custom, team.model.name, "u1", tenant_id="acme")
    mine = other.execute_with_learning("Echo", echo, enable_reflection=False, document=blob)
    assert len(custom.blobs) == 2 and json.loads(custom.blobs["blob-0"]) == {"document": blob}
    assert other.memory.get_trajectory(mine["trajectory_id"])["result"] == {"copy": blob}
    with pytest.raises(UsageError, match="put"):
        LearningLoop(sqlite_store, object(), team.model.name, "u1")


def test_a_failed_reflection_keeps_the_result_and_queues_the_run(
    sqlite_store: Store, tmp_path: Path
) -> None:
    team = LoopTeam()
    loop = new_loop(sqlite_store, team, tmp_path)
    team.fail["reflector"] = Fail("auth", "invalid api key")
    result = loop.execute_with_learning("Sum", lambda a, b: a + b, playbook_id="math", a=2, b=3)
    assert (result["success"], result["result"], result["reflection_id"]) == (True, 5, None)
    assert "invalid api key" in (result["learning_error"] or "")
    found = loop.memory.get_trajectory(result["trajectory_id"])
    assert found["relearn"]["state"] == "queued"
    assert found["relearn"]["priority"] == pytest.approx(0.5)
    del team.fail["reflector"]
    (relearned,) = loop.process_relearning_queue()
    assert relearned["success"] and relearned["trajectory_id"] == result["trajectory_id"]
    assert sqlite_store.get_playbook("acme", "math") is not None


def _family(i: int) -> str:
    return "cache" if i % 2 == 0 else "migration"


def test_fifty_tasks_feedback_relearning_once_and_consolidation_with_undo(
    service_db_url: str, tmp_path: Path
) -> None:
    team = LoopTeam({"cache": CACHE, "migration": MIGRATION})
    with Store(service_db_url) as store, Store(service_db_url) as second_store:
        loop = new_loop(store, team, tmp_path)
        failing = {i for i in range(50) if i % 5 == 4}

        def step(family: str, number: int) -> dict[str, Any]:
            loop.get_playbook_strategies("ops", f"{family} task {number}")
            if number in failing:
                raise RuntimeError(f"{family} step {number} broke")
            return {"family": family, "number": number}

        runs = [
            loop.execute_with_learning(
                f"Run the {_family(i)} step for service {i}", step, "ops", "ops",
                family=_family(i), number=i,
            )
            for i in range(50)
        ]  # fmt: skip
        assert sum(not r["success"] for r in runs) == 10
        assert all(r["reflection_id"] and r["learning_error"] is None for r in runs)
        by_family = {f: [r["trajectory_id"] for i, r in enumerate(runs) if _family(i) == f]
                     for f in ("cache", "migration")}  # fmt: skip
        cache_id = skill_id_with(store, "acme", "ops", CACHE)
        migration_id = skill_id_with(store, "acme", "ops", MIGRATION)

        def rating(skill_id: str, query: str) -> dict[str, Any]:
            (item,) = [
                s for s in loop.get_playbook_strategies("ops", query) if s["skill_id"] == skill_id
            ]
            return item

        def supporters(skill_id: str) -> set[str]:
            with store.engine.connect() as connection:
                return set(connection.execute(
                    select(StrategyEvidence.trajectory_id).where(
                        StrategyEvidence.tenant_id == "acme",
                        StrategyEvidence.skill_id == skill_id,
                        StrategyEvidence.stance == "supports",
                    )
                ).scalars())  # fmt: skip

        cache = rating(cache_id, "cache")
        # every cache run supports the cache strategy: the first added it, the rest were
        # tagged helpful; 20 succeeded, 5 failed: (1 + 20) / (2 + 25)
        assert supporters(cache_id) == set(by_family["cache"])
        assert cache["evidence_count"] == 25 and cache["category"] == "helpful"
        assert cache["confidence"] == pytest.approx(21 / 27, abs=1e-6)
        migration_before = rating(migration_id, "migration")
        assert migration_before["evidence_count"] == 25

        # negative feedback on ten successful and two failed runs behind the cache strategy
        cache_runs = [runs[i] for i in range(0, 50, 2)]
        # (not the first run: its memory created the strategy and is reused, see below)
        contradicted = [r["trajectory_id"] for r in cache_runs[1:] if r["success"]][:10]
        confirmed = [r["trajectory_id"] for r in cache_runs if not r["success"]][:2]
        feedback = {
            t: loop.add_feedback(t, 0.0, "made it worse", "monitoring") for t in contradicted
        }
        feedback |= {t: loop.add_feedback(t, 0.0, "still broken", "monitoring") for t in confirmed}
        assert {f["priority"] for t, f in feedback.items() if t in contradicted} == {1.0}
        assert {f["priority"] for t, f in feedback.items() if t in confirmed} == {0.3}
        dropped = rating(cache_id, "cache")
        # ten outcomes fell from 1 to (1 + 2*0) / 3: helpful 10 + 10/3, harmful 20/3 + 5
        assert dropped["confidence"] == pytest.approx((1 + 10 + 10 / 3) / 27, abs=1e-6)
        assert dropped["confidence"] < cache["confidence"] and dropped["evidence_count"] == 25
        assert rating(migration_id, "migration")["confidence"] == migration_before["confidence"]

        # re-learning by two loops on separate connections at once: each run once
        reflections_before = team.count("reflector")
        other = new_loop(second_store, team, tmp_path)
        results: dict[str, list[dict[str, Any]]] = {}
        barrier = threading.Barrier(2)

        def relearn(name: str, which: LearningLoop) -> None:
            barrier.wait()
            results[name] = which.process_relearning_queue(limit=50)

        threads = [
            threading.Thread(target=relearn, args=(n, w)) for n, w in (("a", loop), ("b", other))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        done = [item for name in ("a", "b") for item in results[name]]
        assert all(item["success"] for item in done), done
        assert sorted(item["trajectory_id"] for item in done) == sorted(contradicted + confirmed)
        assert team.count("reflector") - reflections_before == 12
        for name in ("a", "b"):
            priorities = [item["priority"] for item in results[name]]
            assert priorities == sorted(priorities, reverse=True)
        for trajectory_id in contradicted + confirmed:
            state = loop.memory.get_trajectory(trajectory_id, steps=False)["relearn"]
            assert (state["state"], state["count"]) == ("done", 1)
        assert loop.process_relearning_queue() == []
        # the re-learned runs now oppose the strategy; the count is its supporters
        after = rating(cache_id, "cache")
        assert after["evidence_count"] == len(supporters(cache_id)) == 13
        assert after["confidence"] < dropped["confidence"]

        # importance: contradicted runs' memories sank; the memory that created the
        # cache strategy rose with every look-up
        memories = loop.memory.list_memories(limit=1000)
        sunk = [m for m in memories if m["trajectory_id"] in contradicted]
        assert len(sunk) == 20 and {round(m["importance"], 4) for m in sunk} == {0.4667}
        creator = next(
            m
            for m in memories
            if m["trajectory_id"] == by_family["cache"][0] and not m["data"]["relearn"]
        )
        assert creator["reuse_count"] >= 20 and creator["importance"] > 0.75

        merged = loop.consolidate_memories(importance_max=0.5, batch_size=10)
        assert [m["memories_merged"] for m in merged] == [10, 10]
        assert team.count("consolidator") == 2
        merged_ids = {i for m in merged for i in m["source_memory_ids"]}
        assert merged_ids == {m["memory_id"] for m in sunk}
        first = merged[0]
        assert first["content_preview"].startswith("Merged: " + CACHE)
        consolidated = loop.memory.get_memory(first["consolidated_memory_id"])
        assert consolidated["memory_type"] == "consolidated"
        assert consolidated["sources"] == [
            {"kind": "memory", "id": i} for i in first["source_memory_ids"]
        ]
        assert consolidated["importance"] == pytest.approx(0.466667, abs=1e-5)
        source = loop.memory.get_memory(first["source_memory_ids"][0])
        assert (source["state"], source["consolidated_into"]) == (
            "consolidated",
            first["consolidated_memory_id"],
        )
        assert loop.consolidate_memories(importance_max=0.5) == []  # nothing left to merge

        restored = loop.restore_memory(first["consolidated_memory_id"])
        assert set(restored["restored_memory_ids"]) == set(first["source_memory_ids"])
        assert restored["memories_restored"] == 10
        for memory_id in first["source_memory_ids"]:
            again = loop.memory.get_memory(memory_id)
            assert (again["state"], again["consolidated_into"]) == ("active", None)
        assert loop.memory.get_memory(first["consolidated_memory_id"])["state"] == "restored"
        assert loop.memory.get_memory(merged[1]["consolidated_memory_id"])["state"] == "active"
        with pytest.raises(UsageError, match="only an active consolidation"):
            loop.restore_memory(first["consolidated_memory_id"])
        with pytest.raises(NotFoundError):
            loop.restore_memory(first["source_memory_ids"][0])


def test_memory_rows_keep_their_formula_inputs(sqlite_store: Store, tmp_path: Path) -> None:
    """The stored importance follows ``formulas.importance`` as feedback and reuse change."""
    team = LoopTeam({"cache": CACHE})
    loop = new_loop(sqlite_store, team, tmp_path)
    run = loop.execute_with_learning("Warm the cache", lambda: "ok", playbook_id="ops")

    def stored() -> tuple[float, int]:
        with sqlite_store.engine.connect() as connection:
            row = connection.execute(
                select(MemoryRow.importance, MemoryRow.reuse_count).where(
                    MemoryRow.id == run["reflection_id"]
                )
            ).one()
        return float(row.importance), int(row.reuse_count)

    assert stored() == (pytest.approx(formulas.importance(1.0)), 0)
    loop.add_feedback(run["trajectory_id"], 0.0, "it was not ok")
    assert stored() == (pytest.approx(formulas.importance(1 / 3, 1)), 0)
    loop.get_playbook_strategies("ops", "cache")
    loop.get_playbook_strategies("ops", "cache")
    assert stored() == (pytest.approx(formulas.importance(1 / 3, 1, 2)), 2)
    loop.add_feedback(run["trajectory_id"], 1.0, "actually fine")
    assert stored() == (pytest.approx(formulas.importance(3 / 5, 2, 2)), 2)


def test_the_session_may_be_a_sqlalchemy_session_engine_or_url_and_context_fills_ids(
    sqlite_store: Store, tmp_path: Path
) -> None:
    from sqlalchemy.orm import Session

    team = LoopTeam()
    first = new_loop(sqlite_store, team, tmp_path)
    run = first.execute_with_learning("Count", lambda: 3, enable_reflection=False)
    context = {"user_id": "u1", "tenant_id": "acme", "agent_id": None}
    with Session(sqlite_store.engine) as session:
        for given in (session, sqlite_store.engine, sqlite_store.url):
            with LearningLoop(
                given, tmp_path / "p", team.model.name, None, context=context
            ) as loop:
                assert loop.store is not sqlite_store  # its own store on the same database
                found = loop.memory.get_trajectory(run["trajectory_id"])
                assert (found["result"], loop.tenant_id, loop.user_id) == (3, "acme", "u1")
    with pytest.raises(UsageError, match="context says user_id='u1'"):
        LearningLoop(sqlite_store, None, team.model.name, "u2", context=context)
    with pytest.raises(UsageError, match="session must be"):
        LearningLoop(42, None, team.model.name, "u1")
