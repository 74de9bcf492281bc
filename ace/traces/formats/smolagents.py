"""Format ``smolagents``: a smolagents agent's memory, ``agent.memory.get_full_steps()``.

smolagents (``smolagents/memory.py``) keeps a run as memory steps, dumped by ``dict()``
without their class name, which their keys tell: a ``TaskStep`` ``{task, task_images}``;
a ``PlanningStep`` ``{model_input_messages, model_output_message, plan, timing,
token_usage}``; an ``ActionStep`` ``{step_number, timing, model_input_messages,
tool_calls: [{id, type, function: {name, arguments}}], error: {type, message},
model_output_message, model_output, code_action, observations, observations_images,
action_output, token_usage, is_final_answer}``; and, where a stream's steps were kept,
a ``FinalAnswerStep`` ``{output}``. ``get_succinct_steps()`` is the same without the
model inputs. A record ``{steps: [...]}`` holding such steps is read the same way.

Each memory step is one step: the task is the user's, its text the question; a plan is
the planner's; an action is the agent's model output with its tool calls (a
``CodeAgent``'s code as a call of ``python_interpreter``) and its observations as their
result, marked ``(error)`` when the step recorded an error (the error's type and
message are the call's result when the step has no observations, else they follow the
output); the final answer is the last step and the trace's final
answer. Timestamps are the steps' start times (epoch seconds). The model inputs stay in
``raw`` only: they repeat the earlier steps. There are no labels.
"""

from __future__ import annotations

from pydantic import JsonValue

from ace.errors import TraceFormatError
from ace.traces._json import describe
from ace.traces._steps import timestamp_of
from ace.traces.formats._base import Parsed, TraceFormat, record_id, task_fields
from ace.traces.formats._frameworks import ERROR, Mark, as_text, decoded, marked, parts_text
from ace.traces.schema import ToolCall, ToolResult, TraceStep

_ACTION = frozenset({"step_number", "timing"})
_PLANNING = frozenset({"plan", "timing"})


def _kind(item: JsonValue) -> str | None:
    if not isinstance(item, dict):
        return None
    if item.keys() >= _ACTION and ("model_output" in item or "observations" in item):
        return "action"
    if item.keys() >= _PLANNING:
        return "planning"
    if "task" in item and "task_images" in item:
        return "task"
    if set(item) == {"output"}:
        return "final_answer"
    if "system_prompt" in item and len(item) == 1:
        return "system_prompt"
    return None


def _is_memory(items: JsonValue) -> bool:
    if not isinstance(items, list) or not items:
        return False
    kinds = [_kind(item) for item in items]
    return None not in kinds and ("action" in kinds or "planning" in kinds)


def _steps_list(value: JsonValue) -> list[JsonValue] | None:
    if isinstance(value, dict):
        value = value.get("steps")
    return value if isinstance(value, list) and _is_memory(value) else None


def detect(value: JsonValue) -> bool:
    """A list of memory-step dicts (task, planning, action, final answer) with at least
    one action or planning step, or a record holding one under ``steps``."""
    return _steps_list(value) is not None


def parse(value: JsonValue) -> Parsed:
    """One run: a step per memory step."""
    items = _steps_list(value)
    if items is None:
        raise TraceFormatError(
            "expected smolagents memory steps [{task}, {step_number, timing, model_output, "
            f"...}}, ...], got {describe(value)}"
        )
    steps = [_step(item, index) for index, item in enumerate(items)]
    question = next(
        (as_text(item.get("task")) for item in items if isinstance(item, dict) and "task" in item),
        None,
    )
    final = next(
        (
            as_text(item["output"])
            for item in reversed(items)
            if _kind(item) == "final_answer" and isinstance(item, dict)
        ),
        None,
    )
    if final is None:
        final = next(
            (
                as_text(item.get("action_output"))
                for item in reversed(items)
                if isinstance(item, dict) and item.get("is_final_answer") is True
            ),
            None,
        )
    fields = task_fields(value) if isinstance(value, dict) else {}
    fields.update({"question": fields.get("question") or question, "final_answer": final})
    return Parsed(
        format="smolagents",
        steps=steps,
        raw=value,
        fields=fields,
        record_id=record_id(value) if isinstance(value, dict) else None,
    )


def _step(item: JsonValue, index: int) -> TraceStep:
    assert isinstance(item, dict)
    kind = _kind(item)
    started = item.get("timing")
    timestamp = timestamp_of(started.get("start_time")) if isinstance(started, dict) else None
    if kind == "task":
        return TraceStep(index=index, role="user", agent="user", content=as_text(item["task"]))
    if kind == "system_prompt":
        return TraceStep(
            index=index, role="system", agent="system", content=as_text(item["system_prompt"])
        )
    if kind == "final_answer":
        return TraceStep(
            index=index, role="final_answer", agent="agent", content=as_text(item["output"])
        )
    if kind == "planning":
        return TraceStep(
            index=index,
            role="planning",
            agent="agent",
            content=as_text(item.get("plan")),
            timestamp=timestamp,
        )
    return _action(item, index, timestamp)


def _action(item: dict[str, JsonValue], index: int, timestamp: str | None) -> TraceStep:
    output = item.get("model_output")
    if output is None and isinstance(item.get("model_output_message"), dict):
        message = item["model_output_message"]
        assert isinstance(message, dict)
        output = message.get("content")
    content = parts_text(output) if isinstance(output, list) else as_text(output)
    listed = item.get("tool_calls")
    calls = [_call(c) for c in (listed if isinstance(listed, list) else []) if isinstance(c, dict)]
    results: list[ToolResult] = []
    observations = item.get("observations")
    if observations is not None:
        name = calls[0].name if len(calls) == 1 else None
        call_id = calls[0].id if len(calls) == 1 else None
        results.append(ToolResult(output=as_text(observations), name=name, call_id=call_id))
    error = item.get("error")
    mark: Mark | None = None
    if error:
        mark = ERROR
        failure = f"error: {_error_text(error)}"
        if calls and not results:  # the call itself failed: the error is its result
            results.append(ToolResult(output=failure, name=calls[0].name, call_id=calls[0].id))
        else:
            content = "\n".join(filter(None, [content, failure]))
    return TraceStep(
        index=index,
        role=marked("assistant", mark),
        agent="agent",
        content=content,
        tool_calls=calls,
        tool_results=results,
        timestamp=timestamp,
    )


def _call(call: dict[str, JsonValue]) -> ToolCall:
    spec = call.get("function")
    spec = spec if isinstance(spec, dict) else call
    call_id = call.get("id")
    return ToolCall(
        name=as_text(spec.get("name")) or "tool",
        arguments=decoded(spec.get("arguments")),
        id=call_id if isinstance(call_id, str) else None,
    )


def _error_text(error: JsonValue) -> str:
    if isinstance(error, dict):
        kind, message = as_text(error.get("type")), as_text(error.get("message"))
        return f"{kind}: {message}" if kind else message
    return as_text(error)


FORMAT = TraceFormat(
    name="smolagents",
    accepts="smolagents memory steps (agent.memory.get_full_steps())",
    group="specific",
    detect=detect,
    parse=parse,
)
