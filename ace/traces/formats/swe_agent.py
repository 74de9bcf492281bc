"""Format ``swe_agent``: a SWE-agent trajectory, the ``.traj`` file of one instance.

SWE-agent (``sweagent/agent/agents.py``, ``sweagent/types.py``) saves ``{trajectory,
history, info, replay_config, environment}``: ``trajectory`` is a list of
``TrajectoryStep`` ``{thought, action, observation, response, state, execution_time,
query, extra_info}`` (older versions: ``{action, observation, response, state,
thought}``), ``history`` the messages sent to the model (``{role, content, agent,
message_type, thought, action, tool_calls, tool_call_ids, is_demo}``), and ``info`` the
``AgentInfo`` ``{exit_status, submission, model_stats, edited_files30, ...}``. A run with
a retry loop also holds every attempt under ``attempts`` and, in ``info``, the
reviewer's or chooser's verdict.

Each trajectory step is one step of the agent: its thought, its action as a tool call
and the observation as the call's result. The call is the function call the model made
for that action, as ``history`` shows it (``bash``, ``str_replace_editor``, ``submit``
with their arguments and call id); an agent that writes its actions as text has none,
and the call is named by the action's first word with the whole command as argument. The question is
the first user message of ``history`` that is not a demonstration; the final answer is
``info.submission`` (the patch). ``info.exit_status`` (``submitted``, ``exit_cost``,
``exit_format``, ``exit_error``, ...) and ``info.model_stats`` stay in ``raw``: they are
what happened to the agent, not a verdict on its work.

Labels, never shown to a reflector: the verdicts, ``info.review`` (the reviewer's
``ReviewerResult``), ``info.chooser``, ``info.best_attempt_idx`` and
``info.rloop_model_stats``, and ``attempts`` (the other attempts, each with its own
review). Test results are not in a ``.traj`` (SWE-bench's harness writes them apart);
``tests_status``, ``resolved`` or ``report`` merged into ``info`` are taken out too.
"""

from __future__ import annotations

from pydantic import JsonValue

from ace.errors import TraceFormatError
from ace.traces._json import describe
from ace.traces.formats._base import Parsed, TraceFormat, need_record, take_labels, text
from ace.traces.formats._frameworks import as_text, decoded, parts_text
from ace.traces.schema import ToolCall, ToolResult, TraceStep

LABEL_KEYS = (
    "info.review",
    "info.chooser",
    "info.best_attempt_idx",
    "info.rloop_model_stats",
    "info.tests_status",
    "info.resolved",
    "info.report",
    "attempts",
)
"""Verdicts on the run (the reviewer's, the chooser's, test results) and the other
attempts, by dotted path."""


def detect(value: JsonValue) -> bool:
    """A record with a ``trajectory`` list and an ``info`` object."""
    return (
        isinstance(value, dict)
        and isinstance(value.get("trajectory"), list)
        and isinstance(value.get("info"), dict)
    )


def parse(value: JsonValue) -> Parsed:
    """One instance's run: a step per trajectory step."""
    record = need_record(value, "a SWE-agent trajectory {trajectory, history, info}")
    record, labels = take_labels(record, LABEL_KEYS)
    trajectory = record.get("trajectory")
    if not isinstance(trajectory, list):
        raise TraceFormatError(
            f"'trajectory': expected a list of steps, got {describe(trajectory)}"
        )
    calls = _history_calls(record.get("history"))
    steps = [_step(item, index, calls) for index, item in enumerate(trajectory)]
    info = record.get("info")
    submission = info.get("submission") if isinstance(info, dict) else None
    return Parsed(
        format="swe_agent",
        steps=steps,
        raw=record,
        fields={"question": _question(record.get("history")), "final_answer": text(submission)},
        labels=labels,
    )


def _step(item: JsonValue, index: int, history: list[tuple[str, ToolCall]]) -> TraceStep:
    if not isinstance(item, dict):
        raise TraceFormatError(
            f"trajectory[{index}]: expected a step {{thought, action, observation}}, got "
            f"{describe(item)}"
        )
    action = as_text(item.get("action")).strip()
    thought = as_text(item.get("thought") if "thought" in item else item.get("response"))
    calls = [_call(action, history)] if action else []
    results = []
    if "observation" in item:
        name, call_id = (calls[0].name, calls[0].id) if calls else (None, None)
        results.append(ToolResult(output=as_text(item["observation"]), name=name, call_id=call_id))
    return TraceStep(
        index=index,
        role="assistant",
        agent="agent",
        content=thought.strip(),
        tool_calls=calls,
        tool_results=results,
    )


def _call(action: str, history: list[tuple[str, ToolCall]]) -> ToolCall:
    """The function call the model made for ``action`` (the first unused one of
    ``history`` with the same action), else the action named by its first word."""
    for position, (written, call) in enumerate(history):
        if written == action:
            del history[: position + 1]
            return call
    return ToolCall(name=action.split(None, 1)[0], arguments=action)


def _history_calls(history: JsonValue) -> list[tuple[str, ToolCall]]:
    """The function calls of the agent's messages in ``history``, with their action."""
    calls: list[tuple[str, ToolCall]] = []
    for message in history if isinstance(history, list) else []:
        if not isinstance(message, dict) or message.get("is_demo"):
            continue
        listed = message.get("tool_calls")
        action = message.get("action")
        if not (isinstance(listed, list) and len(listed) == 1 and isinstance(action, str)):
            continue
        call = listed[0]
        spec = call.get("function") if isinstance(call, dict) else None
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            continue
        call_id = call.get("id") if isinstance(call, dict) else None
        calls.append(
            (
                action.strip(),
                ToolCall(
                    name=str(spec["name"]),
                    arguments=decoded(spec.get("arguments")),
                    id=call_id if isinstance(call_id, str) else None,
                ),
            )
        )
    return calls


def _question(history: JsonValue) -> str | None:
    for message in history if isinstance(history, list) else []:
        if (
            isinstance(message, dict)
            and message.get("role") == "user"
            and not message.get("is_demo")
        ):
            return parts_text(message.get("content"))
    return None


FORMAT = TraceFormat(
    name="swe_agent",
    accepts="SWE-agent .traj files {trajectory, history, info}",
    group="specific",
    detect=detect,
    parse=parse,
    label_keys=LABEL_KEYS,
)
