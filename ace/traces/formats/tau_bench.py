"""Format ``tau_bench``: a tau-bench results file, one trace per run.

tau-bench (sierra-research/tau-bench, ``tau_bench/run.py``) writes a JSON list of
``EnvRunResult`` records (``tau_bench/types.py``)::

    {task_id, reward, trial, traj: [messages],
     info: {task: {user_id, actions, instruction, outputs}, source, user_cost,
            reward_info: {reward, info, actions}}}

A run that raised has ``info: {error, traceback}`` and an empty ``traj``. A single run
record (say, one per JSONL line) is one trace too.

Each run is a trace with id ``task-<task_id>-trial-<trial>``; its steps are the ``traj``
messages (OpenAI style: ``system`` holds the policy, ``user`` is the simulated user,
``tool`` messages are named after their tool). The react and act agents write their
action into the assistant's text (``Action: {"name": ..., "arguments": ...}``) and get
the tool's answer back as a user message ``API output: ...``; those become a tool call
and a tool result, the result's step named after the tool. The question is the task's
``instruction`` (what the simulated user was told).

Labels, never shown to a reflector: ``reward``, ``info.reward_info`` and the task's
expected ``info.task.actions`` and ``info.task.outputs``.
"""

from __future__ import annotations

import orjson
from pydantic import JsonValue

from ace.errors import TraceFormatError
from ace.traces._json import as_json, describe
from ace.traces.formats._base import (
    Parsed,
    TraceFormat,
    need_record,
    steps_of,
    take_labels,
    text,
)
from ace.traces.schema import ToolCall, ToolResult, TraceStep

LABEL_KEYS = ("reward", "info.reward_info", "info.task.actions", "info.task.outputs")
_ACTION = "Action:"
_API_OUTPUT = "API output: "
_RESPOND = "respond"


def _is_run(value: JsonValue) -> bool:
    return isinstance(value, dict) and "task_id" in value and "traj" in value


def detect(value: JsonValue) -> bool:
    """A run ``{task_id, traj, ...}``, or a non-empty list of them."""
    if isinstance(value, list):
        return bool(value) and all(_is_run(item) for item in value)
    return _is_run(value)


def split(value: JsonValue) -> list[JsonValue] | None:
    """A list of runs is one trace per run; a run alone is one trace."""
    return value if isinstance(value, list) else None


def parse(value: JsonValue) -> Parsed:
    """One run: its messages as steps, its labels taken out."""
    run = need_record(value, "a tau-bench run {task_id, reward, info, traj, trial}")
    record, labels = take_labels(run, LABEL_KEYS)
    traj = record.get("traj")
    if not isinstance(traj, list):
        raise TraceFormatError(f"'traj': expected a list of messages, got {describe(traj)}")
    info = record.get("info")
    task = info.get("task") if isinstance(info, dict) else None
    instruction = task.get("instruction") if isinstance(task, dict) else None
    return Parsed(
        format="tau_bench",
        steps=_with_text_actions(steps_of(traj, "traj")),
        raw=record,
        fields={"question": text(instruction)},
        record_id=_run_id(record),
        labels=labels,
    )


def _run_id(record: dict[str, JsonValue]) -> str | None:
    task_id, trial = record.get("task_id"), record.get("trial")
    if not isinstance(task_id, int | str) or isinstance(task_id, bool):
        return None
    if isinstance(trial, int) and not isinstance(trial, bool):
        return f"task-{task_id}-trial-{trial}"
    return f"task-{task_id}"


def _with_text_actions(steps: list[TraceStep]) -> list[TraceStep]:
    """The react/act agents' actions as tool calls, and the ``API output`` that answers
    one as its tool result."""
    out: list[TraceStep] = []
    pending: str | None = None
    for step in steps:
        if pending is not None and step.role == "user" and step.content.startswith(_API_OUTPUT):
            result = ToolResult(output=step.content[len(_API_OUTPUT) :], name=pending)
            step = step.model_copy(
                update={"agent": pending, "content": "", "tool_results": [result]}
            )
        pending = None
        if step.role == "assistant" and not step.tool_calls:
            call = _text_action(step.content)
            if call is not None:
                step = step.model_copy(update={"tool_calls": [call]})
                pending = call.name
        out.append(step)
    return out


def _text_action(content: str) -> ToolCall | None:
    if _ACTION not in content:
        return None
    try:
        action = orjson.loads(content.rsplit(_ACTION, 1)[1].strip())
    except orjson.JSONDecodeError:
        return None  # the agent wrote no valid action: tau-bench replies with it as text
    if not isinstance(action, dict):
        return None
    name = action.get("name")
    if not isinstance(name, str) or name == _RESPOND:
        return None
    try:
        arguments = as_json(action.get("arguments"))
    except TraceFormatError:
        return None
    return ToolCall(name=name, arguments=arguments)


FORMAT = TraceFormat(
    name="tau_bench",
    accepts="tau-bench results [{task_id, reward, info, traj, trial}]",
    group="specific",
    detect=detect,
    parse=parse,
    split=split,
    label_keys=LABEL_KEYS,
)
