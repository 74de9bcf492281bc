"""Running the ``claude`` CLI on a task, and its run as a trace.

``ClaudeCodeIntegration.execute`` runs ``claude -p TASK --output-format stream-json
--verbose [--append-system-prompt SKILLS] [ARGS...]`` in the project's directory, reads
the stream of JSON events it prints (``system``/``init`` with the ``session_id``, the
``assistant`` and ``user`` messages, the closing ``result``) and finds the session file
Claude Code wrote (see ``sessions_dir``). ``to_trace`` reads that file as format
``claude_code`` (else the streamed messages, in the same shape), with the answer and, when
the run failed or went wrong, feedback naming what happened.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ace.environments import Sample
from ace.errors import UsageError
from ace.integrations.base import ExecuteStep, Integration, ToTraceStep
from ace.integrations.claude_code._sessions import sessions_dir, signals
from ace.outputs import AgentOutput
from ace.pipeline import ACEStepContext
from ace.traces import Trace

INSTALL_HINT = "install Claude Code (npm install -g @anthropic-ai/claude-code) or pass claude=PATH"
"""What to do when the ``claude`` executable is missing."""


@dataclass
class ClaudeCodeResult:
    """One ``claude -p`` run: what was asked, what it printed, how it ended."""

    task: str
    working_dir: Path
    command: list[str] = field(default_factory=list)
    returncode: int | None = None
    success: bool = True
    output: str = ""
    """The run's final text (the ``result`` event's ``result``)."""
    error: str | None = None
    session_id: str | None = None
    session_file: Path | None = None
    """The session JSONL Claude Code wrote, when found."""
    events: list[dict[str, Any]] = field(default_factory=list)
    """The stream-json events, in order."""
    stderr: str = ""
    cost_usd: float | None = None
    num_turns: int | None = None
    sample: Sample | None = None


def find_claude(claude: str | os.PathLike[str] = "claude") -> str:
    """The ``claude`` executable's path; ``UsageError`` when it is not there."""
    found = shutil.which(str(claude))
    if found is None:
        raise UsageError(f"Claude Code: no '{claude}' executable found on PATH; {INSTALL_HINT}")
    return found


class ClaudeCodeIntegration(Integration):
    """The ``claude`` CLI as an ACE integration (module docstring).

    ``working_dir`` is the project Claude Code works in; ``claude`` the executable (name on
    PATH or a path); ``args`` extra arguments (``--model``, ``--allowedTools ...``,
    ``--permission-mode ...``); ``timeout`` seconds per run (None: no limit); ``env``
    variables added to the run's environment; ``skills_k`` injects only the k most
    relevant skills. A run that fails or times out is a failed result (learned from).
    """

    name: ClassVar[str] = "claude-code"

    def __init__(
        self,
        working_dir: str | os.PathLike[str] = ".",
        *,
        claude: str | os.PathLike[str] = "claude",
        args: list[str] | tuple[str, ...] = (),
        timeout: float | None = 600.0,
        env: dict[str, str] | None = None,
        skills_k: int | None = None,
    ) -> None:
        folder = Path(working_dir).expanduser()
        if not folder.is_dir():
            raise UsageError(f"Claude Code: working_dir {folder} is not a directory")
        if timeout is not None and timeout <= 0:
            raise UsageError(f"Claude Code: timeout must be > 0 seconds or None, got {timeout!r}")
        if isinstance(args, str) or not all(isinstance(a, str) for a in args):
            raise UsageError("Claude Code: args must be a list of strings")
        self.working_dir = folder.resolve()
        self.claude = claude
        self.args = list(args)
        self.timeout = timeout
        self.env = dict(env or {})
        self.skills_k = skills_k

    def command(self, task: Sample, skills: str) -> list[str]:
        """The command line for ``task`` (the executable looked up on PATH)."""
        command = [find_claude(self.claude), "-p", task.question]
        command += ["--output-format", "stream-json", "--verbose"]
        if skills:
            command += ["--append-system-prompt", skills]
        return command + self.args

    def execute(self, task: Sample, skills: str) -> ClaudeCodeResult:
        """Run ``claude -p`` on the task with the skills appended to its system prompt."""
        command = self.command(task, skills)
        result = ClaudeCodeResult(
            task=task.question, working_dir=self.working_dir, command=command, sample=task
        )
        try:
            done = subprocess.run(
                command,
                cwd=self.working_dir,
                env={**os.environ, **self.env},
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=self.timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            result.success, result.error = False, f"timed out after {self.timeout} s"
            stdout = (
                exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else exc.stdout
            )
            _read_events(result, stdout or "")
        else:
            result.returncode, result.stderr = done.returncode, done.stderr
            _read_events(result, done.stdout)
            if done.returncode != 0 and result.success:
                tail = done.stderr.strip().splitlines()[-1:] or [""]
                result.success = False
                result.error = f"claude exited with status {done.returncode}: {tail[0]}".rstrip(
                    ": "
                )
        result.session_file = self._session_file(result.session_id)
        return result

    def to_trace(self, result: Any, task: Sample) -> Trace:
        """The run as a ``Trace`` (format ``claude_code``) with answer and feedback."""
        return trace_of(result, task)

    def _session_file(self, session_id: str | None) -> Path | None:
        if not session_id:
            return None
        path = sessions_dir(self.working_dir) / f"{session_id}.jsonl"
        return path if path.is_file() else None


def _read_events(result: ClaudeCodeResult, stdout: str) -> None:
    for line in stdout.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if not isinstance(event, dict):
            continue
        result.events.append(event)
        if isinstance(event.get("session_id"), str):
            result.session_id = event["session_id"]
        if event.get("type") == "result":
            result.output = str(event.get("result") or "")
            result.num_turns = event.get("num_turns")
            cost = event.get("total_cost_usd")
            result.cost_usd = float(cost) if isinstance(cost, int | float) else None
            if event.get("is_error") is True or event.get("subtype") not in (None, "success"):
                result.success = False
                result.error = f"{event.get('subtype') or 'error'}: {result.output}".rstrip(": ")


def trace_of(result: Any, task: Sample | None = None) -> Trace:
    """A ``ClaudeCodeResult`` as a ``Trace``; a ``Trace`` is returned as it is."""
    from ace.prompting import render_prompt
    from ace.traces import load_trace

    if isinstance(result, Trace):
        return result
    if not isinstance(result, ClaudeCodeResult):
        raise UsageError(
            f"ClaudeCodeToTrace: expected a ClaudeCodeResult on ctx.trace, got {type(result).__name__}"
        )
    lines = _session_lines(result)
    if lines:
        trace = load_trace(lines, format="claude_code")
    else:
        trace = load_trace({"question": result.task, "steps": []})
    found = signals(trace)
    update: dict[str, Any] = {"question": task.question if task is not None else result.task}
    if result.output:
        update["final_answer"] = result.output
    if found or not result.success:
        update["feedback"] = render_prompt(
            "claude_code_feedback.j2",
            signals=found,
            failure="" if result.success else (result.error or "unknown error"),
        ).strip()
    return trace.model_copy(update=update)


def _session_lines(result: ClaudeCodeResult) -> list[Any]:
    if result.session_file is not None:
        lines = []
        for text in result.session_file.read_text(encoding="utf-8").splitlines():
            try:
                lines.append(json.loads(text))
            except ValueError:
                continue
        if lines:
            return lines
    streamed = []
    for number, event in enumerate(result.events):
        if event.get("type") in ("user", "assistant") and isinstance(event.get("message"), dict):
            line = dict(event)
            line.setdefault("uuid", f"{result.session_id or 'stream'}-{number}")
            line.setdefault("sessionId", result.session_id)
            streamed.append(line)
    return streamed


class ClaudeCodeExecuteStep(ExecuteStep):
    """Runs ``claude -p`` on ``ctx.sample`` with the skillbook injected.

    Requires ``sample`` and ``skillbook``; provides ``trace``, a ``ClaudeCodeResult``
    (``ClaudeCodeToTrace`` turns it into a ``Trace``). Keywords as for
    ``ClaudeCodeIntegration``.
    """

    def __init__(self, working_dir: str | os.PathLike[str] = ".", **options: Any) -> None:
        super().__init__(ClaudeCodeIntegration(working_dir, **options))


class _TraceOnly(Integration):
    name: ClassVar[str] = "claude-code"

    def execute(self, task: Sample, skills: str) -> Any:
        raise UsageError("ClaudeCodeToTrace converts results; use ClaudeCodeExecuteStep to run")

    def to_trace(self, result: Any, task: Sample) -> Any:
        return trace_of(result, task)


class ClaudeCodeToTrace(ToTraceStep):
    """Turns the ``ClaudeCodeResult`` in ``ctx.trace`` into a normalised ``Trace`` (the
    session as format ``claude_code``, with answer and feedback); the result is kept in
    ``metadata["integration_result"]``."""

    provides = frozenset({"trace", "agent_output"})

    def __init__(self, integration: Integration | None = None) -> None:
        super().__init__(integration if integration is not None else _TraceOnly())

    def __call__(self, ctx: ACEStepContext) -> ACEStepContext:
        """Describe the run as a trace; ``agent_output`` (when not set) is its answer, so the
        live ``learning_tail(...)`` follows as well as ``learning_tail(..., from_trace=True)``."""
        out = super().__call__(ctx)
        if out.agent_output is not None or not isinstance(out.trace, Trace):
            return out
        return out.replace(agent_output=AgentOutput(final_answer=out.trace.final_answer or ""))
