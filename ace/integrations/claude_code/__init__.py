"""Claude Code: run the ``claude`` CLI with learned skills, and learn from its sessions.

Two ways in:

- ``ace claude-code learn [PROJECT_DIR]`` (``learn_from_sessions``) reads the project's
  session files, picks the sessions where a tool call failed, the user interrupted or the
  user corrected the agent, reflects on them and writes the lessons into a marked section
  of the project's ``CLAUDE.md``, which Claude Code reads at every start.
- ``ClaudeCodeExecuteStep`` → ``ClaudeCodeToTrace`` → ``learning_tail(..., from_trace=True)``
  (the runner ``ace.ClaudeCode``) runs ``claude -p`` on tasks with the skills appended to
  its system prompt and learns from each run.

Nothing here needs a Python package beyond ACE; running tasks needs the ``claude``
executable.
"""

from __future__ import annotations

from ace.integrations.claude_code._claude_md import BEGIN, END, update_claude_md
from ace.integrations.claude_code._execute import (
    ClaudeCodeExecuteStep,
    ClaudeCodeIntegration,
    ClaudeCodeResult,
    ClaudeCodeToTrace,
)
from ace.integrations.claude_code._learn import LearnReport, learn_from_sessions
from ace.integrations.claude_code._sessions import (
    Session,
    Signal,
    find_sessions,
    read_session,
    sessions_dir,
    signals,
)

__all__ = [
    "BEGIN",
    "END",
    "ClaudeCodeExecuteStep",
    "ClaudeCodeIntegration",
    "ClaudeCodeResult",
    "ClaudeCodeToTrace",
    "LearnReport",
    "Session",
    "Signal",
    "find_sessions",
    "learn_from_sessions",
    "read_session",
    "sessions_dir",
    "signals",
    "update_claude_md",
]
