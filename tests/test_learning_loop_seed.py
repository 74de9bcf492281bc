"""Seed 004's complete example, run as written against SQLite and the test PostgreSQL.

The example is kept below exactly as the seed prints it (``test_examples_are_the_seeds_own``
checks every line against the seed text), with the one substitution the issue names:
``from nexus.core.ace.learning_loop import LearningLoop`` becomes
``from ace.learning_loop import LearningLoop``. What the example leaves undefined is
supplied by the test: ``nexus`` (a module whose ``connect()`` returns an object with
``ace.learning_loop``, a real ``LearningLoop`` on the test database with a scripted model,
and ``memory``, that loop's ``memory``), and the helpers ``fetch_customer_data``,
``validate_and_transform`` and ``store_results``. The memory-API example of the same seed
("Integration with Nexus Memory API") runs the same way.
"""

from __future__ import annotations

import logging
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_learning_loop_core import LoopTeam

from ace.learning_loop import LearningLoop
from ace.service import Store

SEEDS = Path(__file__).resolve().parents[2] / "shared" / "seeds"
SUBSTITUTION = (
    "from nexus.core.ace.learning_loop import LearningLoop",
    "from ace.learning_loop import LearningLoop",
)
LESSON = "Validate customer records before processing them"
DEPLOY_LESSON = "Deploy blue-green and switch only after the health checks pass"

EXAMPLE = '''
import nexus
from nexus.core.ace.learning_loop import LearningLoop

# Connect to Nexus
nx = nexus.connect()

# Access the learning loop
learning_loop = nx.ace.learning_loop  # type: LearningLoop

# Define your agent task
def process_customer_data(customer_id: str):
    """Process customer data with learned strategies."""

    # 1. Get relevant strategies from playbook
    strategies = learning_loop.get_playbook_strategies(
        playbook_id="data_processing_playbook",
        task_description=f"Process customer {customer_id}",
        strategy_type="helpful"
    )

    # 2. Apply high-confidence strategies
    for strategy in strategies:
        if strategy['confidence'] > 0.8:
            print(f"Applying: {strategy['pattern']}")

    # 3. Execute the actual task
    data = fetch_customer_data(customer_id)
    processed = validate_and_transform(data)
    store_results(processed)

    return {"customer_id": customer_id, "records": len(processed)}

# Execute with automatic learning
result = learning_loop.execute_with_learning(
    task_description="Process customer data with validation",
    task_fn=process_customer_data,
    task_type="data_processing",
    playbook_id="data_processing_playbook",
    enable_reflection=True,
    enable_curation=True,
    customer_id="cust_123"  # Passed to task_fn
)

# Check results
if result['success']:
    print(f"✓ Task completed: {result['result']}")
    print(f"✓ Trajectory tracked: {result['trajectory_id']}")
    print(f"✓ Reflection generated: {result['reflection_id']}")
    print(f"⏱ Duration: {result['duration_ms']}ms")
else:
    print(f"✗ Task failed: {result['error']}")

# Later: Process delayed feedback (e.g., from monitoring)
# This happens automatically in the background, or manually:
results = learning_loop.process_relearning_queue(limit=10)
print(f"Re-learned from {len(results)} trajectories")
'''

MEMORY_EXAMPLE = """
# Start trajectory manually
traj_id = nx.memory.start_trajectory(
    task_description="Deploy API changes",
    task_type="deployment"
)

# Log steps during execution
nx.memory.log_step(traj_id, "decision", "Chose blue-green deployment")
nx.memory.log_step(traj_id, "action", "Deployed to staging")
nx.memory.log_step(traj_id, "observation", "All health checks passed")

# Complete trajectory
nx.memory.complete_trajectory(
    traj_id,
    status="success",
    success_score=0.95,
    metrics={"duration_ms": 5400, "rollback_count": 0}
)

# Reflect and curate
reflection = nx.memory.reflect(traj_id)
nx.memory.curate_playbook([reflection['memory_id']], playbook_name="ops_playbook")
"""


def _seed_lines() -> set[str]:
    (path,) = SEEDS.glob("004_*.txt")
    return {line.strip() for line in path.read_text(encoding="utf-8").splitlines()}


def test_examples_are_the_seeds_own() -> None:
    seed = _seed_lines()
    for code in (EXAMPLE, MEMORY_EXAMPLE):
        missing = [line.strip() for line in code.splitlines() if line.strip() not in seed | {""}]
        assert not missing, f"not in seed 004: {missing}"
    assert SUBSTITUTION[0] in EXAMPLE


@pytest.fixture
def nexus(
    service_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[LearningLoop, LoopTeam, Store]]:
    team = LoopTeam({"customer": LESSON, "Deploy": DEPLOY_LESSON})
    with Store(service_db_url) as store:
        loop = LearningLoop(
            store, tmp_path / "payloads", team.model.name, "user_123", "agent_456", "tenant_789"
        )
        connection = types.SimpleNamespace(
            ace=types.SimpleNamespace(learning_loop=loop), memory=loop.memory
        )
        module = types.ModuleType("nexus")
        module.connect = lambda: connection  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "nexus", module)
        yield loop, team, store


def run(code: str, **names: Any) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "seed_004_example", **names}
    exec(compile(code.replace(*SUBSTITUTION), "<seed 004 example>", "exec"), namespace)
    return namespace


def test_the_complete_example_learns_and_applies_what_it_learned(
    nexus: tuple[LearningLoop, LoopTeam, Store], capsys: pytest.CaptureFixture[str]
) -> None:
    loop, team, store = nexus
    stored: list[dict[str, Any]] = []

    def fetch_customer_data(customer_id: str) -> list[dict[str, Any]]:
        logging.getLogger("crm").warning("fetched 3 records of %s", customer_id)
        return [{"email": "A@X.COM"}, {"email": ""}, {"email": "b@y.org"}]

    def validate_and_transform(data: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{"email": row["email"].lower()} for row in data if row["email"]]

    helpers = {
        "fetch_customer_data": fetch_customer_data,
        "validate_and_transform": validate_and_transform,
        "store_results": stored.extend,
    }
    outputs = []
    for _ in range(5):
        namespace = run(EXAMPLE, **helpers)
        outputs.append(capsys.readouterr().out)
    first = namespace["result"]
    assert namespace["learning_loop"] is loop and first["success"] is True
    lines = outputs[0].splitlines()
    assert lines[0] == "\u2713 Task completed: {'customer_id': 'cust_123', 'records': 2}"
    assert lines[1].startswith("\u2713 Trajectory tracked: ") and len(lines[1]) > 30
    assert lines[2].startswith("\u2713 Reflection generated: ") and "None" not in lines[2]
    assert lines[3].startswith("\u23f1 Duration: ") and lines[3].endswith("ms")
    assert lines[4] == "Re-learned from 0 trajectories"
    assert len(stored) == 10  # two records a run
    # the first run taught the lesson; each later run looked it up, was tagged helpful,
    # and its confidence grew (1 + k) / (2 + k): above 0.8 from the fifth run on
    assert [("Applying: " + LESSON) in out for out in outputs] == [False] * 4 + [True]
    (strategy,) = loop.get_playbook_strategies(
        "data_processing_playbook", "Process customer cust_9", strategy_type="helpful"
    )
    assert strategy["pattern"] == LESSON and strategy["evidence_count"] == 5
    assert strategy["confidence"] == pytest.approx(6 / 7, abs=1e-6)
    trajectory = loop.memory.get_trajectory(namespace["result"]["trajectory_id"])
    assert trajectory["arguments"] == {"customer_id": "cust_123"}
    assert (trajectory["user_id"], trajectory["agent_id"], trajectory["tenant_id"]) == (
        "user_123", "agent_456", "tenant_789",
    )  # fmt: skip
    assert [s["kind"] for s in trajectory["steps"]] == ["strategies", "log"]
    assert trajectory["steps"][1]["text"] == "fetched 3 records of cust_123"
    assert store.list_playbooks("tenant_789") == ["data_processing_playbook"]

    # delayed feedback from monitoring: the next run re-learns from it, and the lesson
    # is no longer confident enough to be applied
    loop.add_feedback(trajectory["trajectory_id"], 0.0, "duplicates reached the CRM", "monitoring")
    run(EXAMPLE, **helpers)
    out = capsys.readouterr().out
    assert "Re-learned from 1 trajectories" in out and "Applying:" not in out
    assert team.count("reflector", "duplicates reached the CRM") == 1


def test_the_memory_api_example(
    nexus: tuple[LearningLoop, LoopTeam, Store], capsys: pytest.CaptureFixture[str]
) -> None:
    loop, team, store = nexus
    namespace = run(MEMORY_EXAMPLE, nx=sys.modules["nexus"].connect())
    found = loop.memory.get_trajectory(namespace["traj_id"])
    assert [(s["kind"], s["text"]) for s in found["steps"]] == [
        ("decision", "Chose blue-green deployment"),
        ("action", "Deployed to staging"),
        ("observation", "All health checks passed"),
    ]
    assert (found["status"], found["success_score"]) == ("success", 0.95)
    assert found["metrics"] == {"duration_ms": 5400, "rollback_count": 0}
    assert found["duration_ms"] == 5400
    assert namespace["reflection"]["memory_id"] == found["reflection_id"]
    book, version = store.load_skillbook("tenant_789", "ops_playbook")
    assert version == 1 and [s.content for s in book.skills()] == [DEPLOY_LESSON]
    assert team.count("reflector", "Chose blue-green deployment") == 1
