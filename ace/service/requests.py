"""What a learn job carries, and what the store hands back about jobs and playbooks.

Importing this module needs no database driver (pydantic only), so the later HTTP layer
can validate requests before touching the store.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from ace.errors import UsageError

DEFAULT_TENANT = "default"
"""The tenant of every call that names none (``tenant=None``)."""
MAX_ID_LENGTH = 200
"""Longest tenant, playbook or idempotency key."""

JobStatus = Literal["queued", "running", "done", "failed"]
JOB_STATUSES: tuple[JobStatus, ...] = ("queued", "running", "done", "failed")
"""Every state a learn job can be in."""


class LearnRequest(BaseModel):
    """One run to learn from (the body of ``POST /playbooks/{id}/episodes/learn``).

    ``user_message`` is the prompt the agent was sent (with its embedded playbook block)
    and ``trajectory`` everything that happened; both are required and non-empty. The rest
    is optional: ``ground_truth`` (the known correct answer), ``evaluation`` (feedback the
    system produced: test results, a judge's verdict) and extra instructions for the
    reflector and the curator (the SkillManager).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    user_message: str
    trajectory: str
    ground_truth: str | None = None
    evaluation: str | None = None
    reflector_additional_instructions: str | None = None
    curator_additional_instructions: str | None = None

    @field_validator("user_message", "trajectory")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value

    @classmethod
    def parse(cls, data: LearnRequest | Mapping[str, Any]) -> LearnRequest:
        """Validate ``data``; a problem is a ``UsageError`` naming each bad field."""
        if isinstance(data, LearnRequest):
            return data
        if not isinstance(data, Mapping):
            raise UsageError(
                f"learn request: expected an object with user_message and trajectory, "
                f"got {type(data).__name__}"
            )
        try:
            return cls.model_validate(dict(data))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'request'}: {e['msg']}" for e in exc.errors()
            )
            raise UsageError(f"learn request: {problems}") from None


def check_id(kind: str, value: object) -> str:
    """``value`` as a tenant/playbook id, or a ``UsageError`` saying what is wrong with it."""
    if not isinstance(value, str):
        raise UsageError(f"{kind} must be a string, got {type(value).__name__}")
    if not value or value != value.strip():
        raise UsageError(f"{kind} must be non-empty without surrounding spaces, got {value!r}")
    if len(value) > MAX_ID_LENGTH:
        raise UsageError(f"{kind} is longer than {MAX_ID_LENGTH} characters")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise UsageError(f"{kind} must not contain control characters, got {value!r}")
    return value


def tenant_of(tenant: str | None) -> str:
    """The tenant to use: ``tenant``, or `DEFAULT_TENANT` for None (never "every tenant")."""
    return DEFAULT_TENANT if tenant is None else check_id("tenant", tenant)


@dataclass(frozen=True)
class JobInfo:
    """A learn job as stored (without its payload)."""

    id: str
    tenant: str
    playbook_id: str
    status: JobStatus
    attempts: int
    max_attempts: int
    error: str | None
    """Why it failed, or why the last attempt failed when it waits for a retry."""
    errors: list[dict[str, Any]]
    """Each failed attempt: ``{"attempt", "cause", "retryable", "at"}``."""
    result: dict[str, Any] | None
    """For ``done``: ``version``, ``applied``, ``skipped``, ``added_ids``,
    ``cited_skill_ids``, ``rebased_from`` and timings (``reflect_s``, ``curate_s``, ...)."""
    idempotency_key: str | None
    created_at: datetime
    available_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    worker_id: str | None


@dataclass(frozen=True)
class ClaimedJob:
    """A job a worker holds: its request, and the token that proves the claim is current."""

    id: str
    tenant: str
    playbook_id: str
    playbook_pk: int
    request: LearnRequest
    attempt: int
    """1 for the first attempt."""
    max_attempts: int
    claim_token: str
    worker_id: str


@dataclass(frozen=True)
class PlaybookInfo:
    """A playbook's identity, current version and size."""

    tenant: str
    playbook_id: str
    version: int
    skills: int
    """Active skills."""
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class HistoryEntry:
    """One applied change of a playbook (see ``models.PlaybookVersion``)."""

    version: int
    kind: str
    job_id: str | None
    base_version: int
    operations: list[dict[str, Any]]
    skipped: list[dict[str, Any]]
    added_ids: list[str]
    note: str | None
    created_at: datetime

    @property
    def rebased(self) -> bool:
        """Whether another change landed between the version it was computed on and now."""
        return self.base_version != self.version - 1


@dataclass(frozen=True)
class AppliedUpdate:
    """What applying one batch did: the new version and the history entry written."""

    version: int
    entry: HistoryEntry
    applied: int
    skipped: list[dict[str, Any]] = field(default_factory=list)
    added_ids: list[str] = field(default_factory=list)
