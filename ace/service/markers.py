"""The playbook block embedded in prompts, defined once: rendering it and finding it again.

A prompt enriched with a playbook carries its skills between two marker lines::

    **PLAYBOOK_BEGIN**
    Strategies learned from earlier runs. Cite the ids of those you use, e.g. [general-00001].
    ## general
    - [general-00001] Check the tool's unit before comparing numbers. (helpful 2)
    **PLAYBOOK_END**

One line per skill, ``- [id] content``, grouped under ``## section`` headings, with the
non-zero helpful/harmful/neutral counts in parentheses (the same lines as
``Skillbook.as_prompt``). The service's ``embed_prompt`` renders with `render_block` and
`embed`; a learn job finds the skills a run was shown with `embedded_skill_ids`, which
reads every block in the submitted text (also when the trajectory holds it JSON-escaped,
with ``\\n`` for line breaks, or cut off before its end marker) and keeps only ids that
exist in the playbook. This module imports nothing heavy.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Collection, Iterable
from typing import Protocol

PLAYBOOK_BEGIN = "**PLAYBOOK_BEGIN**"
"""The line that opens an embedded playbook."""
PLAYBOOK_END = "**PLAYBOOK_END**"
"""The line that closes an embedded playbook."""


@functools.lru_cache(maxsize=1024)
def block_intro(example: str | None) -> str:
    """The first line inside a block: an introduction citing ``example`` (the first
    skill's id), or for ``None`` the only line of a block without skills
    (``prompts/service/playbook_block.j2``; recent lines are kept)."""
    from ace.prompting import render_prompt

    return render_prompt("service/playbook_block.j2", example=example).strip()


_TAGS = ("helpful", "harmful", "neutral")
_CITATION = re.compile(r"\[([^\[\]\n]{1,200})\]")


class SkillLike(Protocol):
    """What a block shows of a skill (``ace.Skill`` has all of it)."""

    @property
    def id(self) -> str:
        """The skill's id, shown as ``[id]``."""

    @property
    def section(self) -> str:
        """The heading it is grouped under."""

    @property
    def content(self) -> str:
        """The strategy's text."""

    @property
    def helpful(self) -> int:
        """Times it helped."""

    @property
    def harmful(self) -> int:
        """Times it hurt."""

    @property
    def neutral(self) -> int:
        """Times it made no difference."""


def skill_line(skill: SkillLike) -> str:
    """``- [id] content (helpful 2, harmful 1)``: one line, whitespace collapsed."""
    counts = ", ".join(f"{name} {getattr(skill, name)}" for name in _TAGS if getattr(skill, name))
    suffix = f" ({counts})" if counts else ""
    return f"- [{skill.id}] {' '.join(skill.content.split())}{suffix}"


def render_block(skills: Iterable[SkillLike]) -> str:
    """The marked block for ``skills`` (in the order given, grouped by first-seen section)."""
    by_section: dict[str, list[SkillLike]] = {}
    for skill in skills:
        by_section.setdefault(skill.section, []).append(skill)
    lines = [PLAYBOOK_BEGIN]
    if not by_section:
        lines.append(block_intro(None))
    else:
        first = next(iter(by_section.values()))[0]
        lines.append(block_intro(first.id))
        for section, members in by_section.items():
            lines.append(f"## {section or '(no section)'}")
            lines.extend(skill_line(skill) for skill in members)
    lines.append(PLAYBOOK_END)
    return "\n".join(lines)


def embed(prompt: str, skills: Iterable[SkillLike]) -> str:
    """``prompt`` followed by a blank line and the block of ``skills``."""
    return f"{prompt.rstrip()}\n\n{render_block(skills)}"


def extract_blocks(text: str) -> list[str]:
    """The text inside every block, in order (a block without its end marker runs to the
    end of ``text``)."""
    blocks: list[str] = []
    start = text.find(PLAYBOOK_BEGIN)
    while start != -1:
        body_start = start + len(PLAYBOOK_BEGIN)
        end = text.find(PLAYBOOK_END, body_start)
        blocks.append(text[body_start : end if end != -1 else len(text)])
        if end == -1:
            break
        start = text.find(PLAYBOOK_BEGIN, end + len(PLAYBOOK_END))
    return blocks


def embedded_skill_ids(*texts: str, known: Collection[str] | None = None) -> list[str]:
    """Ids cited as ``[id]`` inside the blocks of ``texts``, in order, without repeats;
    with ``known``, only those in it (pass the playbook's ids: a bracket in a skill's text
    is then never mistaken for one)."""
    found: dict[str, None] = {}
    for text in texts:
        for block in extract_blocks(text):
            for match in _CITATION.finditer(block):
                skill_id = match.group(1).strip()
                if skill_id and (known is None or skill_id in known):
                    found.setdefault(skill_id)
    return list(found)


def strip_blocks(text: str) -> str:
    """``text`` without its blocks (markers included), for showing a task on its own."""
    parts: list[str] = []
    position = 0
    start = text.find(PLAYBOOK_BEGIN)
    while start != -1:
        parts.append(text[position:start])
        end = text.find(PLAYBOOK_END, start + len(PLAYBOOK_BEGIN))
        if end == -1:
            position = len(text)
            break
        position = end + len(PLAYBOOK_END)
        start = text.find(PLAYBOOK_BEGIN, position)
    parts.append(text[position:])
    return re.sub(r"\n{3,}", "\n\n", "".join(parts)).strip()
