"""``wrap_skillbook_context``: the skillbook as text for an external agent's prompt."""

from __future__ import annotations

import math
import re
from typing import Any

from ace.prompting import render_prompt

_WORD = re.compile(r"[a-z0-9]{3,}")


def wrap_skillbook_context(
    skillbook: Any, *, prompt: str | None = None, k: int | None = None
) -> str:
    """The skills (all, or the ``k`` most relevant to ``prompt``) with a short explanation,
    ready to put in a system prompt; "" when the skillbook has no skills.

    ``skillbook`` is a ``Skillbook`` or a ``SkillbookView``. Relevance is word overlap with
    ``prompt``, shorter skills first on equal overlap, then more helpful than harmful
    evidence; without ``prompt`` the first ``k`` skills are kept. The one-argument form is
    the established one.
    """
    skills = list(skillbook.skills())
    if not skills:
        return ""
    if k is not None:
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            from ace.errors import UsageError

            raise UsageError(f"wrap_skillbook_context: k must be an int >= 1, got {k!r}")
        if prompt:
            wanted = set(_WORD.findall(prompt.lower()))
            ranked = sorted(
                range(len(skills)),
                key=lambda i: (-_relevance(skills[i], wanted), -_evidence(skills[i]), i),
            )
            keep = set(ranked[:k])
            skills = [s for i, s in enumerate(skills) if i in keep]
        else:
            skills = skills[:k]
    return render_prompt(
        "integration_context.j2", skills=_lines(skills), example_id=skills[0].id
    ).strip()


def _relevance(skill: Any, wanted: set[str]) -> float:
    words = set(_WORD.findall(f"{skill.section} {skill.content}".lower()))
    return len(words & wanted) / math.sqrt(len(words) or 1)


def _evidence(skill: Any) -> int:
    return int(getattr(skill, "helpful", 0)) - int(getattr(skill, "harmful", 0))


def _lines(skills: list[Any]) -> str:
    by_section: dict[str, list[Any]] = {}
    for skill in skills:
        by_section.setdefault(skill.section or "general", []).append(skill)
    out: list[str] = []
    for section, members in by_section.items():
        out.append(f"## {section}")
        for s in members:
            counts = (
                f" (helpful {s.helpful}, harmful {s.harmful})" if s.helpful or s.harmful else ""
            )
            out.append(f"- [{s.id}] {' '.join(s.content.split())}{counts}")
    return "\n".join(out)
