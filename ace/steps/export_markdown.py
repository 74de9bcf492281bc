"""ExportSkillbookMarkdownStep: keep a readable Markdown rendering of the skillbook."""

from __future__ import annotations

import os
from pathlib import Path

from ace._files import atomic_write
from ace.pipeline.context import ACEStepContext, SkillbookView
from ace.skillbook import TAG_NAMES, Skill, Skillbook
from ace.steps._order import path_and_skillbook


class ExportSkillbookMarkdownStep:
    """Rewrites ``path`` (atomically) with the skillbook as Markdown after each sample.

    ``ExportSkillbookMarkdownStep(path, skillbook)`` as in the established package; the
    first order of this package, ``(skillbook, path)``, is also accepted.
    """

    requires: frozenset[str] = frozenset()
    provides: frozenset[str] = frozenset()

    def __init__(
        self,
        path: str | os.PathLike[str] | Skillbook | SkillbookView,
        skillbook: Skillbook | SkillbookView | str | os.PathLike[str],
    ) -> None:
        self.path, self.skillbook = path_and_skillbook(
            path, skillbook, "ExportSkillbookMarkdownStep", (Skillbook, SkillbookView)
        )

    def __call__(self, ctx: ACEStepContext) -> ACEStepContext:
        """Write the current rendering; the context passes through unchanged."""
        write_text_atomic(self.path, skillbook_markdown(self.skillbook))
        return ctx


def skillbook_markdown(skillbook: Skillbook | SkillbookView) -> str:
    """Active skills grouped by section: id, content, justification, evidence, counters, sources."""
    skills = skillbook.skills()
    lines = ["# Skillbook", "", f"{len(skills)} skills in {len(skillbook.sections())} sections."]
    for section in skillbook.sections():
        lines += ["", f"## {section or '(no section)'}"]
        for skill in (s for s in skills if s.section == section):
            lines += ["", *_skill_lines(skill)]
    return "\n".join(lines) + "\n"


def _skill_lines(skill: Skill) -> list[str]:
    lines = [f"### `{skill.id}`", "", skill.content, ""]
    if skill.justification:
        lines.append(f"- **Justification:** {skill.justification}")
    if skill.evidence:
        lines.append(f"- **Evidence:** {skill.evidence}")
    counters = ", ".join(f"{name} {getattr(skill, name)}" for name in TAG_NAMES)
    lines.append(f"- **Counters:** {counters}")
    for source in skill.sources:
        where = ", ".join(
            f"{label} `{value}`"
            for label, value in (
                ("trace", source.trace_id),
                ("sample", source.sample_id),
                ("epoch", source.epoch),
            )
            if value is not None
        )
        lines.append(f"- **Source:** {source.operation} from {where or 'unknown origin'}")
    return lines


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file and a rename: readers never see half."""
    atomic_write(path, text)
