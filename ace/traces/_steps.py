"""Turning one element of a source's step list into a :class:`TraceStep`.

Recognised keys must have the expected type (a wrong type is a TraceFormatError naming
the element); anything unrecognised is kept as JSON text so nothing is silently lost.
Every element yields exactly one step, which keeps indices aligned with the source.
"""

from __future__ import annotations

import json
import re

from pydantic import JsonValue

from ace.errors import TraceFormatError
from ace.traces._json import compact, describe
from ace.traces.schema import ToolCall, ToolResult, TraceStep

_QUALIFIER = re.compile(r"\s*\([^()]*\)\s*$")
_AGENT_KEYS = ("name", "agent", "sender")
_CONTENT_KEYS = ("content", "text", "message", "thought", "reasoning", "log")
_RESULT_KEYS = ("observation", "result", "output")
_TOOL_ROLES = ("tool", "function")
_STEP_KEYS = frozenset(
    {
        *_AGENT_KEYS,
        *_CONTENT_KEYS,
        *_RESULT_KEYS,
        "role",
        "tool_calls",
        "tool_call_id",
        "function_call",
        "action",
        "action_input",
        "tool",
        "tool_input",
    }
)


def agent_from_role(role: str) -> str:
    """``Orchestrator (thought)`` / ``Orchestrator (-> WebSurfer)`` -> ``Orchestrator``.

    Who&When's Magentic-One traces spell the agent in ``role`` with a qualifier, while
    their ``mistake_agent`` labels name the bare agent; stripping it lets them be compared.
    """
    bare = _QUALIFIER.sub("", role)
    return bare or role


def parse_step(item: JsonValue, index: int, where: str) -> TraceStep:
    """One source element as a step: a message/step object, an (action, observation) pair,
    a string, or anything else as JSON text."""
    if isinstance(item, dict):
        return _from_object(item, index, where)
    if isinstance(item, list) and len(item) == 2:
        return _from_pair(item[0], item[1], index, where)
    if isinstance(item, str):
        return TraceStep(index=index, content=item)
    return TraceStep(index=index, content=compact(item))


def _from_object(item: dict[str, JsonValue], index: int, where: str) -> TraceStep:
    if not _STEP_KEYS.intersection(item):
        return TraceStep(index=index, content=compact(item))
    role = _opt_str(item, "role", where)
    agent = next((a for k in _AGENT_KEYS if (a := _opt_str(item, k, where)) is not None), None)
    if agent is None and role is not None:
        agent = agent_from_role(role)
    raw_content = next((item[k] for k in _CONTENT_KEYS if k in item), None)
    content, calls, results = _content(raw_content, f"{where}.content")
    calls += _tool_calls(item, where)
    if "tool" in item and "tool_input" in item:
        calls.append(_action_call(item, where))
    output = next((item[k] for k in _RESULT_KEYS if k in item), None)
    if role in _TOOL_ROLES:
        call_id = _opt_str(item, "tool_call_id", where)
        name = _opt_str(item, "name", where)
        results.append(ToolResult(output=content, name=name, call_id=call_id))
        content = ""
    elif output is not None:
        name = calls[-1].name if len(calls) == 1 else None
        results.append(ToolResult(output=_text(output), name=name))
    return TraceStep(
        index=index,
        content=content,
        role=role,
        agent=agent,
        tool_calls=calls,
        tool_results=results,
        timestamp=timestamp_of(item.get("timestamp")),
    )


def _from_pair(action: JsonValue, observation: JsonValue, index: int, where: str) -> TraceStep:
    """A LangChain ``(AgentAction, observation)`` pair, the action serialised as an object."""
    result = ToolResult(output=_text(observation))
    if isinstance(action, dict) and "tool" in action:
        call = _action_call(action, f"{where}[0]")
        result.name = call.name
        log = action.get("log")
        content = log if isinstance(log, str) else ""
        return TraceStep(index=index, content=content, tool_calls=[call], tool_results=[result])
    content = action if isinstance(action, str) else compact(action)
    return TraceStep(index=index, content=content, tool_results=[result])


def _action_call(item: dict[str, JsonValue], where: str) -> ToolCall:
    name = item.get("tool")
    if not isinstance(name, str):
        raise TraceFormatError(f"{where}.tool: expected the tool's name, got {describe(name)}")
    return ToolCall(name=name, arguments=item.get("tool_input"))


def _tool_calls(item: dict[str, JsonValue], where: str) -> list[ToolCall]:
    calls: list[ToolCall] = []
    listed = item.get("tool_calls")
    if listed is not None:
        if not isinstance(listed, list):
            raise TraceFormatError(f"{where}.tool_calls: expected a list, got {describe(listed)}")
        calls += [_tool_call(c, f"{where}.tool_calls[{i}]") for i, c in enumerate(listed)]
    legacy = item.get("function_call")
    if legacy is not None:
        calls.append(_tool_call(legacy, f"{where}.function_call"))
    action = item.get("action")
    if isinstance(action, str):
        calls.append(ToolCall(name=action, arguments=item.get("action_input")))
    elif isinstance(action, dict):
        calls.append(_action_call(action, f"{where}.action"))
    elif action is not None:
        raise TraceFormatError(
            f"{where}.action: expected a tool name or an action object, got {describe(action)}"
        )
    return calls


def _tool_call(call: JsonValue, where: str) -> ToolCall:
    """OpenAI ``{id, type, function: {name, arguments}}`` or a flat ``{name, arguments}``."""
    if not isinstance(call, dict):
        raise TraceFormatError(f"{where}: expected a tool call object, got {describe(call)}")
    spec = call.get("function", call)
    if not isinstance(spec, dict):
        raise TraceFormatError(f"{where}.function: expected an object, got {describe(spec)}")
    name = spec.get("name")
    if not isinstance(name, str):
        raise TraceFormatError(f"{where}: expected a tool call with a 'name', got {describe(call)}")
    arguments = next((spec[k] for k in ("arguments", "args", "input") if k in spec), None)
    call_id = call.get("id")
    return ToolCall(
        name=name,
        arguments=_decode_arguments(arguments),
        id=call_id if isinstance(call_id, str) else None,
    )


def _decode_arguments(arguments: JsonValue) -> JsonValue:
    if isinstance(arguments, str) and arguments.lstrip().startswith("{"):
        try:
            decoded: JsonValue = json.loads(arguments)
        except (ValueError, RecursionError):
            return arguments
        return decoded
    return arguments


def _content(value: JsonValue, where: str) -> tuple[str, list[ToolCall], list[ToolResult]]:
    """Message content: text, or a list of parts (text, tool_use, tool_result, other)."""
    if value is None:
        return "", [], []
    if not isinstance(value, list):
        return _text(value), [], []
    texts: list[str] = []
    calls: list[ToolCall] = []
    results: list[ToolResult] = []
    for i, part in enumerate(value):
        kind = part.get("type") if isinstance(part, dict) else None
        if isinstance(part, str):
            texts.append(part)
        elif isinstance(part, dict) and kind == "text" and isinstance(part.get("text"), str):
            texts.append(str(part["text"]))
        elif isinstance(part, dict) and kind == "tool_use":
            calls.append(_tool_call(part, f"{where}[{i}]"))
        elif isinstance(part, dict) and kind == "tool_result":
            call_id = part.get("tool_use_id")
            output, _, _ = _content(part.get("content"), f"{where}[{i}].content")
            results.append(
                ToolResult(output=output, call_id=call_id if isinstance(call_id, str) else None)
            )
        else:
            texts.append(compact(part))
    return "\n".join(texts), calls, results


def _text(value: JsonValue) -> str:
    return value if isinstance(value, str) else compact(value)


def timestamp_of(value: JsonValue) -> str | None:
    """A step's time as text; anything other than text or a number is left out (the
    source element keeps it)."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def _opt_str(item: dict[str, JsonValue], key: str, where: str) -> str | None:
    value = item.get(key)
    if value is None or isinstance(value, str):
        return value
    raise TraceFormatError(f"{where}.{key}: expected a string, got {describe(value)}")
