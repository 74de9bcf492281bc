"""Who sees what, and the checks every entry point shares (no database code here).

**Scope.** Everything the loop stores belongs to a tenant (``tenant_id``; None is the
store's ``default`` tenant, never "every tenant"). Within it, trajectories and memories
belong to a user and, optionally, an agent: a loop (or a service call) for user ``u``
sees the tenant's trajectories and memories of user ``u``; with an ``agent_id`` it sees
only those of that agent. Playbooks (and so strategies and their evidence) are shared by
the tenant's users, as in the store. An id of another tenant, user or agent is answered
exactly like an id that does not exist (`NotFoundError`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from ace.errors import UsageError
from ace.service.requests import check_id, tenant_of

TrajectoryStatus = Literal["running", "success", "failure", "partial", "unknown"]
TRAJECTORY_STATUSES: tuple[TrajectoryStatus, ...] = (
    "running",
    "success",
    "failure",
    "partial",
    "unknown",
)
"""``unknown``: a run recorded after the fact without a verdict (e.g. a learn job)."""
COMPLETION_STATUSES = ("success", "failure", "partial")
"""What ``complete_trajectory`` accepts."""
MEMORY_STATES = ("active", "consolidated", "restored")
"""``consolidated``: merged into another memory; ``restored``: a consolidation undone."""
CONSOLIDATED_TYPE = "consolidated"
"""The ``memory_type`` of a memory made by ``consolidate_memories``."""
REFLECTION_TYPE = "reflection"
"""The ``memory_type`` of a memory made by ``reflect``."""
LEARN_JOB_USER = "ace-service"
"""The ``user_id`` of the trajectories and memories recorded for the service's learn jobs."""
MAX_KIND_LENGTH = 40
"""Longest step kind and memory type."""


class NotFoundError(UsageError, LookupError):
    """No such trajectory or memory in the caller's scope (it may not exist, or belong to
    another tenant, user or agent: the two are not told apart)."""


@dataclass(frozen=True)
class Scope:
    """A tenant, a user and optionally an agent: what one loop or one call may see."""

    tenant: str
    user_id: str
    agent_id: str | None = None

    @classmethod
    def of(cls, tenant: str | None, user_id: object, agent_id: object = None) -> Scope:
        """A checked scope (`UsageError` for a malformed id)."""
        agent = None if agent_id is None else check_id("agent_id", agent_id)
        return cls(tenant_of(tenant), check_id("user_id", user_id), agent)


def check_kind(name: str, value: object) -> str:
    """A step kind or memory type: a short non-empty name."""
    text = check_id(name, value)
    if len(text) > MAX_KIND_LENGTH:
        raise UsageError(f"{name} is longer than {MAX_KIND_LENGTH} characters: {text!r}")
    return text


def check_text(name: str, value: object, *, empty: bool = False) -> str:
    """A text argument (``task_description``, a step's text)."""
    if not isinstance(value, str):
        raise UsageError(f"{name} must be a string, got {type(value).__name__}")
    if not empty and not value.strip():
        raise UsageError(f"{name} must not be empty")
    return value


def check_score(name: str, value: object, *, optional: bool = False) -> float | None:
    """A score in [0, 1] (None allowed when ``optional``)."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise UsageError(f"{name} must be a number in [0, 1], got {value!r}")
    if not 0.0 <= float(value) <= 1.0:
        raise UsageError(f"{name} must be in [0, 1], got {value!r}")
    return float(value)


def check_limit(name: str, value: object, *, maximum: int = 10_000) -> int:
    """A positive count."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise UsageError(f"{name} must be an integer in [1, {maximum}], got {value!r}")
    return value


def check_status(value: object) -> str:
    """A completion status."""
    if value not in COMPLETION_STATUSES:
        raise UsageError(f"status must be one of {', '.join(COMPLETION_STATUSES)}, got {value!r}")
    return str(value)


def iso(value: Any) -> str | None:
    """A datetime as ISO 8601 text (None stays None)."""
    return None if value is None else value.isoformat()


__all__ = [
    "COMPLETION_STATUSES",
    "CONSOLIDATED_TYPE",
    "LEARN_JOB_USER",
    "MEMORY_STATES",
    "REFLECTION_TYPE",
    "TRAJECTORY_STATUSES",
    "NotFoundError",
    "Scope",
    "TrajectoryStatus",
    "check_kind",
    "check_limit",
    "check_score",
    "check_status",
    "check_text",
    "iso",
]
