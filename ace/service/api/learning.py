"""The learning loop over HTTP: trajectories, their steps, feedback, strategies and the
re-learning queue, so agents in any language use the same loop as ``LearningLoop``.

=======  ==========================================  ======================================
method   path                                        ``ace.learning_loop.service`` function
=======  ==========================================  ======================================
POST     ``/trajectories``                           ``start_trajectory`` (201)
GET      ``/trajectories?user_id=...``               ``list_trajectories``
GET      ``/trajectories/{id}?user_id=...``          ``get_trajectory``
POST     ``/trajectories/{id}/steps``                ``append_steps``
POST     ``/trajectories/{id}/complete``             ``complete_trajectory``
POST     ``/trajectories/{id}/feedback``             ``add_feedback``
POST     ``/playbooks/{playbook_id}/strategies``     ``get_strategies`` (for a task)
GET      ``/playbooks/{playbook_id}/strategies``     ``get_playbook_strategies`` (all)
POST     ``/learning/process``                       ``process_learning_queue``
=======  ==========================================  ======================================

The API key gives the tenant; ``user_id`` (and optional ``agent_id``) in the body or
query narrow the scope within it, as ``LearningLoop`` does. An id outside the scope is
answered 404, exactly like an id that does not exist. A key limited to playbook prefixes
sees only trajectories of allowed playbooks: it must name one when it starts a trajectory.
``/learning/process`` reflects and curates in the request, with the server's learner
model (``ace serve --model``); it answers 503 when the server has none.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from ace.learning_loop import service
from ace.learning_loop.records import TRAJECTORY_STATUSES, NotFoundError
from ace.service.api.app import Caller, PlaybookRef
from ace.service.api.app import _Refused as Refused

if TYPE_CHECKING:
    from ace.service.api.app import ServiceState
    from ace.service.api.middleware import Principal

_UserId = Annotated[str, Query(min_length=1, description="The user the trajectory belongs to.")]
_AgentId = Annotated[str | None, Query(min_length=1, description="The agent, when scoped.")]


def learning_router(state: ServiceState, *, model: str | None) -> APIRouter:
    """The learning-loop routes over ``state``; ``model`` reflects and curates queued
    trajectories (None: ``/learning/process`` answers 503)."""
    store = state.store
    router = APIRouter(tags=["learning loop"])

    def _visible(caller: Principal, trajectory: dict[str, Any]) -> bool:
        playbook = trajectory.get("playbook_id")
        return not caller.prefixes or (isinstance(playbook, str) and caller.allows(playbook))

    def _owned(caller: Principal, trajectory_id: str, user_id: str, agent_id: str | None) -> None:
        """404 unless the trajectory is in the caller's scope and playbook prefixes."""
        found = service.get_trajectory(
            store, caller.tenant, trajectory_id, user_id=user_id, agent_id=agent_id, steps=False
        )
        if not _visible(caller, found):
            raise NotFoundError(f"no trajectory {trajectory_id}")

    @router.post("/trajectories", status_code=201, summary="Start a running trajectory")
    def start(body: service.StartTrajectory, caller: Caller) -> JSONResponse:
        """Start a trajectory (status ``running``) for ``user_id`` (and ``agent_id``)."""
        if caller.prefixes and (body.playbook_id is None or not caller.allows(body.playbook_id)):
            raise Refused(
                403,
                "this API key is limited to playbook ids starting with "
                f"{' or '.join(repr(p) for p in caller.prefixes)}: name such a playbook_id",
            )
        started = service.start_trajectory(store, caller.tenant, body)
        return JSONResponse(
            started,
            status_code=201,
            headers={"Location": f"/trajectories/{started['trajectory_id']}"},
        )

    @router.get("/trajectories", summary="The scope's trajectories, newest first")
    def listing(
        caller: Caller,
        user_id: _UserId,
        agent_id: _AgentId = None,
        status: Annotated[
            str | None, Query(description=f"One of {', '.join(TRAJECTORY_STATUSES)}.")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    ) -> dict[str, Any]:
        """Trajectories of the scope (without steps)."""
        found = service.list_trajectories(
            store, caller.tenant, user_id=user_id, agent_id=agent_id, status=status, limit=limit
        )
        found["trajectories"] = [t for t in found["trajectories"] if _visible(caller, t)]
        return found

    @router.get("/trajectories/{trajectory_id}", summary="A trajectory with its steps")
    def get(
        trajectory_id: str,
        caller: Caller,
        user_id: _UserId,
        agent_id: _AgentId = None,
        steps: bool = True,
    ) -> dict[str, Any]:
        """The trajectory, its steps (unless ``steps=false``) and its feedback."""
        found = service.get_trajectory(
            store, caller.tenant, trajectory_id, user_id=user_id, agent_id=agent_id, steps=steps
        )
        if not _visible(caller, found):
            raise NotFoundError(f"no trajectory {trajectory_id}")
        return found

    @router.post("/trajectories/{trajectory_id}/steps", summary="Append steps, in order")
    def steps(trajectory_id: str, body: service.AppendSteps, caller: Caller) -> dict[str, Any]:
        """Append steps to a running trajectory; their positions."""
        _owned(caller, trajectory_id, body.user_id, body.agent_id)
        return service.append_steps(store, caller.tenant, trajectory_id, body)

    @router.post("/trajectories/{trajectory_id}/complete", summary="Complete a trajectory")
    def complete(
        trajectory_id: str, body: service.CompleteTrajectory, caller: Caller
    ) -> dict[str, Any]:
        """Record the outcome; with ``learn: true`` queue it for learning."""
        _owned(caller, trajectory_id, body.user_id, body.agent_id)
        return service.complete_trajectory(store, caller.tenant, trajectory_id, body)

    @router.post("/trajectories/{trajectory_id}/feedback", summary="Feedback on a trajectory")
    def feedback(trajectory_id: str, body: service.Feedback, caller: Caller) -> dict[str, Any]:
        """Record feedback; the trajectory is queued for re-learning by priority."""
        _owned(caller, trajectory_id, body.user_id, body.agent_id)
        return service.add_feedback(store, caller.tenant, trajectory_id, body)

    @router.post("/playbooks/{playbook_id}/strategies", summary="Strategies for a task")
    def strategies_for(body: service.StrategiesQuery, target: PlaybookRef) -> dict[str, Any]:
        """The playbook's strategies most relevant to ``task_description``, each with its
        confidence and the number of distinct trajectories behind it."""
        return service.get_strategies(store, target.tenant, target.playbook_id, body)

    @router.get("/playbooks/{playbook_id}/strategies", summary="All strategies, by category")
    def strategies_all(target: PlaybookRef) -> dict[str, Any]:
        """Every active strategy of the playbook, rated, grouped by category."""
        return service.get_playbook_strategies(store, target.tenant, target.playbook_id)

    @router.post("/learning/process", summary="Reflect on queued trajectories now")
    def process(body: service.LearningQueue, caller: Caller) -> dict[str, Any]:
        """Reflect on and curate the scope's queued trajectories, highest priority first
        (each once, also with several servers), with the server's learner model."""
        if model is None:
            raise Refused(503, "this server has no learner model: start it with --model")
        if caller.prefixes:
            raise Refused(403, "a key limited to playbook prefixes cannot process the queue")
        return service.process_learning_queue(store, caller.tenant, body, llm_provider=model)

    return router


__all__ = ["learning_router"]
