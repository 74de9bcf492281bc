"""The learned strategies as a marked section of a project's ``CLAUDE.md``.

The section sits between ``BEGIN`` and ``END`` marker lines (HTML comments, invisible in
rendered Markdown). Only the text between them is ever replaced; a file without the
markers gets the section appended, after a blank line. Writing the same skills twice
leaves the file unchanged, and a skill whose text is already in the section (ignoring
case, spacing and punctuation) is listed once.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ace.errors import UsageError

BEGIN = "<!-- ACE:BEGIN learned strategies (written by `ace claude-code learn`; edits inside are replaced) -->"
"""The line opening the managed section."""
END = "<!-- ACE:END -->"
"""The line closing it."""

_BEGIN_RE = re.compile(r"^<!-- ACE:BEGIN\b.*-->[ \t]*$", re.MULTILINE)
_END_RE = re.compile(r"^<!-- ACE:END -->[ \t]*$", re.MULTILINE)
_NOT_WORD = re.compile(r"[^a-z0-9]+")


def normalised(text: str) -> str:
    """A skill's text for duplicate checks: lower case, words only."""
    return _NOT_WORD.sub(" ", text.lower()).strip()


def unique_skills(skills: Iterable[Any]) -> list[Any]:
    """``skills`` without repeats of the same text (the first one kept)."""
    seen: set[str] = set()
    kept: list[Any] = []
    for skill in skills:
        key = normalised(skill.content)
        if key and key not in seen:
            seen.add(key)
            kept.append(skill)
    return kept


def render_section(skills: Iterable[Any]) -> str:
    """The section's text, markers included, for ``skills`` (objects with ``section`` and
    ``content``), grouped by section in first-seen order."""
    from ace.prompting import render_prompt

    groups: dict[str, list[str]] = {}
    for skill in unique_skills(skills):
        groups.setdefault(skill.section or "general", []).append(" ".join(skill.content.split()))
    body = render_prompt("claude_md_section.j2", groups=groups).strip()
    return f"{BEGIN}\n{body}\n{END}\n"


def replace_section(document: str, section: str) -> str:
    """``document`` with its marked section replaced by ``section`` (appended when absent).

    Raises ``UsageError`` when the markers are broken (one without the other, or several).
    """
    begins, ends = list(_BEGIN_RE.finditer(document)), list(_END_RE.finditer(document))
    if not begins and not ends:
        if not document.strip():
            return section
        return document.rstrip("\n") + "\n\n" + section
    if len(begins) != 1 or len(ends) != 1 or ends[0].start() < begins[0].start():
        raise UsageError(
            f"CLAUDE.md: expected one '{BEGIN[:14]}...' line followed by one '{END}' line, found "
            f"{len(begins)} and {len(ends)}; fix the markers by hand (or remove both) and rerun"
        )
    start, stop = begins[0].start(), ends[0].end()
    rest = document[stop:]
    rest = rest[1:] if rest.startswith("\n") else rest
    return document[:start] + section + rest


def section_diff(path: Path, before: str, after: str) -> str:
    """A unified diff of ``path`` from ``before`` to ``after`` ("" when equal)."""
    return "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True),
            after.splitlines(keepends=True),
            fromfile=f"{path} (current)",
            tofile=f"{path} (with the learned strategies)",
        )
    )


def update_claude_md(
    path: str | os.PathLike[str], skills: Iterable[Any], *, dry_run: bool = False
) -> str:
    """Write ``skills`` into the marked section of the ``CLAUDE.md`` at ``path`` (created
    when missing) and return the diff ("" when nothing changed); ``dry_run`` only returns
    the diff."""
    target = Path(path)
    before = target.read_text(encoding="utf-8") if target.exists() else ""
    skills = list(skills)
    if not skills and not _BEGIN_RE.search(before):
        return ""  # nothing learned yet: no empty section
    after = replace_section(before, render_section(skills))
    diff = section_diff(target, before, after)
    if diff and not dry_run:
        target.write_text(after, encoding="utf-8")
    return diff


def section_skills(document: str) -> list[str]:
    """The skill lines (``- ...``) currently inside the marked section, in order."""
    return [text for _, text in section_entries(document)]


def section_entries(document: str) -> list[tuple[str, str]]:
    """``(section, skill text)`` for each skill line inside the marked section (the
    section is the ``### ...`` heading above it, "general" before any)."""
    begins, ends = list(_BEGIN_RE.finditer(document)), list(_END_RE.finditer(document))
    if len(begins) != 1 or len(ends) != 1:
        return []
    section, entries = "general", []
    for line in document[begins[0].end() : ends[0].start()].splitlines():
        if line.startswith("### "):
            section = line[4:].strip() or "general"
        elif line.startswith("- ") and line[2:].strip():
            entries.append((section, line[2:].strip()))
    return entries
