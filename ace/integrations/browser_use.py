"""browser-use: a browser agent that runs with the skills injected, and its history as a trace.

``BrowserExecuteStep(llm)`` runs a ``browser_use.Agent`` on ``ctx.sample.question`` with the
skills appended to its system prompt (``extend_system_message``); ``BrowserToTrace()``
turns the agent's history (``AgentHistoryList``, its saved JSON ``{"history": [...]}``,
or the path of a file written by ``history.save_to_file``) into a ``Trace``; then
``learning_tail(..., from_trace=True)``. The runner is ``ace.BrowserUse``.

Each history item becomes two kinds of steps: the agent's turn (``agent``, role
``assistant``: the page it saw, URL and title, its evaluation of the previous goal, its
memory and next goal, the actions it chose as tool calls) and one step per action
result (role ``tool``, named after the action; ``tool (error)`` when the action
failed), holding what the action extracted or the error. The trace's answer is the
``done`` text; feedback names what went wrong (not finished, reported failure, errors).

The ``browser-use`` extra (``pip install 'ace-rr[browser-use]'``) is needed to run the
agent; reading a recorded history needs nothing. ``browser_use`` is imported when a step
is built, never by importing this module. browser-use's own settings are environment
variables (``ANONYMIZED_TELEMETRY``, ``BROWSER_USE_CLOUD_SYNC``,
``BROWSER_USE_VERSION_CHECK``, ``BROWSER_USE_DISABLE_EXTENSIONS``, ...): set them as you
want them before running.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from ace.environments import Sample
from ace.errors import UsageError
from ace.integrations.base import ExecuteStep, Integration, ToTraceStep
from ace.outputs import AgentOutput
from ace.pipeline import ACEStepContext
from ace.traces import Trace
from ace.traces.schema import ToolCall, TraceStep

INSTALL_HINT = "pip install 'ace-rr[browser-use]'"
"""How to get the ``browser-use`` package."""

__all__ = [
    "BrowserExecuteStep",
    "BrowserToTrace",
    "BrowserUseIntegration",
    "BrowserUseResult",
    "history_trace",
]

_T = TypeVar("_T")


def require_browser_use() -> Any:
    """The ``browser_use`` module; ``UsageError`` naming the extra when it is missing."""
    try:
        import browser_use
    except ImportError as exc:
        raise UsageError(
            f"the browser-use integration needs the browser-use package ({exc}): {INSTALL_HINT}"
        ) from None
    return browser_use


@dataclass
class BrowserUseResult:
    """One browser-use run: the task, the history (saved-JSON shape) and how it ended."""

    task: str
    history: dict[str, Any] = field(default_factory=lambda: {"history": []})
    """``AgentHistoryList.model_dump()``: ``{"history": [{model_output, result, state,
    metadata}, ...]}``."""
    final_result: str | None = None
    success: bool | None = None
    error: str | None = None
    """Why the run itself failed (an exception outside the agent's steps)."""
    sample: Sample | None = None


class BrowserUseIntegration(Integration):
    """browser-use as an ACE integration (module docstring).

    ``llm`` is a browser-use chat model (``browser_use.llm.ChatOpenAI(...)``, ...);
    ``browser`` a ``BrowserSession``/``Browser`` to use, else ``browser_profile`` (a
    ``BrowserProfile``) for a new one per run; ``max_steps`` bounds each run;
    ``agent_options`` are further ``Agent`` keywords (``use_vision``, ``use_judge``, ...);
    ``skills_k`` injects only the k most relevant skills. A run that raises is a failed
    result (learned from).
    """

    name: ClassVar[str] = "browser-use"

    def __init__(
        self,
        llm: Any,
        *,
        browser: Any = None,
        browser_profile: Any = None,
        max_steps: int = 25,
        agent_options: Mapping[str, Any] | None = None,
        skills_k: int | None = None,
    ) -> None:
        module = require_browser_use()
        if llm is None:
            raise UsageError("BrowserUse: pass the browser agent's llm (a browser_use chat model)")
        if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
            raise UsageError(f"BrowserUse: max_steps must be an int >= 1, got {max_steps!r}")
        if browser is not None and browser_profile is not None:
            raise UsageError("BrowserUse: pass browser= or browser_profile=, not both")
        reserved = {"task", "llm", "browser", "browser_session", "browser_profile"}
        clash = sorted(reserved & set(agent_options or {}))
        if clash:
            raise UsageError(f"BrowserUse: agent_options may not set {', '.join(clash)}")
        self._agent_class = module.Agent
        self.llm = llm
        self.browser = browser
        self.browser_profile = browser_profile
        self.max_steps = max_steps
        self.agent_options = dict(agent_options or {})
        self.skills_k = skills_k

    def execute(self, task: Sample, skills: str) -> BrowserUseResult:
        """Run a browser-use ``Agent`` on the task with the skills in its system prompt."""
        result = BrowserUseResult(task=task.question, sample=task)
        options = dict(self.agent_options)
        if skills:
            extra = options.pop("extend_system_message", None)
            options["extend_system_message"] = f"{extra}\n\n{skills}" if extra else skills
        try:
            agent = self._agent_class(
                task=task.question,
                llm=self.llm,
                browser_session=self.browser,
                browser_profile=self.browser_profile,
                **options,
            )
            history = _run(agent.run(max_steps=self.max_steps))
        except UsageError:
            raise
        except Exception as exc:
            result.success, result.error = False, f"{type(exc).__name__}: {exc}"
            return result
        result.history = history.model_dump()
        result.final_result = history.final_result()
        result.success = history.is_successful()
        return result

    def to_trace(self, result: Any, task: Sample) -> Trace:
        """The run's history as a ``Trace`` (format ``browser_use``)."""
        return history_trace(result, question=task.question)


def _run(coroutine: Coroutine[Any, Any, _T]) -> _T:
    """Run ``coroutine`` to completion: in a new event loop, on a thread of its own when
    this thread already runs one."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coroutine)
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, name="ace-browser-use")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    value: _T = box["value"]
    return value


def history_trace(history: Any, *, question: str | None = None) -> Trace:
    """A browser-use history as a ``Trace``: an ``AgentHistoryList``, its saved JSON
    (``{"history": [...]}``, as a dict or the path of a file), or a ``BrowserUseResult``.
    A ``Trace`` is returned as it is."""
    from ace.prompting import render_prompt
    from ace.traces._json import content_hash

    if isinstance(history, Trace):
        return history
    failure: str | None = None
    if isinstance(history, BrowserUseResult):
        question = question or history.task
        failure = history.error
        data: Any = history.history
    elif isinstance(history, str | os.PathLike):
        path = Path(history)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UsageError(
                f"browser-use history {path}: cannot read it as JSON ({exc})"
            ) from None
    elif hasattr(history, "history") and hasattr(history, "model_dump"):
        data = history.model_dump()
    else:
        data = history
    items = data.get("history") if isinstance(data, Mapping) else None
    if not isinstance(items, list) or not all(isinstance(i, Mapping) for i in items):
        raise UsageError(
            "browser-use history: expected an AgentHistoryList or its saved JSON "
            f"{{'history': [{{model_output, result, state, metadata}}, ...]}}, got {type(data).__name__}"
        )
    steps: list[TraceStep] = []
    errors: list[dict[str, Any]] = []
    answer: str | None = None
    done, success = False, None
    for number, item in enumerate(items, start=1):
        steps.append(_agent_step(len(steps), item))
        output = item.get("model_output") or {}
        actions = [a for a in output.get("action") or [] if isinstance(a, Mapping)]
        when = _when(item, "step_end_time")
        for position, outcome in enumerate(item.get("result") or []):
            if not isinstance(outcome, Mapping):
                continue
            name = _action_name(actions[position]) if position < len(actions) else "action"
            error = outcome.get("error")
            if error:
                errors.append({"step": number, "error": " ".join(str(error).split())[:300]})
            text = str(error) if error else str(outcome.get("extracted_content") or "")
            steps.append(
                TraceStep(
                    index=len(steps),
                    role="tool (error)" if error else "tool",
                    agent=name,
                    content=text,
                    timestamp=when,
                )
            )
            if outcome.get("is_done"):
                done, success = True, outcome.get("success")
                answer = str(outcome.get("extracted_content") or "") or answer
    feedback = render_prompt(
        "browser_use_feedback.j2",
        failure=failure or "",
        done=done,
        success=success,
        steps=len(items),
        errors=errors,
    ).strip()
    raw = json.loads(
        json.dumps({"history": [_without(i, "state_message") for i in items]}, default=str)
    )
    return Trace(
        id=content_hash(raw),
        format="browser_use",
        question=question,
        final_answer=answer,
        feedback=feedback or None,
        is_correct=None,
        steps=steps,
        raw=raw,
    )


def _agent_step(index: int, item: Mapping[str, Any]) -> TraceStep:
    state = item.get("state") or {}
    output = item.get("model_output") or {}
    lines = [
        f"page: {state.get('url') or '(none)'}"
        + (f" ({state['title']})" if state.get("title") else "")
    ]
    for key, label in (
        ("thinking", "thinking"),
        ("evaluation_previous_goal", "evaluation of the previous goal"),
        ("memory", "memory"),
        ("next_goal", "next goal"),
    ):
        if output.get(key):
            lines.append(f"{label}: {output[key]}")
    calls = [
        ToolCall(name=_action_name(a), arguments=json.loads(json.dumps(_params(a), default=str)))
        for a in output.get("action") or []
        if isinstance(a, Mapping)
    ]
    if not output:
        lines.append("(no decision: the model's reply was missing or unusable)")
    return TraceStep(
        index=index,
        role="assistant",
        agent="browser_agent",
        content="\n".join(lines),
        tool_calls=calls,
        timestamp=_when(item, "step_start_time"),
    )


def _action_name(action: Mapping[str, Any]) -> str:
    return next(iter(action), "action")


def _params(action: Mapping[str, Any]) -> Any:
    return next(iter(action.values()), None)


def _when(item: Mapping[str, Any], key: str) -> str | None:
    meta = item.get("metadata") or {}
    value = meta.get(key) if isinstance(meta, Mapping) else None
    if not isinstance(value, int | float):
        return None
    return datetime.fromtimestamp(value, UTC).isoformat()


def _without(item: Mapping[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k != key}


class BrowserExecuteStep(ExecuteStep):
    """Runs a browser-use agent on ``ctx.sample`` with the skillbook injected.

    Requires ``sample`` and ``skillbook``; provides ``trace``, a ``BrowserUseResult``
    (``BrowserToTrace`` turns it into a ``Trace``). Arguments as for
    ``BrowserUseIntegration``; without the browser-use package, ``UsageError`` naming
    the extra.
    """

    def __init__(self, llm: Any, **options: Any) -> None:
        super().__init__(BrowserUseIntegration(llm, **options))


class _TraceOnly(Integration):
    name: ClassVar[str] = "browser-use"

    def execute(self, task: Sample, skills: str) -> Any:
        raise UsageError("BrowserToTrace converts histories; use BrowserExecuteStep to run")

    def to_trace(self, result: Any, task: Sample) -> Any:
        return history_trace(result, question=task.question)


class BrowserToTrace(ToTraceStep):
    """Turns the browser-use result (or history) in ``ctx.trace`` into a ``Trace`` (format
    ``browser_use``: pages, decisions, actions, results, errors); the result is kept in
    ``metadata["integration_result"]``. Needs no browser-use package."""

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
