"""The ACE service over HTTP on PostgreSQL, and ``ace serve`` as a real process.

In-process: a uvicorn server on the session's PostgreSQL cluster with its worker pool,
taking 32 concurrent learn posts. As processes: ``ace serve`` on SQLite (its own workers,
whose model is ``FakeOpenAI``, an OpenAI-compatible endpoint on 127.0.0.1 configured
through ``ace.toml`` as a deployment would be), and ``ace serve --workers 0`` on
PostgreSQL, whose jobs a worker pool of another process runs (``ace worker`` processes
themselves are tested in ``test_service_workers``).
"""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from _service_support import (
    FakeOpenAI,
    ServiceTeam,
    lesson,
    wait_for,
    worker_env,
    write_worker_config,
)

from ace.client import ACEClient, AsyncACEClient
from ace.llm.retry import RetryPolicy
from ace.service import Learner, LearnerConfig, Store, WorkerPool
from ace.service.api import ServiceServer
from ace.service.markers import PLAYBOOK_BEGIN

FAST = {"poll_s": 0.05, "lease_s": 2.0, "retry_policy": RetryPolicy(max_retries=0)}


def _config(team: ServiceTeam) -> LearnerConfig:
    return LearnerConfig(
        reflector_model=team.model.name,
        skill_manager_model=team.model.name,
        reflector_settings={"max_retries": 0},
        skill_manager_settings={"max_retries": 0},
    )


def test_thirty_two_agents_learn_concurrently_on_postgresql(postgres_url: str) -> None:
    team = ServiceTeam()
    config = _config(team)
    with (
        Store(postgres_url, pool_size=12) as store,
        ServiceServer(
            store, learner=config, workers=4, port=0, pool_options=FAST, grace_s=5
        ) as server,
    ):

        async def agent(ace: AsyncACEClient, index: int) -> str:
            prompt = await ace.embed_prompt("fleet", f"Task {index}. LESSON-t{index}")
            assert PLAYBOOK_BEGIN in prompt
            return await ace.start_learn("fleet", prompt, f"{prompt}\nAssistant: done")

        async def fleet() -> list[dict[str, object]]:
            async with AsyncACEClient(server.url) as ace:
                jobs = await asyncio.gather(*(agent(ace, i) for i in range(32)))
                return [await ace.wait_for_job(j, timeout=60) for j in jobs]

        finished = asyncio.run(fleet())
        assert [j["status"] for j in finished] == ["done"] * 32
        book, version = store.load_skillbook(None, "fleet")
        assert version == 32  # each job applied exactly once
        assert {s.content for s in book.skills()} == {lesson(f"t{i}") for i in range(32)}
        with ACEClient(server.url) as ace:
            prompt = ace.embed_prompt("fleet", "LESSON-t7 re-read the task", k=3)
        assert f"] {lesson('t7')}" in prompt.splitlines()[5]


def _listening(log: Path) -> str | None:
    found = re.search(r"listening on (http://127\.0\.0\.1:\d+)", log.read_text(errors="replace"))
    return found.group(1) if found else None


def _serve(folder: Path, url: str, *args: str) -> subprocess.Popen[bytes]:
    log = (folder / "serve.log").open("wb")
    command = [sys.executable, "-m", "ace.cli", "serve", "--port", "0", "--database-url", url,
               "--lease", "2", "--shutdown-grace", "5", *args]  # fmt: skip
    process = subprocess.Popen(
        command, cwd=folder, env=worker_env(), stdout=log, stderr=subprocess.STDOUT
    )
    log.close()
    return process


def _stop(process: subprocess.Popen[bytes]) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    return process.wait(timeout=30)


@pytest.mark.slow
def test_ace_serve_processes_on_sqlite_and_with_outside_workers_on_postgresql(
    postgres_url: str, tmp_path: Path
) -> None:
    """``ace serve`` on SQLite runs the jobs itself; ``ace serve --workers 0`` on PostgreSQL
    only queues them, and a worker pool of another process (here the test's) runs them.
    SIGTERM stops both servers cleanly."""
    team = ServiceTeam()
    lite, pg = tmp_path / "sqlite", tmp_path / "postgres"
    lite.mkdir()
    pg.mkdir()
    with FakeOpenAI(team) as models:
        write_worker_config(lite, models.api_base)
        processes = {
            "sqlite": _serve(lite, f"sqlite:///{lite / 'ace.db'}", "--workers", "1"),
            "postgres": _serve(pg, postgres_url, "--workers", "0"),
        }
        try:
            logs = {"sqlite": lite / "serve.log", "postgres": pg / "serve.log"}
            wait_for(lambda: all(_listening(p) for p in logs.values()), 90, "both servers")
            with (
                Store(postgres_url) as store,
                WorkerPool(store, Learner(_config(team)), **FAST).start(),
            ):
                for name, log in logs.items():
                    url = _listening(log)
                    assert url is not None
                    with ACEClient(url) as ace:
                        prompt = ace.embed_prompt("agent", f"Answer the ticket. LESSON-{name}")
                        job_id = ace.start_learn("agent", prompt, f"{prompt}\nAssistant: closed")
                        job = ace.wait_for_job(job_id, timeout=60)
                        assert job["status"] == "done", (name, job)
                        again = ace.embed_prompt("agent", "Answer the next ticket")
                        assert f"[lessons-00001] {lesson(name)}" in again
            assert (
                "no in-process workers (ace worker runs the jobs)" in logs["postgres"].read_text()
            )
            assert "1 worker thread(s), reflector simple" in logs["sqlite"].read_text()
        finally:
            codes = {name: _stop(process) for name, process in processes.items()}
    assert codes == {"sqlite": 0, "postgres": 0}, (lite / "serve.log").read_text(errors="replace")
    assert "ace serve: stopped" in (lite / "serve.log").read_text()
    assert team.count("reflector") == 2


def test_ace_serve_refuses_workers_0_on_sqlite_and_names_missing_models(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from ace.cli import main

    for name in [n for n in __import__("os").environ if n.startswith("ACE_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'ace.db'}"
    assert main(["serve", "--workers", "0", "--database-url", url]) == 2
    assert "--workers 0 on SQLite would leave every learn job queued" in capsys.readouterr().err
    assert main(["serve", "--database-url", url]) == 2
    assert "ace serve: no model configured: pass --model" in capsys.readouterr().err
