"""``learn_from_sessions``: reflect on a project's troubled Claude Code sessions and write
the lessons into its ``CLAUDE.md``.

Sessions with at least one signal (a tool error, an interrupt, a correction) are learned
from, once each: their fingerprints (size and SHA-256) are remembered in a state file
beside the skillbook, so a second run skips them (a session that grew is read again).
The skillbook is kept at ``<project>/.ace/claude-code-skillbook.json`` unless given (a
project without one starts from the strategies its ``CLAUDE.md`` section lists); skills
with the same text are kept once, so the section never lists a lesson twice.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ace.errors import UsageError
from ace.integrations.claude_code._claude_md import (
    normalised,
    section_entries,
    section_skills,
    update_claude_md,
)
from ace.integrations.claude_code._sessions import Session, find_sessions, read_session
from ace.pipeline.protocol import ReflectorLike, SkillManagerLike
from ace.skillbook import Skillbook

STATE_DIR = ".ace"
"""The folder (inside the project) holding the skillbook and the learned-session state."""
SKILLBOOK_FILE = "claude-code-skillbook.json"
STATE_FILE = "claude-code-sessions.json"


@dataclass
class LearnReport:
    """What ``learn_from_sessions`` read, chose, learned and wrote."""

    project_dir: Path
    sessions_dir: Path
    claude_md: Path
    dry_run: bool
    sessions: list[Session] = field(default_factory=list)
    """Every session file read."""
    selected: list[Session] = field(default_factory=list)
    """The sessions learned from in this run (signals found, not learned before)."""
    already_learned: list[Session] = field(default_factory=list)
    """Sessions with signals skipped because an earlier run learned from them."""
    added: list[str] = field(default_factory=list)
    """Strategies new to the ``CLAUDE.md`` section."""
    diff: str = ""
    """The change to ``CLAUDE.md`` (written, or only shown with ``dry_run``)."""


def learn_from_sessions(
    project_dir: str | os.PathLike[str] = ".",
    *,
    reflector: ReflectorLike,
    skill_manager: SkillManagerLike,
    sessions: str | os.PathLike[str] | None = None,
    claude_md: str | os.PathLike[str] | None = None,
    skillbook: Skillbook | None = None,
    skillbook_path: str | os.PathLike[str] | None = None,
    state_path: str | os.PathLike[str] | None = None,
    dry_run: bool = False,
    relearn: bool = False,
) -> LearnReport:
    """Learn from the sessions of ``project_dir`` (or those in ``sessions``) that went
    wrong and write the skills into the marked section of ``claude_md`` (default
    ``<project>/CLAUDE.md``).

    ``skillbook`` is learned into in place (else the one at ``skillbook_path``, default
    ``<project>/.ace/claude-code-skillbook.json``, is loaded and saved); ``relearn``
    reads sessions learned before again; ``dry_run`` learns in a copy and writes nothing
    (``report.diff`` shows what would change). Caller mistakes (no project directory, no
    sessions) raise ``UsageError`` before any model call.
    """
    project = Path(project_dir).expanduser()
    if not project.is_dir():
        raise UsageError(f"claude-code learn: project directory {project} does not exist")
    project = project.resolve()
    paths = find_sessions(project, sessions=sessions)
    target = Path(claude_md) if claude_md is not None else project / "CLAUDE.md"
    book_path = Path(skillbook_path) if skillbook_path else project / STATE_DIR / SKILLBOOK_FILE
    state_file = Path(state_path) if state_path else project / STATE_DIR / STATE_FILE
    report = LearnReport(
        project_dir=project, sessions_dir=paths[0].parent, claude_md=target, dry_run=dry_run
    )
    learned = _read_state(state_file)
    prints: dict[str, str] = {}
    for path in paths:
        session = read_session(path)
        report.sessions.append(session)
        if not session.signals:
            continue
        prints[session.id] = _fingerprint(path)
        if not relearn and learned.get(session.id) == prints[session.id]:
            report.already_learned.append(session)
        else:
            report.selected.append(session)
    before = target.read_text(encoding="utf-8") if target.exists() else ""
    book = skillbook
    if book is None and book_path.exists():
        book = Skillbook.load(book_path)
    elif book is None:  # no skillbook yet: start from what the section already lists
        book = Skillbook()
        for section, text in section_entries(before):
            book.add_skill(section, text)
    if dry_run:
        book = Skillbook.from_dict(book.to_dict())
    if report.selected:
        _learn(book, report.selected, reflector, skill_manager)
    _drop_repeats(book)
    shown = {normalised(line) for line in section_skills(before)}
    report.added = [s.content for s in book.skills() if normalised(s.content) not in shown]
    report.diff = update_claude_md(target, book.skills(), dry_run=dry_run)
    if not dry_run:
        if skillbook is None:
            book_path.parent.mkdir(parents=True, exist_ok=True)
            book.save(book_path)
        learned.update({s.id: prints[s.id] for s in report.selected})
        state_file.parent.mkdir(parents=True, exist_ok=True)
        state_file.write_text(json.dumps({"learned": learned}, indent=2) + "\n", encoding="utf-8")
    return report


def _learn(
    book: Skillbook,
    chosen: list[Session],
    reflector: ReflectorLike,
    skill_manager: SkillManagerLike,
) -> None:
    from ace.prompting import render_prompt
    from ace.runners.trace_analyser import TraceAnalyser

    traces = []
    for session in chosen:
        feedback = render_prompt(
            "claude_code_feedback.j2", signals=list(session.signals), failure=""
        ).strip()
        traces.append(session.trace.model_copy(update={"feedback": feedback}))
    analyser = TraceAnalyser(reflector=reflector, skill_manager=skill_manager, skillbook=book)
    try:
        for result in analyser.run(traces):
            if result.error is not None:
                raise result.error
    finally:
        analyser.close()


def _drop_repeats(book: Skillbook) -> None:
    seen: set[str] = set()
    for skill in list(book.skills()):
        key = normalised(skill.content)
        if key in seen:
            book.remove_skill(skill.id)
        seen.add(key)


def _fingerprint(path: Path) -> str:
    data = path.read_bytes()
    return f"{len(data)}:{hashlib.sha256(data).hexdigest()}"


def _read_state(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise UsageError(
            f"{path}: not JSON ({exc}); delete it to learn from every session again"
        ) from None
    learned = data.get("learned") if isinstance(data, dict) else None
    if not isinstance(learned, dict):
        raise UsageError(f'{path}: expected {{"learned": {{session id: fingerprint}}}}')
    return {str(k): str(v) for k, v in learned.items()}
