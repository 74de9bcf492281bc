"""Finding a project's Claude Code sessions and the signs that one went wrong.

Claude Code keeps one JSONL file per session under
``~/.claude/projects/<project path, every character other than a letter or digit as "-">/``
(``$CLAUDE_CONFIG_DIR/projects/...`` when that is set). A session is worth learning from
when something went wrong in it: a tool call failed, the user interrupted the agent, or
the user corrected it ("no, ...", "don't ...", "that's wrong", ...). Each is a
``Signal`` naming the step it was seen at.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ace.errors import UsageError
from ace.traces import Trace
from ace.traces.formats._frameworks import ERROR, INTERRUPT, has_mark

SignalKind = Literal["tool_error", "interrupt", "correction"]
"""What went wrong: a failed tool call, the user stopping the agent, a user correcting it."""

_CORRECTION = re.compile(
    r"^\s*(?:no\b|nope\b|stop\b|wait\b|don'?t\b|do not\b|never\b|wrong\b|actually\b|"
    r"instead\b|undo\b|revert\b|why did you\b|you (?:should|shouldn'?t|forgot|broke|missed)\b|"
    r"that'?s (?:not|wrong|incorrect)\b|that is (?:not|wrong|incorrect)\b|not (?:what|like)\b|"
    r"please (?:don'?t|do not|stop|revert|undo)\b|i (?:said|told you|asked)\b)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Signal:
    """One sign that a session went wrong: its kind, the step index and a short excerpt."""

    kind: SignalKind
    step: int
    excerpt: str


@dataclass(frozen=True)
class Session:
    """One session file, read as a trace, with the signals found in it."""

    path: Path
    trace: Trace
    signals: tuple[Signal, ...]

    @property
    def id(self) -> str:
        """The session's id (Claude Code's ``sessionId``, else the file's stem)."""
        return self.trace.id or self.path.stem


def claude_home() -> Path:
    """Claude Code's configuration directory: ``$CLAUDE_CONFIG_DIR``, else ``~/.claude``."""
    configured = os.environ.get("CLAUDE_CONFIG_DIR")
    return Path(configured).expanduser() if configured else Path.home() / ".claude"


def project_key(project_dir: str | os.PathLike[str]) -> str:
    """The name Claude Code gives a project's session folder: its absolute path with every
    character other than an ASCII letter or digit replaced by ``-``."""
    return re.sub(r"[^A-Za-z0-9]", "-", str(Path(project_dir).expanduser().resolve()))


def sessions_dir(project_dir: str | os.PathLike[str]) -> Path:
    """Where Claude Code keeps the sessions of ``project_dir`` (it may not exist).

    The folder named by ``project_key``; when it does not exist but one named with only
    the slashes replaced does (the rule of older Claude Code releases), that one.
    """
    root = claude_home() / "projects"
    folder = root / project_key(project_dir)
    older = root / str(Path(project_dir).expanduser().resolve()).replace(os.sep, "-")
    return older if not folder.exists() and older.is_dir() else folder


def find_sessions(
    project_dir: str | os.PathLike[str] | None = None,
    *,
    sessions: str | os.PathLike[str] | None = None,
) -> list[Path]:
    """The session files (``*.jsonl``, oldest first) of ``project_dir`` or in ``sessions``.

    Raises ``UsageError`` naming the directory looked at when there are none.
    """
    if sessions is None and project_dir is None:
        raise UsageError("find_sessions: pass the project directory or sessions=DIR")
    folder = (
        Path(sessions).expanduser() if sessions is not None else sessions_dir(project_dir or ".")
    )
    found = (
        sorted(folder.glob("*.jsonl"), key=lambda p: (p.stat().st_mtime, p.name))
        if folder.is_dir()
        else []
    )
    if not found:
        why = "does not exist" if not folder.exists() else "holds no *.jsonl session files"
        hint = (
            ""
            if sessions is not None
            else f" (the sessions of {Path(project_dir or '.').resolve()}; pass --sessions DIR for another folder)"
        )
        raise UsageError(f"no Claude Code sessions found: {folder} {why}{hint}")
    return found


def signals(trace: Trace) -> list[Signal]:
    """Every tool error, user interrupt and user correction in a Claude Code session trace.

    A correction is a user turn typed after the agent has acted (not the first request,
    not one of Claude Code's own lines) that opens like one: "no", "don't", "stop",
    "that's wrong", "actually", "revert", "I said", ...
    """
    found: list[Signal] = []
    acted = False
    for step in trace.steps:
        if has_mark(step, ERROR):
            said = step.content or "\n".join(r.output for r in step.tool_results)
            named = ", ".join(r.name for r in step.tool_results if r.name)
            found.append(
                Signal("tool_error", step.index, _excerpt(f"{named}: {said}" if named else said))
            )
        elif has_mark(step, INTERRUPT):
            found.append(Signal("interrupt", step.index, _excerpt(step.content)))
        elif (
            step.role == "user"
            and step.agent == "user"
            and acted
            and _CORRECTION.match(step.content)
        ):
            found.append(Signal("correction", step.index, _excerpt(step.content)))
        if step.role == "assistant" or step.tool_calls:
            acted = True
    return found


def read_session(path: str | os.PathLike[str]) -> Session:
    """One session file as a ``Session`` (its trace and signals)."""
    from ace.traces import load_trace_file

    trace = load_trace_file(path, format="claude_code")
    return Session(path=Path(path), trace=trace, signals=tuple(signals(trace)))


def _excerpt(text: str, limit: int = 200) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
