"""Learn from a project's Claude Code sessions and write the lessons into its CLAUDE.md.

Runs offline: it writes a small project and one session file in the shape Claude Code
writes them (a failing test run, then the user correcting the agent), and ACE's Reflector
and SkillManager answer through a scripted model on the real litellm path. On your own
project, with a real model:

    ace claude-code learn ~/code/shop --dry-run --model gpt-4o-mini   # show the diff
    ace claude-code learn ~/code/shop --model gpt-4o-mini             # write CLAUDE.md

and, to run tasks through the ``claude`` CLI with the skills injected and learn from
each run: ``ClaudeCode("~/code/shop", reflector=..., skill_manager=...).run(["..."])``.

    python examples/claude_code_learn.py
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from ace import Reflector, SkillManager
from ace.integrations.claude_code import learn_from_sessions
from ace.testing import ScriptedModel

LESSON = "Run pytest from the repository root; it finds no tests from a subdirectory"


def session_lines(project: Path) -> list[dict[str, object]]:
    """A session: the user asks, a test run fails, the user corrects the agent."""
    messages = [
        ("user", {"role": "user", "content": "Make the test suite pass"}),
        ("assistant", {"role": "assistant", "content": [
            {"type": "tool_use", "id": "t1", "name": "Bash", "input": {"command": "cd src && pytest"}}]}),
        ("user", {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "t1", "content": "no tests ran", "is_error": True}]}),
        ("assistant", {"role": "assistant", "content": [{"type": "text", "text": "No tests exist."}]}),
        ("user", {"role": "user", "content": "No, the tests are in tests/; run pytest from the root"}),
    ]  # fmt: skip
    return [
        {"type": kind, "uuid": f"u{i}", "parentUuid": f"u{i - 1}" if i else None,
         "sessionId": "demo-session", "cwd": str(project), "message": message,
         "timestamp": f"2026-01-01T10:00:0{i}Z"}
        for i, (kind, message) in enumerate(messages)
    ]  # fmt: skip


def ace_roles() -> ScriptedModel:
    """The Reflector's and the SkillManager's answers, in order."""
    reflection = {
        "reasoning": "pytest ran from src/ and found nothing; the user had to step in",
        "error_identification": "wrong working directory for the test run",
        "key_insight": LESSON,
        "extracted_learnings": [{"learning": LESSON, "atomicity_score": 0.9}],
    }
    update = {
        "reasoning": "new",
        "operations": [{"type": "ADD", "section": "testing", "content": LESSON}],
    }
    return ScriptedModel([json.dumps(reflection), json.dumps(update)])


def main() -> None:
    """Learn from the session, then show the CLAUDE.md ACE wrote."""
    root = Path(tempfile.mkdtemp())
    project, sessions = root / "shop", root / "sessions"
    project.mkdir()
    sessions.mkdir()
    (project / "CLAUDE.md").write_text("# Shop\n\nUse uv for everything.\n")
    lines = session_lines(project)
    (sessions / "demo-session.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))

    roles = ace_roles()
    report = learn_from_sessions(
        project,
        sessions=sessions,  # default: ~/.claude/projects/<project path as dashes>/
        reflector=Reflector(roles.name),
        skill_manager=SkillManager(roles.name),
    )
    for session in report.selected:
        for signal in session.signals:
            print(f"{session.id}: step {signal.step}, {signal.kind}: {signal.excerpt}")
    print(f"\n{report.claude_md} now reads:\n")
    print(report.claude_md.read_text())


if __name__ == "__main__":
    main()
