"""Learn jobs run by an in-process worker pool (the service's own, as on SQLite) against
real databases, with the roles scripted through litellm (``ace.testing``)."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest
from _service_support import ServiceTeam, lesson, run_request, wait_for
from sqlalchemy import update

from ace import UpdateBatch, UpdateOperation
from ace.errors import ConfigurationError, UsageError
from ace.llm.retry import RetryPolicy
from ace.service import Learner, LearnerConfig, LeaseLostError, Store, WorkerPool
from ace.service.learner import instructions_note
from ace.service.markers import embed
from ace.service.models import LearnJob, utcnow
from ace.testing import Fail

FAST_RETRY = RetryPolicy(max_retries=1, initial_delay_s=0.05, multiplier=1.0, jitter=0.0)
NO_CLIENT_RETRIES = {"max_retries": 0}


def learner(model: str, **options: object) -> Learner:
    return Learner(
        LearnerConfig(
            reflector_model=model,
            skill_manager_model=model,
            reflector_settings=NO_CLIENT_RETRIES,
            skill_manager_settings=NO_CLIENT_RETRIES,
            **options,  # type: ignore[arg-type]
        )
    )


def pool(store: Store, model: str, **options: object) -> WorkerPool:
    defaults: dict[str, object] = {"poll_s": 0.05, "lease_s": 2.0, "retry_policy": FAST_RETRY}
    return WorkerPool(store, learner(model), **{**defaults, **options})  # type: ignore[arg-type]


def test_a_job_reflects_tags_cited_skills_and_curates_its_playbook(service_db_url: str) -> None:
    team = ServiceTeam()
    with Store(service_db_url) as store:
        add = UpdateOperation(type="ADD", section="math", content="Show the arithmetic")
        store.apply_update("acme", "calc", UpdateBatch(operations=[add]))
        book, _ = store.load_skillbook("acme", "calc")
        prompt = embed("What is 6 * 7? LESSON-7", book.skills())
        request = {
            "user_message": prompt,
            "trajectory": f"{prompt}\nAssistant: 41\nTool error: none\nFinal: 41",
            "ground_truth": "42",
            "evaluation": "unit test failed: expected 42",
            "reflector_additional_instructions": "Blame arithmetic slips first.",
            "curator_additional_instructions": "Keep every skill under ten words.",
        }
        job = store.submit_job("acme", "calc", request)
        with pool(store, team.model.name).start() as workers:
            assert workers.wait_idle(30)
        done = store.get_job("acme", job.id)
        assert done is not None and done.status == "done", done
        assert (done.attempts, done.error, done.errors) == (1, None, [])
        assert done.started_at and done.finished_at and done.finished_at >= done.started_at
        result = done.result or {}
        assert result["version"] == 2 and result["applied"] == 2  # the ADD, and the TAG
        assert result["cited_skill_ids"] == ["math-00001"] and result["rebased_from"] is None
        assert result["reflect_s"] >= 0 and result["curate_s"] >= 0 and result["attempt"] == 1
        book, version = store.load_skillbook("acme", "calc")
        assert version == 2
        cited = book.get_skill("math-00001")
        assert cited is not None and cited.helpful == 1
        added = book.get_skill("lessons-00002")
        assert added is not None and added.content == lesson("7")
        assert [(s.source_system, s.trace_id, s.operation_type) for s in added.sources] == [
            ("ace-service", job.id, "ADD")
        ]
        assert store.history("acme", "calc")[-1].job_id == job.id
    reflector_prompt, manager_prompt = (
        team.requests["reflector"][0],
        team.requests["skill_manager"][0],
    )
    assert (
        "[math-00001] Show the arithmetic" in reflector_prompt.split("SKILLS THE ATTEMPT CITED")[1]
    )
    assert (
        "unit test failed: expected 42" in reflector_prompt
        and "CORRECT ANSWER\n42" in reflector_prompt
    )
    assert instructions_note("Blame arithmetic slips first.") in reflector_prompt
    assert (
        "FROM THE TEAM THAT SUBMITTED THIS RUN\nBlame arithmetic slips first." in reflector_prompt
    )
    assert "Keep every skill under ten words." not in reflector_prompt
    assert instructions_note("Keep every skill under ten words.") in manager_prompt
    assert (
        "PLAYBOOK_BEGIN"
        not in manager_prompt.split("THE TASK THESE REFLECTIONS COME FROM")[1].split(
            "CURRENT SKILLBOOK"
        )[0]
    )


def test_twenty_concurrent_jobs_on_one_playbook_end_with_twenty_skills(service_db_url: str) -> None:
    # The curator is slow, so the workers compute their batches on the same version and
    # must rebase on each other's changes.
    team = ServiceTeam(delays={"skill_manager": 0.2})
    with Store(service_db_url, pool_size=6) as store:
        jobs = [store.submit_job(None, "shared", run_request(str(i))) for i in range(20)]
        with pool(store, team.model.name, concurrency=4).start() as workers:
            assert workers.wait_idle(60)
        assert store.job_counts(None) == {"queued": 0, "running": 0, "done": 20, "failed": 0}
        book, version = store.load_skillbook(None, "shared")
        assert version == 20
        assert sorted(s.content for s in book.skills()) == sorted(lesson(str(i)) for i in range(20))
        history = store.history(None, "shared")
        assert sorted(h.job_id or "" for h in history) == sorted(j.id for j in jobs)
        assert any(h.rebased for h in history), "no batch was rebased: the test lost its race"


def test_a_failure_a_retry_can_fix_is_retried_with_backoff(service_db_url: str) -> None:
    team = ServiceTeam(
        fail=lambda role, text, n: (
            Fail("rate_limit", "slow down") if (role, n) == ("reflector", 1) else None
        )
    )
    with Store(service_db_url) as store:
        job = store.submit_job(None, "pb", run_request("1"))
        with pool(store, team.model.name).start() as workers:
            wait_for(lambda: store.job_counts(None)["done"] == 1, 30, "the retried job")
            assert workers.stats.retried == 1 and workers.stats.done == 1
        done = store.get_job(None, job.id)
        assert done is not None and (done.status, done.attempts, done.error) == ("done", 2, None)
        (first,) = done.errors
        assert first["attempt"] == 1 and first["retryable"] is True
        assert "RateLimitError" in first["cause"] and "slow down" in first["cause"]


def test_retries_end_and_the_job_fails_naming_the_cause(service_db_url: str) -> None:
    team = ServiceTeam(fail=lambda role, text, n: Fail("server_error", "upstream down"))
    with Store(service_db_url) as store:
        job = store.submit_job(None, "pb", run_request("1"), max_attempts=2)
        with pool(store, team.model.name).start():
            wait_for(lambda: store.job_counts(None)["failed"] == 1, 30, "the job to fail")
        failed = store.get_job(None, job.id)
        assert failed is not None and failed.attempts == 2
        assert failed.error is not None and failed.error.startswith("gave up after 2 attempt(s): ")
        assert "InternalServerError" in failed.error and "upstream down" in failed.error
        assert [e["retryable"] for e in failed.errors] == [True, True]
        assert store.load_skillbook(None, "pb")[1] == 0


@pytest.mark.parametrize(
    ("unknown", "says"),
    [(False, "AuthenticationError"), (True, "LLM Provider NOT provided")],
    ids=["failed-authentication", "unknown-model"],
)
def test_what_a_retry_cannot_fix_fails_the_job_at_once(
    tmp_path: Path, unknown: bool, says: str
) -> None:
    team = ServiceTeam(fail=lambda role, text, n: Fail("auth", "invalid api key"))
    # litellm cannot route the unknown model; the loopback api_base only keeps the test's
    # tripwire from stopping the call before litellm gets to say so
    settings = {"max_retries": 0, "api_base": "http://127.0.0.1:9/v1"}
    model = "nonexistent-provider-xyz/some-model" if unknown else team.model.name
    config = LearnerConfig(
        reflector_model=model,
        skill_manager_model=model,
        reflector_settings=settings if unknown else NO_CLIENT_RETRIES,
        skill_manager_settings=settings if unknown else NO_CLIENT_RETRIES,
    )
    with Store(tmp_path / "ace.db") as store:
        job = store.submit_job(None, "pb", run_request("1"))
        with WorkerPool(store, Learner(config), poll_s=0.05, retry_policy=FAST_RETRY) as workers:
            wait_for(lambda: store.job_counts(None)["failed"] == 1, 30, "the job to fail")
            assert workers.stats.retried == 0
        failed = store.get_job(None, job.id)
        assert failed is not None and failed.attempts == 1
        assert failed.error is not None and says in failed.error, failed.error
        assert "NonRetryableError" in failed.error
        assert [e["retryable"] for e in failed.errors] == [False]


def test_a_missing_api_key_stops_the_pool_or_fails_the_job_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a loopback endpoint that nothing serves: no request may be made at all
    settings = {"api_base": "http://127.0.0.1:9/v1", "max_retries": 0}
    config = LearnerConfig(
        reflector_model="openai/gpt-4o-mini",
        skill_manager_model="anthropic/claude-sonnet-4-5",
        reflector_settings=settings,
        skill_manager_settings=settings,
    )
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "present")
    with Store(tmp_path / "ace.db") as store:
        workers = WorkerPool(store, Learner(config), poll_s=0.05, retry_policy=FAST_RETRY)
        with pytest.raises(ConfigurationError, match="'openai/gpt-4o-mini' needs OPENAI_API_KEY"):
            workers.start()
        monkeypatch.setenv("OPENAI_API_KEY", "present")
        with WorkerPool(store, Learner(config), poll_s=0.05, retry_policy=FAST_RETRY):
            monkeypatch.delenv("OPENAI_API_KEY")  # gone after the pool started
            job = store.submit_job(None, "pb", run_request("1"))
            wait_for(lambda: store.job_counts(None)["failed"] == 1, 30, "the job to fail")
        failed = store.get_job(None, job.id)
        assert failed is not None and failed.attempts == 1
        assert failed.error == (
            "NonRetryableError: model 'openai/gpt-4o-mini' needs OPENAI_API_KEY in the "
            "environment (e.g. export OPENAI_API_KEY=...)"
        )


def test_a_job_whose_worker_died_is_claimed_again_after_its_lease(service_db_url: str) -> None:
    team = ServiceTeam()
    with Store(service_db_url) as store:
        job = store.submit_job(None, "pb", run_request("1"))
        dead = store.claim_job("worker-that-dies", lease_s=0.5)  # and never heartbeats
        assert dead is not None and dead.id == job.id and dead.attempt == 1
        assert store.claim_job("another", lease_s=0.5) is None  # leased: nobody else takes it
        with pool(store, team.model.name).start():
            wait_for(lambda: store.job_counts(None)["done"] == 1, 30, "the job to be re-run")
        done = store.get_job(None, job.id)
        assert done is not None and done.attempts == 2
        assert "stopped responding (its lease expired)" in done.errors[0]["cause"]
        # the dead worker's late result is refused and changes nothing
        with pytest.raises(LeaseLostError, match="no longer current"):
            store.finish_job(dead, UpdateBatch(), base_version=0)
        assert store.load_skillbook(None, "pb")[1] == 1


def test_a_job_whose_worker_keeps_dying_fails_after_its_attempts(service_db_url: str) -> None:
    with Store(service_db_url) as store:
        job = store.submit_job(None, "pb", run_request("1"), max_attempts=2)
        for _ in range(2):
            assert store.claim_job("dies", lease_s=0.2) is not None
            time.sleep(0.3)  # the lease runs out
        assert store.claim_job("survivor", lease_s=1) is None
        failed = store.get_job(None, job.id)
        assert failed is not None and failed.status == "failed"
        assert failed.error == (
            "gave up after 2 attempt(s): the worker running attempt 2 stopped responding "
            "(its lease expired)"
        )


def test_stop_gives_unfinished_jobs_back_and_their_late_results_are_discarded(
    service_db_url: str,
) -> None:
    team = ServiceTeam(delays={"skill_manager": 1.5})
    with Store(service_db_url) as store:
        job = store.submit_job(None, "pb", run_request("1"))
        store.submit_job(None, "pb", run_request("2"))
        workers = pool(store, team.model.name).start()
        wait_for(lambda: team.count("skill_manager") == 1, 30, "the curator call")
        workers.stop(grace_s=0.1)
        assert workers.stats.released == 1
        released = store.get_job(None, job.id)
        assert released is not None and (released.status, released.attempts) == ("queued", 0)
        assert store.job_counts(None)["queued"] == 2  # the second was never claimed
        wait_for(lambda: team.count("skill_manager") == 1 and workers.stats.lost == 1, 10,
                 "the abandoned job's late result")  # fmt: skip
        assert store.load_skillbook(None, "pb")[1] == 0
        # a new pool finishes both
        fast = ServiceTeam()
        with pool(store, fast.model.name).start() as again:
            assert again.wait_idle(30)
        assert store.job_counts(None)["done"] == 2


def test_the_pool_purges_old_finished_jobs_when_asked(tmp_path: Path) -> None:
    team = ServiceTeam()
    with Store(tmp_path / "ace.db") as store:
        old = store.submit_job("acme", "pb", run_request("1"))
        with store.engine.begin() as connection:
            connection.execute(
                update(LearnJob)
                .where(LearnJob.id == old.id)
                .values(status="done", finished_at=utcnow() - timedelta(days=10))
            )
        fresh = store.submit_job("acme", "pb", run_request("2"))
        with pool(store, team.model.name, retention_days=7).start() as workers:
            assert workers.wait_idle(30)
            assert workers.stats.purged == 1
        assert store.get_job("acme", old.id) is None
        kept = store.get_job("acme", fresh.id)
        assert kept is not None and kept.status == "done"


def test_caller_mistakes_raise_before_any_model_call(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="reflector must be one of simple, rr"):
        LearnerConfig(reflector_model="m", skill_manager_model="m", reflector="deep")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="reflector_model must be a model string"):
        LearnerConfig(reflector_model="", skill_manager_model="m")
    with pytest.raises(UsageError, match="not a model setting"):
        LearnerConfig(reflector_model="m", skill_manager_model="m", reflector_settings={"stop": 1})
    with pytest.raises(UsageError, match="need reflector='rr'"):
        LearnerConfig(reflector_model="m", skill_manager_model="m", subagent_model="s")
    with Store(tmp_path / "ace.db") as store:
        for bad in ({"concurrency": 0}, {"lease_s": 0}, {"retention_days": -1}):
            with pytest.raises(UsageError):
                WorkerPool(store, learner("m"), **bad)  # type: ignore[arg-type]
        with pytest.raises(UsageError, match="lease_s"):
            store.claim_job("w", lease_s=0)


@pytest.mark.slow
def test_the_recursive_reflector_can_do_the_reflecting(tmp_path: Path) -> None:
    from ace.rr import RRConfig

    team = ServiceTeam()
    with Store(tmp_path / "ace.db") as store:
        job = store.submit_job(None, "pb", run_request("rr1"))
        rr = learner(team.model.name, reflector="rr", rr_config=RRConfig(max_iterations=3))
        with WorkerPool(store, rr, poll_s=0.05).start() as workers:
            assert workers.wait_idle(120)
        done = store.get_job(None, job.id)
        assert done is not None and done.status == "done", done
        assert (done.result or {})["reflector"] == "rr"
        assert [s.content for s in store.load_skillbook(None, "pb")[0].skills()] == [lesson("rr1")]
    assert team.count("rr") >= 1 and team.count("reflector") == 0
