"""Claude Code session files for the tests, and a stand-in ``claude`` executable.

``Session`` writes lines in the shape Claude Code writes them (``{type, uuid,
parentUuid, sessionId, cwd, timestamp, message, ...}``). ``install_stand_in`` puts a
small ``claude`` script on a folder the test prepends to PATH: it behaves like
``claude -p TASK --output-format stream-json --verbose [--append-system-prompt TEXT]``:
it prints the stream of JSON events and writes the session file under
``$CLAUDE_CONFIG_DIR/projects/<project key>/<session id>.jsonl``, with one failing tool
call, and records its arguments in ``calls.jsonl`` beside itself.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any


class Session:
    """Builds one session's lines."""

    def __init__(self, session_id: str, cwd: str = "/home/dev/shop") -> None:
        self.session_id = session_id
        self.cwd = cwd
        self.lines: list[dict[str, Any]] = []

    def _add(self, kind: str, message: dict[str, Any], **extra: Any) -> Session:
        n = len(self.lines)
        self.lines.append(
            {
                "parentUuid": f"{self.session_id}-{n - 1}" if n else None,
                "isSidechain": False,
                "userType": "external",
                "cwd": self.cwd,
                "sessionId": self.session_id,
                "version": "1.0.51",
                "type": kind,
                "message": message,
                "uuid": f"{self.session_id}-{n}",
                "timestamp": f"2026-01-01T00:{n // 60:02d}:{n % 60:02d}Z",
                **extra,
            }
        )
        return self

    def user(self, text: str, **extra: Any) -> Session:
        """A user's typed turn (``isMeta=True`` for Claude Code's own lines)."""
        return self._add("user", {"role": "user", "content": text}, **extra)

    def say(self, text: str) -> Session:
        """The assistant's text."""
        return self._add(
            "assistant",
            {
                "id": f"msg-{len(self.lines)}",
                "role": "assistant",
                "content": [{"type": "text", "text": text}],
            },
        )

    def tool(
        self, name: str, arguments: dict[str, Any], output: str, *, error: bool = False
    ) -> Session:
        """A tool use and its result (``error`` marks the result ``is_error``)."""
        call_id = f"toolu_{len(self.lines)}"
        self._add(
            "assistant",
            {
                "id": f"msg-{len(self.lines)}",
                "role": "assistant",
                "content": [{"type": "tool_use", "id": call_id, "name": name, "input": arguments}],
            },
        )
        return self._add(
            "user",
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": call_id,
                        "content": output,
                        "is_error": error,
                    }
                ],
            },
        )

    def write(self, folder: Path) -> Path:
        """The session file ``<folder>/<session id>.jsonl``."""
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{self.session_id}.jsonl"
        path.write_text("".join(json.dumps(line) + "\n" for line in self.lines), encoding="utf-8")
        return path


def clean(session_id: str = "clean") -> Session:
    """A session where nothing went wrong."""
    return (
        Session(session_id)
        .user("Add a --verbose flag to the CLI")
        .tool("Edit", {"file_path": "cli.py"}, "ok")
        .say("Added the flag.")
        .user("Thanks, now add a test for it")
        .tool("Bash", {"command": "pytest -q"}, "1 passed")
        .say("Done.")
    )


def with_tool_error(session_id: str = "tool-error", lesson: str = "LESSON-tool") -> Session:
    """A session whose test run failed."""
    return (
        Session(session_id)
        .user(f"Run the tests ({lesson})")
        .tool(
            "Bash", {"command": "pytest"}, "Exit code 4: no tests ran, wrong directory", error=True
        )
        .say("The tests could not start.")
    )


def with_interrupt(session_id: str = "interrupt") -> Session:
    """A session the user stopped."""
    return (
        Session(session_id)
        .user("Refactor the exporter")
        .tool("Edit", {"file_path": "export.py"}, "ok")
        .user("[Request interrupted by user for tool use]")
    )


def with_correction(session_id: str = "correction", lesson: str = "LESSON-correction") -> Session:
    """A session where the user corrected the agent."""
    return (
        Session(session_id)
        .user("Fix the CSV export")
        .tool("Write", {"file_path": "export.py"}, "ok")
        .say("I rewrote export.py.")
        .user(f"No, don't rewrite the whole file; change only the loop ({lesson})")
        .say("Understood.")
    )


STAND_IN = r'''#!{python}
"""A stand-in for `claude -p TASK --output-format stream-json --verbose`."""
import json, os, re, sys, uuid
from pathlib import Path

args = sys.argv[1:]
here = Path(__file__).resolve().parent
with open(here / "calls.jsonl", "a") as log:
    log.write(json.dumps({{"args": args, "cwd": os.getcwd()}}) + "\n")
task = args[args.index("-p") + 1]
assert args[args.index("--output-format") + 1] == "stream-json" and "--verbose" in args
fail = os.environ.get("STAND_IN_FAIL") == "1"
sid = str(uuid.uuid4())
cwd = os.getcwd()
key = re.sub(r"[^A-Za-z0-9]", "-", str(Path(cwd).resolve()))
home = Path(os.environ.get("CLAUDE_CONFIG_DIR") or Path.home() / ".claude")
folder = home / "projects" / key
folder.mkdir(parents=True, exist_ok=True)
events, lines = [], []
def emit(kind, message):
    n = len(lines)
    line = {{"parentUuid": lines[-1]["uuid"] if lines else None, "isSidechain": False,
            "userType": "external", "cwd": cwd, "sessionId": sid, "version": "1.0.51",
            "type": kind, "message": message, "uuid": f"{{sid}}-{{n}}",
            "timestamp": f"2026-01-01T00:00:{{n:02d}}Z"}}
    lines.append(line)
    events.append({{"type": kind, "message": message, "session_id": sid}})
emit("user", {{"role": "user", "content": task}})
emit("assistant", {{"id": "m1", "role": "assistant", "content": [
    {{"type": "tool_use", "id": "t1", "name": "Bash", "input": {{"command": "pytest"}}}}]}})
emit("user", {{"role": "user", "content": [{{"type": "tool_result", "tool_use_id": "t1",
    "content": "Exit code 4: no tests ran (LESSON-standin)", "is_error": True}}]}})
emit("assistant", {{"id": "m2", "role": "assistant", "content": [{{"type": "text", "text": "Ran the tests from the repo root; all pass."}}]}})
(folder / f"{{sid}}.jsonl").write_text("".join(json.dumps(l) + "\n" for l in lines))
print(json.dumps({{"type": "system", "subtype": "init", "session_id": sid, "cwd": cwd, "tools": ["Bash"]}}))
for event in events:
    print(json.dumps(event))
print(json.dumps({{"type": "result", "subtype": "error_during_execution" if fail else "success",
    "is_error": fail, "result": "gave up" if fail else "All tests pass.", "session_id": sid,
    "num_turns": 2, "total_cost_usd": 0.01}}))
sys.exit(1 if fail else 0)
'''


def install_stand_in(folder: Path) -> Path:
    """Write the stand-in ``claude`` into ``folder`` (executable); returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "claude"
    path.write_text(STAND_IN.format(python=sys.executable), encoding="utf-8")
    path.chmod(0o755)
    return path


def stand_in_calls(folder: Path) -> list[dict[str, Any]]:
    """The stand-in's recorded invocations (``args``, ``cwd``)."""
    log = folder / "calls.jsonl"
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]


def path_with(folder: Path) -> str:
    """PATH with ``folder`` first."""
    return f"{folder}{os.pathsep}{os.environ.get('PATH', '')}"
