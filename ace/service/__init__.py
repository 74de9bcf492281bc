"""The ACE service's store: playbooks per tenant, their history, and durable learn jobs.

::

    from ace.service import Store, LearnerConfig, Learner, WorkerPool

    store = Store()                                   # sqlite:///ace.db, migrated on open
    job = store.submit_job(None, "support-bot", {"user_message": prompt, "trajectory": log})
    pool = WorkerPool(store, Learner(LearnerConfig.from_config()), concurrency=2).start()
    store.top_skills(None, "support-bot", "refund a damaged order", k=20)

Needs the ``service`` extra (``pip install 'ace-rr[service]'``: SQLAlchemy 2, Alembic,
psycopg 3). Names are imported lazily: importing ``ace.service`` loads no database code,
and ``ace.service.markers`` (the embedded playbook format) never does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ace import _lazy

_EXPORTS: dict[str, str] = {
    "ALL_TENANTS": "ace.service.store",
    "AllTenants": "ace.service.store",
    "DEFAULT_JOB_RETRY": "ace.service.store",
    "DEFAULT_LEASE_S": "ace.service.store",
    "LeaseLostError": "ace.service.store",
    "Store": "ace.service.store",
    "DEFAULT_TENANT": "ace.service.requests",
    "AppliedUpdate": "ace.service.requests",
    "ClaimedJob": "ace.service.requests",
    "HistoryEntry": "ace.service.requests",
    "JobInfo": "ace.service.requests",
    "LearnRequest": "ace.service.requests",
    "PlaybookInfo": "ace.service.requests",
    "Learner": "ace.service.learner",
    "LearnerConfig": "ace.service.learner",
    "ReflectionFailed": "ace.service.learner",
    "classify_failure": "ace.service.learner",
    "WorkerPool": "ace.service.worker",
    "RankedSkill": "ace.service.relevance",
    "top_skills": "ace.service.relevance",
    "SchemaVersionError": "ace.service.schema",
    "database_url": "ace.service._db",
}

__all__ = [
    "ALL_TENANTS",
    "DEFAULT_JOB_RETRY",
    "DEFAULT_LEASE_S",
    "DEFAULT_TENANT",
    "AllTenants",
    "AppliedUpdate",
    "ClaimedJob",
    "HistoryEntry",
    "JobInfo",
    "LearnRequest",
    "Learner",
    "LearnerConfig",
    "LeaseLostError",
    "PlaybookInfo",
    "RankedSkill",
    "ReflectionFailed",
    "SchemaVersionError",
    "Store",
    "WorkerPool",
    "classify_failure",
    "database_url",
    "top_skills",
]


def _require_extra(module: str) -> None:
    if module != "ace.service.requests":
        from ace.service._db import require_service_extra

        require_service_extra()


def __getattr__(name: str) -> Any:
    return _lazy.load(__name__, _EXPORTS, globals(), name, before=_require_extra)


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:
    from ace.service._db import database_url
    from ace.service.learner import Learner, LearnerConfig, ReflectionFailed, classify_failure
    from ace.service.relevance import RankedSkill, top_skills
    from ace.service.requests import (
        DEFAULT_TENANT,
        AppliedUpdate,
        ClaimedJob,
        HistoryEntry,
        JobInfo,
        LearnRequest,
        PlaybookInfo,
    )
    from ace.service.schema import SchemaVersionError
    from ace.service.store import (
        ALL_TENANTS,
        DEFAULT_JOB_RETRY,
        DEFAULT_LEASE_S,
        AllTenants,
        LeaseLostError,
        Store,
    )
    from ace.service.worker import WorkerPool
