"""How ``LoopMemory`` reflects and curates: a trajectory as the trace and inputs the
``Reflector`` reads, its analysis kept as a ``reflection`` memory, and memories turned by
the ``SkillManager`` into one new playbook version with evidence for the strategies.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ace.learning_loop import _repo, _repo_memories
from ace.learning_loop._helpers import _json_text
from ace.learning_loop.payloads import read_back
from ace.learning_loop.records import REFLECTION_TYPE, NotFoundError
from ace.prompting import render_prompt

if TYPE_CHECKING:
    from ace.learning_loop.loop import LearningLoop
    from ace.outputs import ReflectorOutput
    from ace.traces.schema import Trace

SOURCE_SYSTEM = "ace-learning-loop"
"""``source_system`` of the provenance records the loop's curation writes."""


def _memory_text(reflection: ReflectorOutput) -> str:
    insight = reflection.key_insight.strip()
    parts = [insight] if insight else []
    for item in reflection.extracted_learnings:
        text = item.learning.strip()
        if text and text != insight:
            parts.append(f"- {text}")
    if not parts:
        fallback = reflection.error_identification.strip() or reflection.reasoning.strip()
        parts.append(fallback[:2000] or "-")
    return "\n".join(parts)


def _trace(found: dict[str, Any], result: Any, traceback_text: Any) -> Trace:
    """A trajectory as the trace the Reflector reads: the task and its arguments, one
    step per recorded step (its kind as the role), then what the task returned or raised."""
    from ace.traces.schema import Trace, TraceStep

    steps = [
        TraceStep(
            index=0,
            role="task",
            content=render_prompt(
                "learning_loop/trajectory_start.j2",
                task_description=found["task_description"],
                task_type=found["task_type"],
                arguments=_json_text(found["arguments"]),
            ).strip(),
            timestamp=found["started_at"],
        )
    ]
    for step in found["steps"]:
        steps.append(
            TraceStep(
                index=len(steps),
                role=step["kind"],
                content=step["text"],
                timestamp=step["created_at"],
            )
        )
    if found["status"] != "running":
        steps.append(
            TraceStep(
                index=len(steps),
                role="outcome",
                content=render_prompt(
                    "learning_loop/trajectory_end.j2",
                    result=_json_text(result),
                    error=found["error"],
                    traceback=traceback_text if isinstance(traceback_text, str) else None,
                ).strip(),
                timestamp=found["completed_at"],
            )
        )
    return Trace(
        id=f"trajectory-{found['trajectory_id']}",
        format="learning_loop",
        question=found["task_description"],
        steps=steps,
    )


def reflect(loop: LearningLoop, found: dict[str, Any], *, relearn: bool) -> dict[str, Any]:
    """Reflect on a trajectory (``found`` as ``_repo.get_trajectory`` gives it) and keep the
    analysis as a ``reflection`` memory; what ``LoopMemory.reflect`` returns."""
    reflector, _ = loop._role_pair()
    inputs = _inputs(loop, found)
    reflection = reflector.reflect(**inputs)
    memory = _repo_memories.add_memory(
        loop.store,
        loop.scope,
        memory_type=REFLECTION_TYPE,
        content=_memory_text(reflection),
        data={
            "reflection": reflection.model_dump(mode="json", exclude={"raw"}),
            "trajectory_status": found["status"],
            "relearn": relearn,
            "feedback_count": len(found["feedback"]),
        },
        trajectory_id=found["trajectory_id"],
        importance=None,
    )
    return {
        "memory_id": memory["memory_id"],
        "trajectory_id": found["trajectory_id"],
        "memory_type": REFLECTION_TYPE,
        "content": memory["content"],
        "key_insight": reflection.key_insight,
        "learnings": [item.learning for item in reflection.extracted_learnings],
        "skill_tags": [tag.model_dump(mode="json") for tag in reflection.skill_tags],
        "importance": memory["importance"],
    }


def _inputs(loop: LearningLoop, found: dict[str, Any]) -> dict[str, Any]:
    from ace.outputs import AgentOutput
    from ace.skillbook import Skillbook

    playbook_id = found["playbook_id"]
    book = (
        loop.store.load_skillbook(loop.scope.tenant, playbook_id)[0] if playbook_id else Skillbook()
    )
    known = {s.id for s in book.skills(include_inactive=True)}
    reasoning = render_prompt("learning_loop/reasoning.j2").strip()
    request = (found.get("learn_job") or {}).get("request")
    evaluation = ground_truth = None
    if found["origin"] == "learn_job" and request:
        from ace.service.markers import embedded_skill_ids, strip_blocks

        question = strip_blocks(request["user_message"]) or request["user_message"]
        trace = request["trajectory"]
        cited = embedded_skill_ids(request["user_message"], trace, known=known)
        final_answer = reasoning
        evaluation, ground_truth = request.get("evaluation"), request.get("ground_truth")
    else:
        read_back(found, loop.backend)
        question = found["task_description"]
        result = found["result"]
        traceback_text = found["traceback"]
        trace = _trace(found, result, traceback_text)
        cited = [i for i in found["cited_skill_ids"] if i in known]
        final_answer = found["error"] or _json_text(result)[:4000]
    feedback = render_prompt(
        "learning_loop/outcome.j2",
        status=found["status"],
        success_score=found["success_score"],
        error=found["error"],
        metrics=_json_text(found["metrics"]) if found["metrics"] else "",
        evaluation=evaluation,
        feedback=found["feedback"],
    ).strip()
    return {
        "question": question,
        "agent_output": AgentOutput(
            reasoning=reasoning, final_answer=final_answer, skill_ids=cited
        ),
        "skillbook": book,
        "ground_truth": ground_truth,
        "feedback": feedback,
        "trace": trace,
    }


def curate(
    loop: LearningLoop,
    memories: Sequence[dict[str, Any]],
    playbook_id: str,
    *,
    finish: Callable[[Any], bool] | None = None,
) -> dict[str, Any]:
    """Curate ``playbook_id`` with ``memories`` (rows as ``_repo_memories.get_memories`` gives
    them); ``finish`` runs in the curation's transaction. What
    ``LoopMemory.curate_playbook`` returns."""
    from ace.outputs import ExtractedLearning, ReflectorOutput

    _, manager = loop._role_pair()
    reflections = []
    attributions = []
    questions = []
    for memory in memories:
        stored = memory["data"].get("reflection")
        reflection = (
            ReflectorOutput.model_validate(stored)
            if isinstance(stored, dict)
            else ReflectorOutput(
                key_insight=memory["content"],
                extracted_learnings=[ExtractedLearning(learning=memory["content"])],
            )
        )
        reflections.append(reflection)
        if memory["trajectory_id"]:
            attributions.append(
                _repo_memories.Attribution(
                    memory["trajectory_id"],
                    memory["memory_id"],
                    {tag.id: tag.tag for tag in reflection.skill_tags},
                )
            )
    trajectories = {}
    for attribution in attributions:
        try:
            trajectories[attribution.trajectory_id] = _repo.get_trajectory(
                loop.store, loop.scope, attribution.trajectory_id, steps=False
            )
        except NotFoundError:
            continue
        questions.append(trajectories[attribution.trajectory_id]["task_description"])
    book, version = loop.store.load_skillbook(loop.scope.tenant, playbook_id)
    decision = manager.update_skills(
        reflections=reflections,
        skillbook=book,
        question_context="\n".join(dict.fromkeys(questions)),
        progress=f"learning loop: {len(memories)} memory(ies) of user {loop.scope.user_id}",
    )
    first = attributions[0].trajectory_id if attributions else memories[0]["memory_id"]
    source = {
        "source_system": SOURCE_SYSTEM,
        "trace_id": first,
        "display_name": f"trajectory {first}" if attributions else f"memory {first}",
        "sample_question": (questions[0][:300] if questions else None),
        "trajectory_ids": [a.trajectory_id for a in attributions],
    }
    applied = _repo_memories.apply_curation(
        loop.store,
        loop.scope.tenant,
        playbook_id,
        decision.update,
        base_version=version,
        source=source,
        attributions=attributions,
        finish=finish,
    )
    return {
        "playbook_id": playbook_id,
        "version": applied.version,
        "applied": applied.applied,
        "skipped": applied.skipped,
        "added_ids": applied.added_ids,
        "memory_ids": [m["memory_id"] for m in memories],
    }


__all__ = ["SOURCE_SYSTEM", "curate", "reflect"]
