"""``ace worker`` as real processes on PostgreSQL: killed mid-job, stopped by SIGTERM, two
of them sharing one queue. Their models are served by ``FakeOpenAI`` (an OpenAI-compatible
endpoint on 127.0.0.1) and configured through ``ace.toml``; see ``_service_support``."""

from __future__ import annotations

import os
import signal
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from _service_support import (
    MODEL,
    FakeOpenAI,
    ServiceTeam,
    lesson,
    run_request,
    start_worker,
    wait_for,
    write_worker_config,
)

from ace.cli import main
from ace.service import Store


def log_of(folder: Path, name: str) -> str:
    return (folder / f"{name}.log").read_text(errors="replace")


def ready(folder: Path, name: str) -> bool:
    return "SIGTERM or Ctrl-C stops" in log_of(folder, name)


def stop(process: subprocess.Popen[bytes], timeout: float = 30) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    return process.wait(timeout=timeout)


def test_ace_worker_refuses_sqlite_and_missing_models(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in [n for n in os.environ if n.startswith("ACE_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    assert main(["worker", "--database-url", f"sqlite:///{tmp_path}/ace.db"]) == 2
    err = capsys.readouterr().err
    assert "is SQLite, which runs one in-process worker pool inside the service" in err
    assert not (tmp_path / "ace.db").exists()
    url = "postgresql://nobody@127.0.0.1:9/none"  # never reached: the models are checked first
    assert main(["worker", "--database-url", url]) == 2
    assert "no model configured: pass --model" in capsys.readouterr().err
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert main(["worker", "--database-url", url, "--model", "openai/gpt-4o-mini"]) == 2
    assert "needs OPENAI_API_KEY in the environment" in capsys.readouterr().err


@pytest.mark.slow
def test_sigterm_stops_claiming_and_lets_the_running_job_finish(
    postgres_url: str, tmp_path: Path
) -> None:
    # (Giving unfinished jobs back when the grace runs out is WorkerPool.stop's part, tested
    # in-process in test_service_jobs; here the signal path of the real process.)
    team = ServiceTeam(delays={"skill_manager": 1.5})
    with FakeOpenAI(team) as server, Store(postgres_url) as store:
        write_worker_config(tmp_path, server.api_base)
        jobs = [store.submit_job(None, "pb", run_request(str(i))).id for i in range(3)]
        worker = start_worker(postgres_url, tmp_path, "worker", "--shutdown-grace", "20")
        wait_for(lambda: team.count("skill_manager") == 1, 60, "the first curator call")
        assert stop(worker) == 0
        log = log_of(tmp_path, "worker")
        assert "stopping; running jobs may finish for 20 s" in log
        assert "stopped; 1 done, 0 to retry, 0 failed, 0 given back, 0 lost" in log
        states = [store.get_job(None, j) for j in jobs]
        assert [(s.status, s.attempts) for s in states if s] == [
            ("done", 1), ("queued", 0), ("queued", 0),
        ]  # fmt: skip
        assert store.load_skillbook(None, "pb")[1] == 1
        assert team.count("skill_manager") == 1


@pytest.mark.slow
def test_two_worker_processes_share_two_hundred_jobs_and_a_killed_one_loses_nothing(
    postgres_url: str, tmp_path: Path
) -> None:
    """Two ``ace worker`` processes (two threads each) work through 200 queued jobs on one
    playbook. The one running the slow job is killed with SIGKILL in the middle of it and
    started again. Every job ends ``done``, each applied exactly once."""
    team = ServiceTeam(delays={"skill_manager": 0.02}, slow_lessons={"slow": 3.0})
    with FakeOpenAI(team) as server, Store(postgres_url) as store:
        write_worker_config(tmp_path, server.api_base)
        workers = {
            name: start_worker(postgres_url, tmp_path, name, "--concurrency", "2")
            for name in ("one", "two")
        }
        try:
            wait_for(lambda: all(ready(tmp_path, n) for n in workers), 60, "both workers")
            requests = [run_request(str(i)) for i in range(199)]
            requests.insert(40, run_request("slow"))
            jobs = [store.submit_job(None, "shared", r).id for r in requests]
            slow = jobs[40]
            wait_for(lambda: team.count("skill_manager", "LESSON-slow") == 1, 60, "the slow job")
            holder = store.get_job(None, slow)
            assert holder is not None and holder.status == "running" and holder.worker_id
            pid = int(holder.worker_id.split(":")[1])
            (victim,) = [name for name, process in workers.items() if process.pid == pid]
            workers[victim].kill()  # SIGKILL, in the middle of the slow job's curator call
            assert workers[victim].wait(timeout=10) == -signal.SIGKILL
            interrupted = [
                j.id
                for j in store.list_jobs(None, status="running")
                if j.worker_id == holder.worker_id
            ]
            assert slow in interrupted
            workers["restarted"] = start_worker(
                postgres_url, tmp_path, "restarted", "--concurrency", "2"
            )
            wait_for(lambda: store.job_counts(None)["done"] == 200, 180, "200 jobs done")
            wait_for(lambda: ready(tmp_path, "restarted"), 60, "the restarted worker")
        finally:
            codes = {name: stop(process) for name, process in workers.items()}
        survivors = {name: code for name, code in codes.items() if name != victim}
        assert set(survivors.values()) == {0}, [log_of(tmp_path, n) for n in survivors]
        assert store.job_counts(None) == {"queued": 0, "running": 0, "done": 200, "failed": 0}
        finished = {j.id: j for j in store.list_jobs(None)}
        for job_id in interrupted:
            assert finished[job_id].attempts == 2
            assert "stopped responding (its lease expired)" in finished[job_id].errors[0]["cause"]
        assert all(j.attempts == 1 for i, j in finished.items() if i not in interrupted)
        took_part = Counter((j.result or {})["worker_id"].split(":")[1] for j in finished.values())
        assert len(took_part) >= 2, took_part
        assert sorted((j.result or {})["version"] for j in finished.values()) == list(range(1, 201))
        history = store.history(None, "shared")
        assert Counter(h.job_id for h in history) == Counter(jobs)  # each applied exactly once
        book, version = store.load_skillbook(None, "shared")
        assert version == 200
        expected = [lesson(str(i)) for i in range(199)] + [lesson("slow")]
        assert sorted(s.content for s in book.skills()) == sorted(expected)


def test_worker_models_come_from_flags_config_or_a_scripted_session(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ace.cli._parser import build_parser
    from ace.cli._service import _learner_config

    for name in [n for n in os.environ if n.startswith("ACE_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    write_worker_config(tmp_path, "http://127.0.0.1:9/v1")
    parse = build_parser().parse_args
    config, _ = _learner_config(parse(["worker", "--reflector", "rr"]))
    assert (config.reflector_model, config.skill_manager_model) == (MODEL, MODEL)
    assert config.reflector == "rr" and config.subagent_model is None
    assert config.reflector_settings["api_base"] == "http://127.0.0.1:9/v1"
    config, _ = _learner_config(parse(["worker", "--skill-manager-model", "openai/gpt-4o"]))
    assert (config.reflector_model, config.skill_manager_model) == (MODEL, "openai/gpt-4o")
    session = tmp_path / "session.json"
    session.write_text('{"description": "scripted", "replies": ["{}", "{}"]}')
    config, keep_alive = _learner_config(parse(["worker", "--model", f"scripted:{session}"]))
    assert config.reflector_model == config.skill_manager_model
    assert config.reflector_model.startswith("scripted/") and keep_alive
