"""RayExecutor on a real two-node loopback cluster (``tests/_ray.py``), scripted models.

The cluster is started once per session; each test connects its own executor and closes
it. The worker node has no working bubblewrap (weaker walls), the head has every wall.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from _ray import ROOT, RayTestCluster, require_ray
from _ray_models import ENV_PROBE, REFLECTOR, SLOW_REFLECTOR, node_setup, read_env, register
from _ray_models import runtime_env as read_runtime_env

from ace.errors import ConfigurationError, UsageError
from ace.eval import RRReflector, evaluate
from ace.eval.scoring import TraceResult
from ace.executors import LocalExecutor
from ace.rr import RRConfig
from ace.rr.run_ledger import RunLedger
from ace.traces import LabelledTrace
from ace.traces.load import load_labelled_traces

DATA = ROOT / "tests" / "data" / "who_and_when" / "algorithm_generated"
CONFIG = RRConfig(max_iterations=4, warm_kernels=2)


def _items(count: int) -> list[LabelledTrace]:
    return load_labelled_traces(DATA)[:count]


def _executor(cluster: RayTestCluster, **options: Any) -> Any:
    from ace.executors import RayExecutor

    return RayExecutor(cluster.address, setup=node_setup, **options)


def _picks(results: list[TraceResult]) -> list[tuple[Any, ...]]:
    return [
        (r.trace_id, r.predicted_agent, r.predicted_step, r.agent_correct, r.step_distance)
        for r in results
    ]


# ---------------------------------------------------------------------- no cluster needed
def test_import_ace_does_not_import_ray() -> None:
    code = (
        "import sys, ace, ace.executors, ace.executors._ray, ace.executors\n"
        "assert 'ray' not in sys.modules, 'ray imported'\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr


def test_missing_ray_names_the_extra() -> None:
    code = (
        "import sys\n"
        "sys.modules['ray'] = None\n"
        "from ace.executors import RayExecutor\n"
        "try:\n"
        "    RayExecutor('local')\n"
        "except ValueError as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert "UsageError" in done.stdout and "pip install 'ace-rr[ray]'" in done.stdout, done


def test_bad_addresses_raise_before_any_call() -> None:
    require_ray()
    from ace.executors import RayExecutor

    with pytest.raises(UsageError, match="no Ray cluster answers"):
        RayExecutor("127.0.0.1:1")
    with pytest.raises(UsageError, match="expected auto, local"):
        RayExecutor("not an address")
    with pytest.raises(UsageError, match="max_attempts"):
        RayExecutor("local", max_attempts=0)
    with pytest.raises(UsageError, match="not a folder"):
        RayExecutor("local", shared_storage=["/no/such/folder"])


# ---------------------------------------------------------------------- on the cluster
@pytest.mark.slow
def test_scores_equal_a_local_run_and_both_nodes_work(ray_cluster: RayTestCluster) -> None:
    register()
    items = _items(8)
    local_reflector = RRReflector(f"scripted/{REFLECTOR}", CONFIG)
    with LocalExecutor(2) as local:
        expected = evaluate(items, local_reflector, executor=local)
    local_reflector.close()
    with _executor(ray_cluster) as executor:
        assert executor.jobs == 4 and not executor.refused
        report = evaluate(items, RRReflector(f"scripted/{REFLECTOR}", CONFIG), executor=executor)
        sessions = [n.sessions for n in executor.node_status()]
    assert _picks(report.results) == _picks(expected.results)
    assert all(r.error is None and r.outcome == "final" for r in report.results)
    timing = {"seconds_per_trace", "total_seconds"}
    assert report.summary.model_dump(exclude=timing) == expected.summary.model_dump(exclude=timing)
    assert sum(sessions) == 8 and all(s > 0 for s in sessions), sessions


@pytest.mark.slow
def test_the_run_budget_holds_across_nodes(ray_cluster: RayTestCluster) -> None:
    items = _items(8)
    with _executor(ray_cluster) as executor:
        budget = executor.share_budget(RunLedger(max_calls=7))
        reflector = RRReflector(f"scripted/{REFLECTOR}", CONFIG, budget=budget)
        report = evaluate(items, reflector, executor=executor, budget=budget)
    usage = report.run_usage
    assert usage is not None and usage["calls"] <= 7 and usage["max_calls"] == 7
    assert sum(r.calls for r in report.results) <= 7
    not_run = [s for s in report.skipped if s.reason.startswith("not run")]
    assert not_run and len(report.results) + len(not_run) == 8
    assert "run_calls" in not_run[0].reason or "budget" in not_run[0].reason


@pytest.mark.slow
def test_a_plain_run_ledger_is_refused_before_any_call(ray_cluster: RayTestCluster) -> None:
    with _executor(ray_cluster) as executor:
        reflector = RRReflector(f"scripted/{REFLECTOR}", CONFIG, budget=RunLedger(max_calls=5))
        with pytest.raises(UsageError, match="share_budget"):
            evaluate(_items(2), reflector, executor=executor, budget=reflector.budget)


@pytest.mark.slow
def test_keys_reach_the_nodes_but_not_the_runtime_env(
    ray_cluster: RayTestCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "sk-ace-ray-test-0123456789"
    monkeypatch.setenv(ENV_PROBE, secret)
    with _executor(ray_cluster, secrets=[ENV_PROBE]) as executor:
        assert all(n.secrets == (ENV_PROBE,) for n in executor.nodes)
        for key in range(4):
            executor.submit(key, read_env, ENV_PROBE)
        executor.submit(9, read_runtime_env, None)
        done = {}
        while (item := executor.next_completed(60)) is not None:
            done[item.key] = item
        import ray

        job_env = ray.get_runtime_context().runtime_env
    assert [done[k].value for k in range(4)] == [secret] * 4
    assert done[9].ok and secret not in repr(done[9].value) and ENV_PROBE not in repr(done[9].value)
    assert secret not in repr(job_env)


@pytest.mark.slow
def test_require_isolation_refuses_the_weak_node(ray_cluster: RayTestCluster) -> None:
    with _executor(ray_cluster, require_isolation=True) as executor:
        refused = executor.refused
        assert len(refused) == 1 and executor.jobs == 2
        assert "isolation layers missing" in refused[0].reason and refused[0].launcher == "unshare"
        report = evaluate(
            _items(4), RRReflector(f"scripted/{REFLECTOR}", CONFIG), executor=executor
        )
        sessions = {n.node_id: n.sessions for n in executor.node_status()}
    accepted = [n for n in executor.nodes if n.accepted]
    assert all(r.error is None for r in report.results)
    assert sessions == {accepted[0].node_id: 4}


@pytest.mark.slow
def test_a_killed_node_actor_reruns_only_its_unfinished_traces(
    ray_cluster: RayTestCluster,
) -> None:
    items = _items(9)
    finished: list[int] = []
    with _executor(ray_cluster, max_attempts=3) as executor:
        victim = next(n for n in executor.nodes if n.launcher == "unshare")  # the worker node
        reflector = RRReflector(f"scripted/{SLOW_REFLECTOR}", CONFIG)
        killed = threading.Event()
        done_at_kill: list[int] = []

        def on_result(position: int, result: TraceResult) -> None:
            finished.append(position)
            if len(finished) == 2 and not killed.is_set():
                done_at_kill.extend(finished)
                os.kill(victim.pid, signal.SIGKILL)  # that one process, looked up above
                killed.set()

        report = evaluate(items, reflector, executor=executor, on_result=on_result)
        attempts = dict(executor.attempts)
    assert killed.is_set()
    assert [r.trace_id for r in report.results] == [i.trace.id for i in items]
    # No failure entries; the outcome may be a synthesis when a cell ran slow under load.
    assert all(r.error is None for r in report.results), [r.error for r in report.results]
    again = {k for k, n in attempts.items() if n > 1}
    assert again, "the kill hit no running trace"
    assert not again & set(done_at_kill)
    assert all(n <= 3 for n in attempts.values())


@pytest.mark.slow
def test_max_attempts_one_turns_a_crash_into_a_failure_entry(
    ray_cluster: RayTestCluster,
) -> None:
    items = _items(9)
    with _executor(ray_cluster, max_attempts=1) as executor:
        victim = next(n for n in executor.nodes if n.launcher == "unshare")
        reflector = RRReflector(f"scripted/{SLOW_REFLECTOR}", CONFIG)
        finished: list[int] = []

        def on_result(position: int, result: TraceResult) -> None:
            finished.append(position)
            if len(finished) == 2:
                os.kill(victim.pid, signal.SIGKILL)  # that one process, looked up above

        report = evaluate(items, reflector, executor=executor, on_result=on_result)
        attempts = dict(executor.attempts)
    failed = [r for r in report.results if r.error]
    assert failed, "no trace was running on the killed actor"
    assert all("RunError" in (r.error or "") and "died" in (r.error or "") for r in failed)
    assert len(report.results) == 9 and set(attempts.values()) == {1}


@pytest.mark.slow
def test_resume_runs_only_the_traces_not_done(ray_cluster: RayTestCluster) -> None:
    register()
    items = _items(6)
    first = evaluate(items[:3], RRReflector(f"scripted/{REFLECTOR}", CONFIG))
    with _executor(ray_cluster) as executor:
        report = evaluate(
            items,
            RRReflector(f"scripted/{REFLECTOR}", CONFIG),
            executor=executor,
            done=first.results,
        )
        attempts = dict(executor.attempts)
    assert sorted(attempts) == [3, 4, 5]
    assert [r.trace_id for r in report.results] == [i.trace.id for i in items]
    assert report.results[:3] == first.results


@pytest.mark.slow
def test_shared_storage_reads_on_the_node_and_checks_the_hash(
    ray_cluster: RayTestCluster, tmp_path: Path
) -> None:
    from ace.executors._ray_shipping import SharedTrace, ship

    items = _items(4)
    with _executor(ray_cluster, shared_storage=[DATA]) as executor:
        shipped = ship(items[0], executor._roots)
        assert isinstance(shipped, SharedTrace) and shipped.sha256
        report = evaluate(items, RRReflector(f"scripted/{REFLECTOR}", CONFIG), executor=executor)
        wrong = dataclasses.replace(shipped, sha256="0" * 64)
        executor.submit(0, _trace_id, wrong)
        executor.submit(1, _trace_id, shipped)
        done = {}
        while (item := executor.next_completed(60)) is not None:
            done[item.key] = item
    assert all(r.error is None for r in report.results)
    assert done[1].value == items[0].trace.id
    assert done[0].cause is not None and "differs from the driver's copy" in done[0].cause


def _trace_id(item: LabelledTrace) -> str:
    return item.trace.id


@pytest.mark.slow
def test_a_node_that_cannot_start_is_a_clear_error(ray_cluster: RayTestCluster) -> None:
    from ace.executors import RayExecutor

    with pytest.raises(ConfigurationError, match=r"did not start .*this node is broken"):
        RayExecutor(ray_cluster.address, setup=_fail_setup)
    import ray

    assert not ray.is_initialized()


def _fail_setup() -> None:
    raise RuntimeError("this node is broken")


# ---------------------------------------------------------------------- the CLI
def test_cli_ray_options_need_ray_and_a_live_address(tmp_path: Path) -> None:
    from _cli_support import run_cli

    shared = run_cli("rr", "eval", str(DATA), "--reflector", "random", "--shared-storage", "x")
    assert shared.returncode == 2 and "applies to Ray runs only" in shared.stderr
    dead = run_cli(
        "rr", "eval", str(DATA), "--reflector", "random", "--ray", "127.0.0.1:1",
        "--out", str(tmp_path / "r.json"),
    )  # fmt: skip
    assert dead.returncode == 2, dead.stderr
    assert "no Ray cluster answers" in dead.stderr and not (tmp_path / "r.json").exists()


@pytest.mark.slow
def test_cli_eval_on_the_cluster_equals_the_local_report(
    ray_cluster: RayTestCluster, tmp_path: Path
) -> None:
    import json

    from _cli_support import run_cli

    common = ("rr", "eval", str(DATA), "--reflector", "random", "--seed", "3")
    local = run_cli(*common, "--jobs", "2", "--out", str(tmp_path / "local.json"))
    remote = run_cli(
        *common, "--ray", ray_cluster.address, "--max-attempts", "2",
        "--out", str(tmp_path / "ray.json"),
    )  # fmt: skip
    assert local.returncode == 0, local.stderr
    assert remote.returncode == 0, remote.stderr
    mine, theirs = (json.loads((tmp_path / n).read_text()) for n in ("ray.json", "local.json"))
    fields = ("trace_id", "predicted_agent", "predicted_step", "agent_correct", "error")
    assert [[r[f] for f in fields] for r in mine["results"]] == [
        [r[f] for f in fields] for r in theirs["results"]
    ]
    assert remote.stdout.splitlines()[:3] == local.stdout.splitlines()[:3]


class _OneSkillPerReflection:
    """Adds a skill naming the reflection's attribution and how many skills it saw."""

    def update_skills(self, **kwargs: Any) -> Any:
        from ace.outputs import SkillManagerOutput
        from ace.updates import UpdateBatch, UpdateOperation

        (reflection,) = kwargs["reflections"]
        seen = len(kwargs["skillbook"].skills())
        blamed = reflection.attribution.agent if reflection.attribution else None
        content = f"{blamed} after {seen} skills"
        return SkillManagerOutput(
            update=UpdateBatch(
                operations=[UpdateOperation(type="ADD", section="s", content=content)]
            )
        )


@pytest.mark.slow
def test_trace_analyser_on_the_cluster_builds_the_local_skillbook(
    ray_cluster: RayTestCluster,
) -> None:
    from ace import TraceAnalyser
    from ace.rr import RRStep

    register()
    traces = [item.trace for item in _items(5)]
    with RRStep(f"scripted/{REFLECTOR}", config=CONFIG) as rr:
        local = TraceAnalyser(reflector=rr, skill_manager=_OneSkillPerReflection())
        with LocalExecutor(2) as threads:
            local.run(traces, executor=threads)
    remote = TraceAnalyser(
        reflector=RRStep(f"scripted/{REFLECTOR}", config=CONFIG),
        skill_manager=_OneSkillPerReflection(),
    )
    with _executor(ray_cluster) as executor:
        results = remote.run(traces, executor=executor)
    assert all(r.ok for r in results) and [r.index for r in results] == list(range(5))
    contents = [s.content for s in remote.skillbook.skills()]
    expected = [s.content for s in local.skillbook.skills()]
    # A session that fails on a node ends in a failure reflection (no attribution; its
    # cause in the reasoning), by design. The skillbook must still be built in input order
    # ("after N skills"); the blamed agents must match for every session that did not fail.
    failed = [
        (r.index, [x.reasoning[:300] for x in r.output.reflections])
        for r in results
        if r.output is not None and any(x.attribution is None for x in r.output.reflections)
    ]
    assert len(failed) <= 1, failed
    assert len(contents) == len(expected) == 5
    for index, (mine, theirs) in enumerate(zip(contents, expected, strict=True)):
        if index in {i for i, _ in failed}:
            assert mine.split(" after ")[1] == theirs.split(" after ")[1], (mine, theirs)
        else:
            assert mine == theirs, (index, contents, expected, failed)


class _RRTeam:
    """The Ray tests' reflector served over HTTP (``FakeOpenAI``), so a CLI process and
    every node reach the same model: explore once, then name the middle step's agent."""

    def answer(self, text: str) -> str:
        from _ray_models import EXPLORE, FINAL

        from ace.testing import code_reply

        return code_reply(FINAL if EXPLORE in text else EXPLORE)


@pytest.mark.slow
def test_cli_analyse_batch_on_the_cluster_equals_the_local_run(
    ray_cluster: RayTestCluster, tmp_path: Path
) -> None:
    import json
    import shutil

    from _cli_support import run_cli
    from _service_support import FakeOpenAI

    folder = tmp_path / "traces"
    folder.mkdir()
    for name in ("1.json", "2.json", "3.json"):
        shutil.copy(DATA / name, folder / name)
    with FakeOpenAI(_RRTeam()) as served:  # type: ignore[arg-type]
        # the key and base reach the nodes as actor arguments (default secrets)
        env = {"OPENAI_API_KEY": "sk-test-local-endpoint", "OPENAI_API_BASE": served.api_base}
        common = ("rr", "analyse-batch", str(folder), "--model", "openai/ray-rr")
        local = run_cli(*common, "--jobs", "2", "--out", str(tmp_path / "local.json"), env=env)
        remote = run_cli(
            *common, "--ray", ray_cluster.address, "--out", str(tmp_path / "ray.json"), env=env
        )
    assert local.returncode == 0, local.stderr
    assert remote.returncode == 0, remote.stderr
    mine, theirs = (json.loads((tmp_path / n).read_text()) for n in ("ray.json", "local.json"))
    fields = ("trace_id", "predicted_agent", "predicted_step", "error")
    picks = [[r[f] for f in fields] for r in mine["results"]]
    assert picks == [[r[f] for f in fields] for r in theirs["results"]]
    assert len(picks) == 3 and all(p[1] is not None and p[3] is None for p in picks), picks


@pytest.mark.slow
def test_a_lost_node_reruns_only_its_unfinished_traces(ray_cluster: RayTestCluster) -> None:
    """A third node joins the session's cluster, takes sessions, and is removed (its raylet
    and workers killed) while one runs there: its unfinished traces run again elsewhere;
    none that had finished runs twice. Runs last in this file: the cluster is left as it
    was."""
    cluster = ray_cluster.cluster
    python_path = os.pathsep.join(
        [str(ROOT), str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")]
    )
    extra = cluster.add_node(
        node_ip_address="127.0.0.1",
        num_cpus=1,
        object_store_memory=200 * 1024 * 1024,
        resources={"ace_kernel": 2},
        env_vars={"PYTHONPATH": python_path, "RAY_USAGE_STATS_ENABLED": "0"},
    )
    cluster.wait_for_nodes()
    removed = threading.Event()
    try:
        items = _items(9)
        finished: list[int] = []
        done_at_loss: list[int] = []
        with _executor(ray_cluster, max_attempts=3) as executor:
            joined = {n.node_id: n for n in executor.nodes}
            assert joined[extra.node_id].accepted, joined[extra.node_id].reason
            reflector = RRReflector(f"scripted/{SLOW_REFLECTOR}", CONFIG)

            def on_result(position: int, result: TraceResult) -> None:
                finished.append(position)
                if len(finished) < 2 or removed.is_set():
                    return
                # a slow node (its first worker can take seconds to start under load) may
                # not have begun a session yet: remove it only while one runs there
                now = {n.node_id: n for n in executor.node_status()}
                if now[extra.node_id].running:
                    done_at_loss.extend(finished)
                    cluster.remove_node(extra, allow_graceful=False)
                    removed.set()

            report = evaluate(items, reflector, executor=executor, on_result=on_result)
            attempts = dict(executor.attempts)
        assert removed.is_set(), "no session ran on the third node while others finished"
        again = {k for k, n in attempts.items() if n > 1}
        assert again, f"the lost node was running none of the traces: {attempts}"
        assert [r.trace_id for r in report.results] == [i.trace.id for i in items]
        assert all(r.error is None for r in report.results), [r.error for r in report.results]
        assert not {k for k, n in attempts.items() if n > 1} & set(done_at_loss)
        assert all(n <= 3 for n in attempts.values())
    finally:
        if not removed.is_set():
            cluster.remove_node(extra, allow_graceful=False)
