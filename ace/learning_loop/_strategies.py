"""Strategies of a playbook rated for a task: relevance from the store's text
ranking, confidence and evidence from the loop's ledger (``formulas.confidence``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ace.errors import UsageError
from ace.learning_loop import _repo_memories, formulas

if TYPE_CHECKING:
    from ace.service.store import Store
    from ace.skillbook import Skill

Rated = tuple[dict[str, Any], list[str]]
"""A strategy as returned, and the memories whose curation created it."""


def rate(
    store: Store, tenant: str, playbook_id: str, skills: Sequence[tuple[Skill, float]]
) -> list[Rated]:
    """Each ``(skill, relevance)`` as ``{"pattern", "context", "confidence",
    "evidence_count", "category", "skill_id", "relevance"}``, in the order given."""
    evidence = _repo_memories.strategy_evidence(
        store, tenant, playbook_id, [s.id for s, _ in skills]
    )
    rated: list[Rated] = []
    for skill, relevance in skills:
        found = evidence.get(skill.id, _repo_memories.SkillEvidence())
        estimate = formulas.confidence(
            found.items,
            outside_helpful=skill.helpful - found.tags.get("helpful", 0),
            outside_harmful=skill.harmful - found.tags.get("harmful", 0),
        )
        item = {
            "pattern": skill.content,
            "context": skill.section,
            "confidence": estimate.confidence,
            "evidence_count": estimate.evidence_count,
            "category": estimate.category,
            "skill_id": skill.id,
            "relevance": round(relevance, 6),
        }
        rated.append((item, found.source_memory_ids))
    return rated


def check_type(strategy_type: object) -> None:
    """``strategy_type`` must be a category or None."""
    if strategy_type is not None and strategy_type not in formulas.CATEGORIES:
        raise UsageError(
            f"strategy_type must be one of {', '.join(formulas.CATEGORIES)} or None, "
            f"got {strategy_type!r}"
        )


def find(
    store: Store,
    tenant: str,
    playbook_id: str,
    task_description: str,
    strategy_type: str | None,
    limit: int,
) -> list[Rated]:
    """The ``limit`` strategies most relevant to ``task_description`` (only those the
    text index matches), of ``strategy_type`` when given, best first."""
    ranked = store.top_skills(
        tenant, playbook_id, task_description, k=max(limit * 5, 50), fill=False
    )
    rated = rate(store, tenant, playbook_id, [(r.skill, r.score) for r in ranked])
    chosen = [s for s in rated if strategy_type is None or s[0]["category"] == strategy_type]
    return chosen[:limit]


def grouped(store: Store, tenant: str, playbook_id: str) -> dict[str, Any]:
    """Every active strategy of the playbook, rated, grouped by category (most
    confident first)."""
    book, version = store.load_skillbook(tenant, playbook_id)
    rated = rate(store, tenant, playbook_id, [(skill, 0.0) for skill in book.skills()])
    groups: dict[str, list[dict[str, Any]]] = {c: [] for c in formulas.CATEGORIES}
    for item, _ in sorted(rated, key=lambda pair: -pair[0]["confidence"]):
        groups[item["category"]].append(item)
    return {"playbook_id": playbook_id, "version": version, "strategies": groups}
