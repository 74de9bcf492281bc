"""Workers: threads that claim learn jobs, run them, and record how each ended.

A ``WorkerPool`` runs ``concurrency`` threads against one ``Store``. Each claims a job
(with a lease of ``lease_s`` seconds), learns (``Learner``), and applies the batch and
marks the job ``done`` in one transaction, so a job's update lands once or not at all. A
heartbeat thread renews the leases of running jobs every ``lease_s / 3``; a job whose
worker died is claimed again once its lease has expired.

A failed attempt is retried with backoff (``retry_policy``) only when a retry can fix it
(``classify_failure``); otherwise the job fails at once with the cause. ``stop()`` stops
claiming, waits up to ``grace_s`` for running jobs, gives the rest back to the queue and
(with ``close_store=True``) closes the database. With ``retention_days`` the pool also deletes finished jobs older
than that, at start and every ``retention_interval_s``.

On SQLite, run one pool, in the process that owns the database file (the service); on
PostgreSQL any number of pools and processes (``ace worker``) may share the queue.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ace.errors import UsageError
from ace.llm.retry import RetryPolicy
from ace.service.learner import Learner, classify_failure, source_for
from ace.service.store import (
    ALL_TENANTS,
    DEFAULT_JOB_RETRY,
    DEFAULT_LEASE_S,
    LeaseLostError,
    Store,
)

if TYPE_CHECKING:
    from types import TracebackType

    from ace.service.requests import ClaimedJob

DEFAULT_POLL_S = 1.0
"""How long an idle worker waits before looking for a job again."""
DEFAULT_SHUTDOWN_GRACE_S = 30.0
"""How long ``stop()`` lets running jobs finish before giving them back."""

_log = logging.getLogger("ace.service")


@dataclass
class PoolStats:
    """What a pool has done since it started."""

    claimed: int = 0
    done: int = 0
    retried: int = 0
    failed: int = 0
    lost: int = 0
    """Jobs whose claim was lost (lease expired, or released at shutdown) before finishing."""
    released: int = 0
    purged: int = 0
    errors: list[str] = field(default_factory=list)
    """Problems of the pool itself (e.g. the database unreachable), latest last."""


class WorkerPool:
    """``concurrency`` worker threads and a heartbeat thread over one store."""

    def __init__(
        self,
        store: Store,
        learner: Learner,
        *,
        concurrency: int = 1,
        lease_s: float = DEFAULT_LEASE_S,
        poll_s: float = DEFAULT_POLL_S,
        retry_policy: RetryPolicy = DEFAULT_JOB_RETRY,
        retention_days: float | None = None,
        retention_interval_s: float = 3600.0,
        worker_id: str | None = None,
    ) -> None:
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise UsageError(f"concurrency must be an integer >= 1, got {concurrency!r}")
        for name, value in (
            ("lease_s", lease_s),
            ("poll_s", poll_s),
            ("retention_interval_s", retention_interval_s),
        ):
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise UsageError(f"{name} must be a number > 0, got {value!r}")
        if retention_days is not None and (
            isinstance(retention_days, bool)
            or not isinstance(retention_days, int | float)
            or retention_days < 0
        ):
            raise UsageError(f"retention_days must be a number >= 0, got {retention_days!r}")
        self.store = store
        self.learner = learner
        self.concurrency = concurrency
        self.lease_s = float(lease_s)
        self.poll_s = float(poll_s)
        self.retry_policy = retry_policy
        self.retention_days = retention_days
        self.retention_interval_s = retention_interval_s
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.stats = PoolStats()
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._inflight: dict[str, ClaimedJob] = {}
        self._ending: set[str] = set()
        """In-flight jobs whose end is being recorded: a failed heartbeat is no news then."""
        self._idle_workers = 0
        self._threads: list[threading.Thread] = []
        self._heartbeat: threading.Thread | None = None
        self._started = False

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> WorkerPool:
        """Start the threads (once); returns the pool. A model whose API key is missing
        raises ``ConfigurationError`` here, before any job is claimed."""
        self.learner.check()
        with self._lock:
            if self._started:
                raise UsageError("this WorkerPool was started already; make a new one")
            self._started = True
        self.purge()
        for index in range(self.concurrency):
            thread = threading.Thread(target=self._work, name=f"ace-worker-{index}", daemon=True)
            self._threads.append(thread)
            thread.start()
        self._heartbeat = threading.Thread(target=self._beat, name="ace-heartbeat", daemon=True)
        self._heartbeat.start()
        return self

    def __enter__(self) -> WorkerPool:
        with self._lock:
            started = self._started
        return self if started else self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def notify(self) -> None:
        """Tell idle workers a job was queued, so they look now instead of after ``poll_s``."""
        self._wake.set()

    def stop(self, *, grace_s: float = DEFAULT_SHUTDOWN_GRACE_S, close_store: bool = False) -> None:
        """Stop claiming; let running jobs finish for up to ``grace_s``; give the others
        back to the queue (their late results are discarded); close the learner and, with
        ``close_store``, the store's connections (the pool does not own its store)."""
        self._stopping.set()
        self._wake.set()
        deadline = _now() + max(grace_s, 0.0)
        for thread in self._threads:
            thread.join(timeout=max(deadline - _now(), 0.0))
        with self._lock:
            leftover = list(self._inflight.values())
            self._inflight.clear()
        for claim in leftover:
            try:
                released = self.store.release_job(claim)
            except Exception as exc:
                self._problem(f"could not release job {claim.id}: {exc}")
                continue
            if released:
                with self._lock:
                    self.stats.released += 1
                _log.info("released job %s at shutdown", claim.id)
        if self._heartbeat is not None:
            self._heartbeat.join(timeout=5.0)
        self.learner.close()
        if close_store:
            self.store.close()

    @property
    def running(self) -> list[str]:
        """Ids of the jobs this pool is running now."""
        with self._lock:
            return list(self._inflight)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every worker found nothing to claim and none is running a job
        (True), or ``timeout`` seconds passed (False). For in-process use and tests."""
        deadline = _now() + timeout
        with self._idle:
            while not (self._idle_workers == self.concurrency and not self._inflight):
                remaining = deadline - _now()
                if remaining <= 0:
                    return False
                self._idle.wait(timeout=min(remaining, 0.2))
            return True

    # ------------------------------------------------------------------ threads
    def _work(self) -> None:
        idle = False
        while not self._stopping.is_set():
            try:
                claim = self.store.claim_job(self.worker_id, lease_s=self.lease_s)
            except Exception as exc:
                self._problem(f"claiming failed: {type(exc).__name__}: {exc}")
                claim = None
            if claim is None:
                if not idle:
                    idle = True
                    with self._idle:
                        self._idle_workers += 1
                        self._idle.notify_all()
                self._wake.wait(timeout=self.poll_s)
                self._wake.clear()
                continue
            with self._idle:
                if idle:
                    idle = False
                    self._idle_workers -= 1
                self._inflight[claim.id] = claim
                self.stats.claimed += 1
            try:
                self.run_job(claim)
            finally:
                with self._idle:
                    self._inflight.pop(claim.id, None)
                    self._idle.notify_all()
        if idle:
            with self._idle:
                self._idle_workers -= 1

    def run_job(self, claim: ClaimedJob) -> None:
        """Run one claimed job to its recorded end (done, queued for a retry, or failed);
        never raises for what went wrong inside the job."""
        try:
            self._run_job(claim)
        finally:
            with self._lock:
                self._ending.discard(claim.id)

    def _run_job(self, claim: ClaimedJob) -> None:
        try:
            skillbook, version = self.store.load_claimed_skillbook(claim)
            outcome = self.learner.learn(claim.request, skillbook, job_id=claim.id)
            result = {**outcome.summary(), "attempt": claim.attempt, "worker_id": self.worker_id}
            result["reflector"] = self.learner.config.reflector
            with self._lock:
                self._ending.add(claim.id)
            applied = self.store.finish_job(
                claim,
                outcome.batch,
                base_version=version,
                source=source_for(claim.id, outcome.question),
                result=result,
            )
        except LeaseLostError as exc:
            with self._lock:
                self.stats.lost += 1
            _log.warning("%s", exc)
            return
        except Exception as exc:
            cause, retryable = classify_failure(exc)
            with self._lock:
                self._ending.add(claim.id)
            try:
                status = self.store.fail_job(
                    claim, cause, retryable=retryable, retry_policy=self.retry_policy
                )
            except Exception as record_exc:  # the lease will expire and the job run again
                self._problem(f"could not record the failure of job {claim.id}: {record_exc}")
                return
            with self._lock:
                if status == "queued":
                    self.stats.retried += 1
                elif status == "failed":
                    self.stats.failed += 1
                else:
                    self.stats.lost += 1
            _log.warning("job %s attempt %d: %s (%s)", claim.id, claim.attempt, cause, status)
            return
        with self._lock:
            self.stats.done += 1
        _log.info(
            "job %s done: playbook %r of tenant %r at version %d (%d applied, %d skipped)",
            claim.id,
            claim.playbook_id,
            claim.tenant,
            applied.version,
            applied.applied,
            len(applied.skipped),
        )

    def _beat(self) -> None:
        interval = self.lease_s / 3
        next_purge = _now() + self.retention_interval_s
        while not self._stopping.wait(timeout=interval):
            with self._lock:
                claims = list(self._inflight.values())
            for claim in claims:
                try:
                    if not self.store.heartbeat(claim, lease_s=self.lease_s):
                        with self._lock:  # a job that is ending holds no lease either
                            still_running = (
                                claim.id in self._inflight and claim.id not in self._ending
                            )
                        if still_running:
                            _log.warning("job %s: lease lost", claim.id)
                except Exception as exc:
                    self._problem(f"heartbeat failed: {type(exc).__name__}: {exc}")
            if self.retention_days is not None and _now() >= next_purge:
                next_purge = _now() + self.retention_interval_s
                self.purge()

    def purge(self) -> int:
        """Delete finished jobs older than ``retention_days`` (every tenant); the count."""
        if self.retention_days is None:
            return 0
        try:
            purged = self.store.purge_jobs(self.retention_days, tenant=ALL_TENANTS)
        except Exception as exc:
            self._problem(f"retention purge failed: {type(exc).__name__}: {exc}")
            return 0
        with self._lock:
            self.stats.purged += purged
        return purged

    def _problem(self, message: str) -> None:
        _log.warning("%s", message)
        with self._lock:
            self.stats.errors.append(message)
            del self.stats.errors[:-50]


def _now() -> float:
    import time

    return time.monotonic()
