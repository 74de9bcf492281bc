"""Format ``openai_responses``: OpenAI Responses API items.

The Responses API (``openai.types.responses``) keeps a conversation as a list of items,
each with a ``type``: ``message`` (``role``, ``content`` parts ``input_text``,
``output_text``, ``refusal``, ``input_image``, ...), ``reasoning`` (``summary`` parts),
``function_call`` (``name``, ``arguments`` as JSON text, ``call_id``) answered by
``function_call_output`` (``call_id``, ``output``), and the built-in tools' calls and
outputs (``computer_call`` / ``computer_call_output``, ``web_search_call``,
``file_search_call``, ``code_interpreter_call``, ``local_shell_call`` / ``..._output``,
``mcp_call``, ``custom_tool_call`` / ``..._output``, ...). An input message may leave out
``type`` (``{role, content}``). Read here: such a list (what the OpenAI Agents SDK's
``RunResult.to_input_list()`` returns), a request body ``{input: [...]}`` (with the
reply's ``output`` beside it, if kept), or a response ``{object: "response", output}``.

Each item is one step: a message is its role's text; reasoning is a ``reasoning`` step
of the assistant; a call is the assistant's tool call (``computer``, ``web_search``, ...
for the built-in tools, with their ``action`` as arguments); an output is a ``tool`` step
named after the call it answers. A call whose ``status`` is ``failed`` or ``incomplete``,
or that reports an ``error``, is marked ``(error)``. The question is the first user
message. There are no labels.
"""

from __future__ import annotations

from pydantic import JsonValue

from ace.errors import TraceFormatError
from ace.traces._json import describe
from ace.traces.formats._base import Parsed, TraceFormat, record_id
from ace.traces.formats._frameworks import (
    ERROR,
    Mark,
    as_text,
    decoded,
    marked,
    one_of,
    parts_text,
)
from ace.traces.schema import ToolCall, ToolResult, TraceStep

ITEM_TYPES = frozenset(
    {
        "message",
        "reasoning",
        "function_call",
        "function_call_output",
        "computer_call",
        "computer_call_output",
        "web_search_call",
        "file_search_call",
        "image_generation_call",
        "code_interpreter_call",
        "local_shell_call",
        "local_shell_call_output",
        "shell_call",
        "shell_call_output",
        "apply_patch_call",
        "apply_patch_call_output",
        "mcp_call",
        "mcp_list_tools",
        "mcp_approval_request",
        "mcp_approval_response",
        "custom_tool_call",
        "custom_tool_call_output",
        "item_reference",
        "compaction",
    }
)
"""The item types of the Responses API's input and output lists."""

_FAILED = frozenset({"failed", "incomplete"})
_BOOKKEEPING = frozenset({"type", "id", "call_id", "status"})


def _is_item(item: JsonValue) -> bool:
    if not isinstance(item, dict):
        return False
    kind = item.get("type")
    if kind is None:
        return isinstance(item.get("role"), str)
    return one_of(kind, ITEM_TYPES)


def is_item_list(items: JsonValue) -> bool:
    """A list of Responses items, at least one of them typed (an untyped ``{role,
    content}`` list is the generic ``openai_messages``)."""
    return (
        isinstance(items, list)
        and bool(items)
        and all(_is_item(item) for item in items)
        and any(isinstance(item, dict) and "type" in item for item in items)
    )


def _items(value: JsonValue) -> list[JsonValue] | None:
    if isinstance(value, list):
        return value if is_item_list(value) else None
    if not isinstance(value, dict):
        return None
    inputs, outputs = value.get("input"), value.get("output")
    if value.get("object") == "response" and isinstance(outputs, list):
        return outputs if not outputs or is_item_list(outputs) else None
    if is_item_list(inputs):
        assert isinstance(inputs, list)
        if outputs is None:
            return inputs
        if isinstance(outputs, list) and (not outputs or is_item_list(outputs)):
            return inputs + outputs
    return None


def detect(value: JsonValue) -> bool:
    """A list of Responses items (``type``: message, function_call, reasoning, ...), a
    request ``{input: [items]}``, or a response ``{object: "response", output}``."""
    return _items(value) is not None


def parse(value: JsonValue) -> Parsed:
    """One conversation: a step per item."""
    items = _items(value)
    if items is None:
        raise TraceFormatError(
            "expected Responses API items [{type: 'message' | 'function_call' | ...}], "
            f"{{input: [...]}} or {{object: 'response', output}}, got {describe(value)}"
        )
    names: dict[str, str] = {}
    steps = [_step(item, index, names) for index, item in enumerate(items)]
    question = next(
        (
            parts_text(item.get("content"))
            for item in items
            if isinstance(item, dict) and item.get("role") == "user"
        ),
        None,
    )
    return Parsed(
        format="openai_responses",
        steps=steps,
        raw=value,
        fields={"question": question},
        record_id=record_id(value) if isinstance(value, dict) else None,
    )


def _step(item: JsonValue, index: int, names: dict[str, str]) -> TraceStep:
    assert isinstance(item, dict)
    kind = item.get("type")
    if kind is None or kind == "message":
        role = as_text(item.get("role")) or "assistant"
        return TraceStep(
            index=index, role=role, agent=role, content=parts_text(item.get("content"))
        )
    kind = str(kind)
    mark: Mark | None = ERROR if one_of(item.get("status"), _FAILED) or item.get("error") else None
    if kind == "reasoning":
        summary = item.get("summary") or item.get("content")
        return TraceStep(
            index=index, role="reasoning", agent="assistant", content=parts_text(summary)
        )
    if kind.endswith("_output"):
        call_id = item.get("call_id")
        call_id = call_id if isinstance(call_id, str) else None
        name = names.get(call_id or "", kind.removesuffix("_call_output"))
        output = item.get("output")
        text = parts_text(output) if isinstance(output, list) else as_text(output)
        return TraceStep(
            index=index,
            role=marked("tool", mark),
            agent=name,
            tool_results=[ToolResult(output=text, name=name, call_id=call_id)],
        )
    if kind.endswith("_call"):
        call = _call(item, kind)
        if call.id:
            names[call.id] = call.name
        results = []
        if "output" in item or "error" in item:  # built-in tools answer in the call item
            output = item.get("error") or item.get("output")
            results.append(ToolResult(output=as_text(output), name=call.name, call_id=call.id))
        content = f"error: {as_text(item['error'])}" if item.get("error") else ""
        return TraceStep(
            index=index,
            role=marked("assistant", mark),
            agent="assistant",
            content=content,
            tool_calls=[call],
            tool_results=results,
        )
    rest = {k: v for k, v in item.items() if k not in _BOOKKEEPING}
    return TraceStep(index=index, role=kind, agent="assistant", content=as_text(rest))


def _call(item: dict[str, JsonValue], kind: str) -> ToolCall:
    name = item.get("name")
    if not isinstance(name, str):
        name = kind.removesuffix("_call")
    if "arguments" in item:
        arguments = decoded(item["arguments"])
    elif "action" in item:
        arguments = item["action"]
    elif "input" in item:
        arguments = item["input"]
    else:
        arguments = {k: v for k, v in item.items() if k not in _BOOKKEEPING}
    call_id = item.get("call_id", item.get("id"))
    return ToolCall(
        name=name, arguments=arguments, id=call_id if isinstance(call_id, str) else None
    )


FORMAT = TraceFormat(
    name="openai_responses",
    accepts="OpenAI Responses API items [{type: message | function_call | ...}]",
    group="specific",
    detect=detect,
    parse=parse,
)
