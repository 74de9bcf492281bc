"""The learning loop for the HTTP layer: plain functions, tenant first, JSON-ready bodies
in and out, so agents in any language use the same trajectories, steps, feedback and
strategies as ``LearningLoop``.

Each function takes the ``Store`` and the tenant (from the caller's API key; None is the
``default`` tenant), validates its body (a mapping, or the body's model already validated
by the HTTP layer; a problem is a ``UsageError`` naming
each bad field: answer 422) and scopes every read and write by the tenant, then the
body's ``user_id`` and optional ``agent_id`` (``records`` says who sees what); an id
outside that scope is a ``NotFoundError`` (answer 404), like an id that does not exist.
Payloads larger than ``payloads.INLINE_LIMIT_BYTES`` go to ``backend`` (default: a
``LocalContentStore`` at ``payloads.default_root(store)``).

==========================  ===============================================================
function                    body / arguments -> result
==========================  ===============================================================
``start_trajectory``        {user_id, agent_id?, task_description, task_type?, playbook_id?,
                            arguments?} -> {trajectory_id, status}
``append_steps``            {user_id, agent_id?, steps: [{kind, text, data?}]}
                            -> {trajectory_id, positions}
``complete_trajectory``     {user_id, agent_id?, status, success_score?, metrics?, result?,
                            error?, learn?} -> the trajectory (+ queued_for_learning)
``get_trajectory``          user_id=, agent_id=, steps= -> the trajectory (with steps)
``list_trajectories``       user_id=, agent_id=, status=, limit= -> {trajectories}
``add_feedback``            {user_id, agent_id?, score, message?, source?}
                            -> {feedback_id, trajectory_id, priority, flagged, outcome...}
``get_strategies``          {task_description, strategy_type?, limit?, user_id?, agent_id?,
                            trajectory_id?} -> {playbook_id, strategies}
``get_playbook_strategies`` playbook_id -> {playbook_id, version, strategies: {helpful,...}}
``process_learning_queue``  {user_id, agent_id?, limit?} + a model -> {results}
==========================  ===============================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ace.errors import UsageError
from ace.learning_loop import _repo, _repo_memories, _strategies
from ace.learning_loop.payloads import (
    ContentStore,
    content_store,
    default_root,
    jsonable,
    pack,
    pack_text,
    read_back,
)
from ace.learning_loop.records import (
    TRAJECTORY_STATUSES,
    Scope,
    check_kind,
    check_text,
)
from ace.service.requests import MAX_ID_LENGTH, check_id, tenant_of

if TYPE_CHECKING:
    from ace.service.store import Store

COMPLETION_LEARN_PRIORITY = 0.5
"""Queue priority of a trajectory completed with ``learn: true`` (to be reflected on by
``process_learning_queue``)."""
MAX_STEPS_PER_CALL = 500
"""Most steps one ``append_steps`` call takes."""

B = TypeVar("B", bound=BaseModel)
_Id = Field(min_length=1, max_length=MAX_ID_LENGTH)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Scoped(_Body):
    user_id: str = _Id
    agent_id: str | None = Field(default=None, min_length=1, max_length=MAX_ID_LENGTH)


class StartTrajectory(_Scoped):
    """Body of ``start_trajectory``."""

    task_description: str = Field(min_length=1)
    task_type: str | None = Field(default=None, min_length=1, max_length=MAX_ID_LENGTH)
    playbook_id: str | None = Field(default=None, min_length=1, max_length=MAX_ID_LENGTH)
    arguments: dict[str, Any] = Field(default_factory=dict)


class Step(_Body):
    """One step of ``append_steps``."""

    kind: str = Field(min_length=1, max_length=40)
    text: str
    data: dict[str, Any] = Field(default_factory=dict)


class AppendSteps(_Scoped):
    """Body of ``append_steps``."""

    steps: list[Step] = Field(min_length=1, max_length=MAX_STEPS_PER_CALL)


class CompleteTrajectory(_Scoped):
    """Body of ``complete_trajectory``."""

    status: Literal["success", "failure", "partial"]
    success_score: float | None = Field(default=None, ge=0.0, le=1.0)
    metrics: dict[str, Any] = Field(default_factory=dict)
    result: Any = None
    error: str | None = None
    learn: bool = False
    """Queue the trajectory for reflection and curation (``process_learning_queue``)."""


class Feedback(_Scoped):
    """Body of ``add_feedback``."""

    score: float = Field(ge=0.0, le=1.0)
    message: str | None = None
    source: str | None = Field(default=None, min_length=1, max_length=MAX_ID_LENGTH)


class StrategiesQuery(_Body):
    """Body (or query) of ``get_strategies``; with ``trajectory_id`` (and the user it
    belongs to) the strategies are recorded as looked up by that running trajectory."""

    task_description: str
    strategy_type: Literal["helpful", "harmful", "neutral"] | None = None
    limit: int = Field(default=10, ge=1, le=1000)
    user_id: str | None = Field(default=None, min_length=1, max_length=MAX_ID_LENGTH)
    agent_id: str | None = Field(default=None, min_length=1, max_length=MAX_ID_LENGTH)
    trajectory_id: str | None = Field(default=None, min_length=1, max_length=36)


class LearningQueue(_Scoped):
    """Body of ``process_learning_queue``."""

    limit: int = Field(default=10, ge=1, le=100)


def parse(model: type[B], body: object) -> B:
    """``body`` validated as ``model``; a ``UsageError`` naming each bad field."""
    if isinstance(body, model):
        return body
    if not isinstance(body, Mapping):
        raise UsageError(f"expected a JSON object, got {type(body).__name__}")
    try:
        return model.model_validate(dict(body))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors()
        )
        raise UsageError(f"invalid request: {problems}") from None


def _scope(tenant: str | None, body: _Scoped) -> Scope:
    return Scope.of(tenant, body.user_id, body.agent_id)


def _backend(store: Store, backend: Any) -> ContentStore:
    return content_store(backend, default_root(store))


def start_trajectory(
    store: Store, tenant: str | None, body: Mapping[str, Any] | BaseModel, *, backend: Any = None
) -> dict[str, Any]:
    """Start a running trajectory: ``{"trajectory_id", "status": "running"}``."""
    parsed = parse(StartTrajectory, body)
    check_text("task_description", parsed.task_description)
    for name in ("task_type", "playbook_id"):
        value = getattr(parsed, name)
        if value is not None:
            check_id(name, value)
    scope = _scope(tenant, parsed)
    trajectory_id = _repo.insert_trajectory(
        store,
        scope,
        task_description=parsed.task_description,
        task_type=parsed.task_type,
        playbook_id=parsed.playbook_id,
        origin="api",
        arguments=pack(parsed.arguments, _backend(store, backend)),
    )
    return {"trajectory_id": trajectory_id, "status": "running"}


def append_steps(
    store: Store,
    tenant: str | None,
    trajectory_id: str,
    body: Mapping[str, Any] | BaseModel,
    *,
    backend: Any = None,
) -> dict[str, Any]:
    """Append steps in order: ``{"trajectory_id", "positions"}``."""
    parsed = parse(AppendSteps, body)
    check_id("trajectory_id", trajectory_id)
    target = _backend(store, backend)
    steps = []
    for step in parsed.steps:
        check_kind("kind", step.kind)
        text, ref = pack_text(step.text, target)
        data = jsonable(step.data)
        steps.append(_repo.StepIn(step.kind, text, ref, data))
    positions = _repo.append_steps(store, _scope(tenant, parsed), trajectory_id, steps)
    return {"trajectory_id": trajectory_id, "positions": positions}


def complete_trajectory(
    store: Store,
    tenant: str | None,
    trajectory_id: str,
    body: Mapping[str, Any] | BaseModel,
    *,
    backend: Any = None,
) -> dict[str, Any]:
    """Complete a running trajectory (with ``learn: true``, queue it for learning); the
    trajectory without steps, plus ``queued_for_learning``."""
    from ace.learning_loop import formulas

    parsed = parse(CompleteTrajectory, body)
    check_id("trajectory_id", trajectory_id)
    scope = _scope(tenant, parsed)
    target = _backend(store, backend)
    duration = parsed.metrics.get("duration_ms")
    _repo.complete_trajectory(
        store,
        scope,
        trajectory_id,
        status=parsed.status,
        success_score=(
            parsed.success_score
            if parsed.success_score is not None
            else formulas.base_score(parsed.status, None)
        ),
        metrics=jsonable(parsed.metrics),
        result=None if parsed.result is None else pack(parsed.result, target),
        error=parsed.error,
        traceback=None,
        duration_ms=int(duration) if isinstance(duration, int | float) else None,
        relearn_priority=COMPLETION_LEARN_PRIORITY if parsed.learn else None,
    )
    found = read_back(_repo.get_trajectory(store, scope, trajectory_id, steps=False), target)
    found["queued_for_learning"] = parsed.learn
    return found


def get_trajectory(
    store: Store,
    tenant: str | None,
    trajectory_id: str,
    *,
    user_id: str,
    agent_id: str | None = None,
    steps: bool = True,
    backend: Any = None,
) -> dict[str, Any]:
    """A trajectory of the scope, payloads read back, with its steps and feedback."""
    check_id("trajectory_id", trajectory_id)
    scope = Scope.of(tenant, user_id, agent_id)
    found = _repo.get_trajectory(store, scope, trajectory_id, steps=steps)
    return read_back(found, _backend(store, backend))


def list_trajectories(
    store: Store,
    tenant: str | None,
    *,
    user_id: str,
    agent_id: str | None = None,
    status: str | None = None,
    limit: int = 50,
) -> dict[str, Any]:
    """``{"trajectories": [...]}``: the scope's, newest first, without steps."""
    if status is not None and status not in TRAJECTORY_STATUSES:
        raise UsageError(f"status must be one of {', '.join(TRAJECTORY_STATUSES)}")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
        raise UsageError(f"limit must be an integer in [1, 1000], got {limit!r}")
    scope = Scope.of(tenant, user_id, agent_id)
    return {"trajectories": _repo.list_trajectories(store, scope, status=status, limit=limit)}


def add_feedback(
    store: Store, tenant: str | None, trajectory_id: str, body: Mapping[str, Any] | BaseModel
) -> dict[str, Any]:
    """Feedback on a trajectory; queued for re-learning by the documented priority rule
    (``formulas.relearn_priority``)."""
    parsed = parse(Feedback, body)
    check_id("trajectory_id", trajectory_id)
    return _repo.add_feedback(
        store,
        _scope(tenant, parsed),
        trajectory_id,
        score=parsed.score,
        message=parsed.message,
        source=parsed.source,
    )


def get_strategies(
    store: Store, tenant: str | None, playbook_id: str, body: Mapping[str, Any] | BaseModel
) -> dict[str, Any]:
    """``{"playbook_id", "strategies": [{"pattern", "context", "confidence",
    "evidence_count", "category", "skill_id", "relevance"}]}`` for a task."""
    parsed = parse(StrategiesQuery, body)
    tenant = tenant_of(tenant)
    check_id("playbook_id", playbook_id)
    scope = None
    if parsed.trajectory_id is not None:
        if parsed.user_id is None:
            raise UsageError("invalid request: trajectory_id needs the user_id it belongs to")
        scope = Scope.of(tenant, parsed.user_id, parsed.agent_id)
    chosen = _strategies.find(
        store, tenant, playbook_id, parsed.task_description, parsed.strategy_type, parsed.limit
    )
    if scope is not None and parsed.trajectory_id is not None:
        _repo.note_cited(store, scope, parsed.trajectory_id, [i["skill_id"] for i, _ in chosen])
    _repo_memories.bump_reuse(store, tenant, [m for _, ids in chosen for m in ids])
    return {"playbook_id": playbook_id, "strategies": [item for item, _ in chosen]}


def get_playbook_strategies(store: Store, tenant: str | None, playbook_id: str) -> dict[str, Any]:
    """Every active strategy of the tenant's playbook, rated and grouped by category."""
    check_id("playbook_id", playbook_id)
    return _strategies.grouped(store, tenant_of(tenant), playbook_id)


def process_learning_queue(
    store: Store,
    tenant: str | None,
    body: Mapping[str, Any] | BaseModel,
    *,
    llm_provider: Any,
    backend: Any = None,
) -> dict[str, Any]:
    """Reflect on and curate the scope's queued trajectories (completed with ``learn``,
    or flagged by feedback), highest priority first, with ``llm_provider`` (a model
    string or an ``LLMClient``): ``{"results": [{"trajectory_id", "success",
    "reflection_id", "error", "priority"}]}``."""
    from ace.learning_loop.loop import LearningLoop

    parsed = parse(LearningQueue, body)
    loop = LearningLoop(
        store, backend, llm_provider, parsed.user_id, parsed.agent_id, tenant_of(tenant)
    )
    return {"results": loop.process_relearning_queue(limit=parsed.limit)}


__all__ = [
    "COMPLETION_LEARN_PRIORITY",
    "MAX_STEPS_PER_CALL",
    "AppendSteps",
    "CompleteTrajectory",
    "Feedback",
    "LearningQueue",
    "StartTrajectory",
    "Step",
    "StrategiesQuery",
    "add_feedback",
    "append_steps",
    "complete_trajectory",
    "get_playbook_strategies",
    "get_strategies",
    "get_trajectory",
    "list_trajectories",
    "parse",
    "process_learning_queue",
    "start_trajectory",
]
