"""What a span says, by the attribute conventions of the tools that write OpenTelemetry
traces of agents (used by the ``otel`` format).

- OpenTelemetry GenAI semantic conventions: ``gen_ai.operation.name`` (``chat``,
  ``execute_tool``, ``invoke_agent``, ...), ``gen_ai.request.model``,
  ``gen_ai.input.messages`` / ``gen_ai.output.messages`` / ``gen_ai.system_instructions``
  (messages of typed parts: ``text``, ``tool_call``, ``tool_call_response``), the older
  events (``gen_ai.content.prompt`` / ``gen_ai.content.completion`` holding
  ``gen_ai.prompt`` / ``gen_ai.completion``; ``gen_ai.user.message`` ... ``gen_ai.choice``)
  and the indexed ``gen_ai.prompt.N.*`` / ``gen_ai.completion.N.*`` attributes,
  ``gen_ai.tool.name``, ``gen_ai.tool.call.id``, ``gen_ai.tool.call.arguments`` /
  ``.result``, ``gen_ai.agent.name``, ``error.type``;
- OpenInference (Phoenix, Arize): ``openinference.span.kind``,
  ``llm.input_messages.N.message.role`` / ``.content`` / ``.contents.M.message_content.text``
  / ``.tool_calls.K.tool_call.function.name`` / ``.arguments`` / ``.id``,
  ``llm.output_messages...``, ``llm.model_name``, ``tool.name``, ``tool.parameters``,
  ``tool_call.id``, ``input.value``, ``output.value``, ``agent.name`` (also as nested
  lists, as Phoenix's span export gives them);
- Langfuse: ``langfuse.observation.type`` / ``.input`` / ``.output`` / ``.level`` /
  ``.status_message`` / ``.model.name``, ``langfuse.trace.input`` / ``.output``;
- Logfire: ``logfire.msg`` (a span's message), and older releases' ``request_data`` /
  ``response_data`` and pydantic-ai's ``events`` / ``tool_arguments`` / ``tool_response``
  / ``final_result`` / ``agent_name``.

JSON-encoded attribute values (Logfire and Langfuse encode structures as text) are
decoded where a structure is expected.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import compress, count
from operator import ne
from typing import Any, NamedTuple

import orjson
from pydantic import JsonValue

from ace.traces._json import compact
from ace.traces._steps import parse_step
from ace.traces.schema import ToolCall, ToolResult, TraceStep, built

OI_KIND = "openinference.span.kind"
_OPERATIONS = {
    "chat": "llm",
    "text_completion": "llm",
    "generate_content": "llm",
    "execute_tool": "tool",
    "invoke_agent": "agent",
    "create_agent": "agent",
    "embeddings": "embedding",
    "retrieval": "retriever",
    "invoke_workflow": "chain",
}
_LOWER = {
    kind: kind.lower()
    for kind in ("LLM", "TOOL", "AGENT", "CHAIN", "RETRIEVER", "EMBEDDING", "RERANKER", "GUARDRAIL")
}
"""OpenInference's usual span kinds in lower case, not made anew per span."""
_LANGFUSE_TYPES = {"generation": "llm", "event": "event"}
_TEXT_KEYS = frozenset({"input", "question", "query", "output", "answer", "result", "text"})
_INPUT_KEYS = ("input.value", "langfuse.observation.input", "langfuse.trace.input")
_OUTPUT_KEYS = (
    "output.value",
    "langfuse.observation.output",
    "langfuse.trace.output",
    "final_result",
)
_AGENT_KEYS = ("gen_ai.agent.name", "agent.name", "agent_name")
_TOOL_NAME_KEYS = ("gen_ai.tool.name", "tool.name", "tool_call.function.name")
_ARGUMENT_KEYS = (
    "gen_ai.tool.call.arguments",
    "tool_call.function.arguments",
    "tool_arguments",
    "input.value",
    "langfuse.observation.input",
    "tool.parameters",
)
_CALL_ID_KEYS = ("gen_ai.tool.call.id", "tool_call.id", "tool.id")
_RESULT_KEYS = (
    "gen_ai.tool.call.result",
    "tool_response",
    "output.value",
    "langfuse.observation.output",
)
_LLM_KEYS = ("gen_ai.request.model", "llm.model_name", "gen_ai.input.messages", "request_data")
_MESSAGE_EVENTS = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}


Message = tuple[str, str, Sequence[ToolCall]]
"""One message an LLM call read or wrote: its role, its text and the tool calls it asks
for. A plain tuple: LLM spans list every message of the conversation so far, and a
``NamedTuple`` would be several times dearer to make."""


@dataclass(slots=True)
class SpanView:
    """What one span says, whatever convention it was written in."""

    kind: str
    name: str
    agent: str | None = None
    timestamp: str | None = None
    inputs: list[Message] = field(default_factory=list)
    outputs: list[Message] = field(default_factory=list)
    input_text: str | None = None
    output_text: str | None = None
    tool: ToolCall | None = None
    tool_result: str | None = None
    errors: list[str] = field(default_factory=list)


def read_span(record: dict[str, JsonValue], timestamp: str | None = None) -> SpanView:
    """The view of one normalised span record (see ``ace.traces.formats.otel``) that
    started at ``timestamp``."""
    attrs = record.get("attributes")
    if not isinstance(attrs, dict):
        attrs = {}
    listed = record.get("events")
    events = [e for e in listed if isinstance(e, dict)] if isinstance(listed, list) else []
    name = record.get("name")
    if not isinstance(name, str):
        name = ""
    kind = _kind(attrs)
    view = SpanView(kind, name, _agent(attrs, kind, name), timestamp)
    if kind == "llm":
        view.inputs, view.outputs = _llm_messages(attrs, events)
    elif kind == "tool":
        view.tool, view.tool_result = _tool(attrs, name)
    if kind == "tool" or (kind == "llm" and view.inputs and view.outputs):
        # what they did is in their messages or call (OpenInference's input.value of an
        # LLM span is the whole request again)
        view.errors = _errors(record, attrs, events)
        return view
    view.input_text = _plain_text(_first_of(attrs, _INPUT_KEYS))
    view.output_text = _plain_text(_first_of(attrs, _OUTPUT_KEYS))
    if kind == "retriever" and view.output_text is None:
        view.output_text = _documents(attrs)
    if kind == "agent" and view.input_text is None:
        view.input_text = _joined(_semconv_messages(attrs.get("gen_ai.input.messages")))
    if kind == "agent" and view.output_text is None:
        view.output_text = _joined(_semconv_messages(attrs.get("gen_ai.output.messages")))
    if view.input_text is None and view.output_text is None and kind != "llm":
        message = _str(attrs.get("logfire.msg"))
        if message:
            view.name = message
    view.errors = _errors(record, attrs, events)
    return view


def steps(views: list[SpanView], agents: list[str | None]) -> list[TraceStep]:
    """One step per span view; LLM inputs shown only where they add to what that agent's
    previous LLM call saw."""
    seen: dict[str | None, list[Message]] = {}
    out: list[TraceStep] = []
    for index, (view, agent) in enumerate(zip(views, agents, strict=True)):
        kind, tool = view.kind, view.tool
        calls: list[ToolCall] = []
        results: list[ToolResult] = []
        if kind == "llm":
            lines, calls = _llm_lines(view, seen.get(agent, []))
            seen[agent] = view.inputs + view.outputs
        elif kind == "tool":
            lines = []
            if tool is not None:
                calls = [tool]
                if view.tool_result is not None:
                    result = {"output": view.tool_result, "name": tool.name, "call_id": tool.id}
                    results = [built(ToolResult, result)]
        else:
            lines = [f"(input) {view.input_text}"] if view.input_text is not None else []
            if view.output_text is not None:
                lines.append(f"(output) {view.output_text}")
            if not lines:
                lines = [view.name]
        if view.errors:
            lines += [f"error: {error}" for error in view.errors]
        step = {
            "index": index,
            "content": "\n".join(lines),
            "role": f"{kind} (error)" if view.errors else kind,
            "agent": agent or (tool.name if tool is not None else None),
            "tool_calls": calls,
            "tool_results": results,
            "timestamp": view.timestamp,
        }
        out.append(built(TraceStep, step))
    return out


def first_user_text(views: list[SpanView]) -> str | None:
    """The first user message any LLM call read."""
    for view in views:
        for role, text, _ in view.inputs:
            if role == "user" and text:
                return text
    return None


def _llm_lines(view: SpanView, before: list[Message]) -> tuple[list[str], list[ToolCall]]:
    inputs, outputs = view.inputs, view.outputs
    lines = [f"(input) {role}: {text}" for role, text, _ in inputs[_shared(inputs, before) :]]
    if not inputs and view.input_text is not None:
        lines.append(f"(input) {view.input_text}")
    calls: list[ToolCall] = []
    for _, text, found in outputs:  # mostly one: a loop, cheaper than comprehensions
        if text:
            lines.append(text)
        calls += found
    if not outputs and view.output_text is not None:
        lines.append(view.output_text)
    return lines, calls


def _shared(inputs: list[Message], before: list[Message]) -> int:
    """How many of ``inputs``, from the first, are those of ``before`` (the same role and
    text)."""
    # the messages that differ at all found in C, and only those compared in Python
    for i in compress(count(), map(ne, inputs, before)):
        if inputs[i][:2] != before[i][:2]:
            return i
    return min(len(inputs), len(before))


# ---------------------------------------------------------------- kinds and names


def _kind(attrs: dict[str, JsonValue]) -> str:
    kind = attrs.get(OI_KIND)
    if isinstance(kind, str) and kind:
        return _LOWER.get(kind) or kind.lower()
    operation = _str(attrs.get("gen_ai.operation.name"))
    if operation:
        return _OPERATIONS.get(operation, operation)
    observation = _str(attrs.get("langfuse.observation.type"))
    if observation:
        return _LANGFUSE_TYPES.get(observation, observation)
    if "gen_ai.tool.name" in attrs:
        return "tool"
    if any(key in attrs for key in _LLM_KEYS):
        return "llm"
    return "span"


def _agent(attrs: dict[str, JsonValue], kind: str, name: str) -> str | None:
    agent = _first_of(attrs, _AGENT_KEYS)
    if isinstance(agent, str) and agent:
        return agent
    if kind == "agent":
        return name.removeprefix("invoke_agent ").removeprefix("create_agent ") or None
    return None


def _tool(attrs: dict[str, JsonValue], span_name: str) -> tuple[ToolCall, str | None]:
    name = _first_of(attrs, _TOOL_NAME_KEYS)
    if not isinstance(name, str) or not name:
        name = span_name.removeprefix("execute_tool ").removeprefix("running tool ") or "tool"
    arguments = _first_of(attrs, _ARGUMENT_KEYS)
    call_id = _first_of(attrs, _CALL_ID_KEYS)
    result = _first_of(attrs, _RESULT_KEYS)
    decoded = decoded_arguments(arguments)
    values: dict[str, Any] = {
        "name": name,
        "arguments": decoded,
        "id": str(call_id) if isinstance(call_id, (str, int)) and call_id != "" else None,
    }
    if decoded is arguments and isinstance(decoded, (dict, list)):
        # validation copies a list or object, as the trace's record keeps this one
        return ToolCall(**values), _text_of(result)
    return built(ToolCall, values), _text_of(result)


def _errors(
    record: dict[str, JsonValue], attrs: dict[str, JsonValue], events: list[dict[str, JsonValue]]
) -> list[str]:
    failed = record.get("status") == "ERROR" or attrs.get("langfuse.observation.level") == "ERROR"
    if not events and not failed:
        return []
    errors: list[str] = []
    for event in events:
        if event.get("name") != "exception":
            continue
        event_attrs = _dict(event.get("attributes"))
        kind = _str(event_attrs.get("exception.type"))
        message = _str(event_attrs.get("exception.message"))
        text = ": ".join(part for part in (kind, message) if part)
        if text:
            errors.append(text)
    if failed:
        for message in (
            _str(record.get("status_message")),
            _str(attrs.get("langfuse.observation.status_message")),
        ):
            if message and not any(message in error for error in errors):
                errors.append(message)
        error_type = _str(attrs.get("error.type"))
        if error_type and not any(error_type in error for error in errors):
            errors = [f"{error_type}: {error}" for error in errors] or [error_type]
        if not errors:
            errors.append("the span ended with status ERROR")
    return errors


# ---------------------------------------------------------------- messages


def _llm_messages(
    attrs: dict[str, JsonValue], events: list[dict[str, JsonValue]]
) -> tuple[list[Message], list[Message]]:
    details: dict[str, JsonValue] = {}
    for event in events:
        if event.get("name") == "gen_ai.client.inference.operation.details":
            details = _dict(event.get("attributes"))
            break
    for source in (attrs, details) if details else (attrs,):
        if "gen_ai.input.messages" in source or "gen_ai.output.messages" in source:
            inputs = _instructions(source.get("gen_ai.system_instructions"))
            inputs += _semconv_messages(source.get("gen_ai.input.messages"))
            return inputs, _semconv_messages(source.get("gen_ai.output.messages"))
    inputs = _indexed_messages(attrs, "llm.input_messages", calls=False)
    outputs = _indexed_messages(attrs, "llm.output_messages")
    if inputs or outputs:
        return inputs, outputs
    inputs = _indexed_messages(attrs, "gen_ai.prompt", calls=False)
    outputs = _indexed_messages(attrs, "gen_ai.completion")
    if inputs or outputs:
        return inputs, outputs
    listed = events
    pydantic_ai_events = _decoded(attrs.get("events"))
    if isinstance(pydantic_ai_events, list):
        listed = [
            {"name": item.get("event.name"), "attributes": item}
            for item in pydantic_ai_events
            if isinstance(item, dict)
        ] + events
    inputs, outputs = _event_messages(listed)
    if inputs or outputs:
        return inputs, outputs
    if "langfuse.observation.input" in attrs or "langfuse.observation.output" in attrs:
        return (
            _openai_messages(attrs.get("langfuse.observation.input"), "user"),
            _openai_messages(attrs.get("langfuse.observation.output"), "assistant"),
        )
    request = _decoded(attrs.get("request_data"))
    response = _decoded(attrs.get("response_data"))
    if isinstance(request, dict) or isinstance(response, dict):
        return (
            _openai_messages(
                request.get("messages") if isinstance(request, dict) else None, "user"
            ),
            _openai_messages(
                response.get("message") if isinstance(response, dict) else None, "assistant"
            ),
        )
    return [], []


def _instructions(value: JsonValue) -> list[Message]:
    parts = _decoded(value)
    if parts is None:
        return []
    text, _ = _parts(parts if isinstance(parts, list) else [parts])
    return [("system", text, ())] if text else []


def _semconv_messages(value: JsonValue) -> list[Message]:
    """GenAI messages ``[{role, parts: [...]}]`` (OpenAI-style ones are read too)."""
    items = _decoded(value)
    if items is None:
        return []
    if not isinstance(items, list):
        items = [items]
    messages: list[Message] = []
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("parts"), list):
            text, calls = _parts(item["parts"])  # type: ignore[arg-type]
            messages.append((_str(item.get("role")) or "user", text, calls))
        else:
            messages += _openai_messages(item, "user")
    return messages


def _parts(parts: list[JsonValue]) -> tuple[str, list[ToolCall]]:
    texts: list[str] = []
    calls: list[ToolCall] = []
    for part in parts:
        if isinstance(part, str):
            texts.append(part)
            continue
        if not isinstance(part, dict):
            texts.append(compact(part))
            continue
        kind = part.get("type")
        if kind == "tool_call":
            call_id = part.get("id")
            calls.append(
                ToolCall(
                    name=_str(part.get("name")) or "tool",
                    arguments=decoded_arguments(part.get("arguments")),
                    id=call_id if isinstance(call_id, str) else None,
                )
            )
        elif kind == "tool_call_response":
            texts.append(_text_of(part.get("response", part.get("result"))) or "")
        elif isinstance(part.get("content"), str):
            texts.append(str(part["content"]))
        elif isinstance(part.get("text"), str):
            texts.append(str(part["text"]))
        else:
            texts.append(compact(part))
    return "\n".join(text for text in texts if text), calls


def _openai_messages(value: JsonValue, default_role: str) -> list[Message]:
    """OpenAI-style messages (a list, one message, ``{messages}``, or text)."""
    value = _decoded(value)
    if value is None:
        return []
    if isinstance(value, dict) and isinstance(value.get("messages"), list):
        value = value["messages"]
    items = value if isinstance(value, list) else [value]
    messages: list[Message] = []
    for i, item in enumerate(items):
        if isinstance(item, dict) and ("role" in item or "content" in item or "tool_calls" in item):
            step = parse_step(item, i, f"message[{i}]")
            results = "\n".join(result.output for result in step.tool_results)
            role = step.role or default_role
            messages.append((role, step.content or results, step.tool_calls))
        elif item is not None:
            messages.append((default_role, _text_of(item) or "", ()))
    return messages


def _indexed_messages(
    attrs: dict[str, JsonValue], prefix: str, *, calls: bool = True
) -> list[Message]:
    """OpenInference's ``prefix.N.message.*`` (or OpenLLMetry's ``prefix.N.*``) messages,
    or the same as a structured value at ``prefix``; their tool calls only when ``calls``
    (an LLM call's input shows its history as text)."""
    if isinstance(attrs.get(prefix), (list, dict)):
        return _nested_messages(attrs, prefix, calls)
    keys = _message_keys(attrs, prefix)
    messages: list[Message] = []
    append, get = messages.append, attrs.get
    start = 0
    while True:
        for role, content in zip(map(get, keys.roles), map(get, keys.contents), strict=True):
            if (
                not calls
                and isinstance(content, str)
                and content
                and isinstance(role, str)
                and role
            ):
                append((role, content, ()))  # the usual message of an input, made at once
                continue
            i = len(messages) - start
            if isinstance(content, str) and content:
                text = content
            elif (
                role is None
                and content is None
                and keys.texts[i] not in attrs
                and keys.calls[i] not in attrs
                and keys.flat_calls[i] not in attrs
            ):  # no role, content, contents or tool calls: the messages have ended
                return messages
            else:
                text = (content if isinstance(content, str) else _text_of(content)) or (
                    _contents(attrs, keys.bases[i] + "contents.")
                )
            if not isinstance(role, str) or not role:
                role = "user"
            if not calls:
                append((role, text, ()))
            elif keys.calls[i] in attrs or keys.flat_calls[i] in attrs:
                append((role, text, _indexed_calls(attrs, keys.bases[i] + "tool_calls.")))
            else:
                append((role, text, []))
        # more messages than keys are kept for
        start = len(messages)
        keys = _made_keys(prefix, keys.segment, start, start + _KEYS_KEPT)


_KEYS_KEPT = 256
"""How many messages' attribute keys are kept per prefix (beyond, they are made anew)."""


class _MessageKeys(NamedTuple):
    """Message after message, its attribute keys: where they start (``{prefix}.{N}.
    {segment}``), the role, the content, the first text of its contents, and the first
    keys of its tool calls (OpenInference's, and OpenLLMetry's)."""

    segment: str
    bases: tuple[str, ...]
    roles: tuple[str, ...]
    contents: tuple[str, ...]
    texts: tuple[str, ...]
    calls: tuple[str, ...]
    flat_calls: tuple[str, ...]


_MESSAGE_KEYS: dict[str, tuple[_MessageKeys, _MessageKeys]] = {}


def _message_keys(attrs: dict[str, JsonValue], prefix: str) -> _MessageKeys:
    """The keys of the messages at ``prefix`` that ``attrs`` may hold: OpenInference's
    (segment ``message.``) when it holds the first one's role, else OpenLLMetry's. Made
    once per prefix, not per span, for as many messages as the largest ``attrs`` so far
    may hold (at most ``_KEYS_KEPT``): an LLM span lists every message of the
    conversation so far. Grown by replacing them whole, so that a reader in another
    thread never sees them half made."""
    # a message has an attribute at least, and one more ends them
    size = min(len(attrs) + 1, _KEYS_KEPT)
    kept = _MESSAGE_KEYS.get(prefix)
    if kept is None or len(kept[0].bases) < size:
        size = max(size, 16)
        kept = (_made_keys(prefix, "message.", 0, size), _made_keys(prefix, "", 0, size))
        _MESSAGE_KEYS[prefix] = kept
    return kept[0] if kept[0].roles[0] in attrs else kept[1]


def _made_keys(prefix: str, segment: str, start: int, stop: int) -> _MessageKeys:
    """The keys of messages ``start`` to ``stop`` (excluded)."""
    bases = tuple(f"{prefix}.{i}.{segment}" for i in range(start, stop))
    return _MessageKeys(
        segment,
        bases,
        tuple(base + "role" for base in bases),
        tuple(base + "content" for base in bases),
        tuple(base + "contents.0.message_content.text" for base in bases),
        tuple(base + "tool_calls.0.tool_call.function.name" for base in bases),
        tuple(base + "tool_calls.0.name" for base in bases),
    )


def _contents(attrs: dict[str, JsonValue], base: str) -> str:
    texts: list[str] = []
    for j in count():
        text = attrs.get(f"{base}{j}.message_content.text")
        if text is None and f"{base}{j}.message_content.type" not in attrs:
            break
        if isinstance(text, str):
            texts.append(text)
    return "\n".join(texts)


def _indexed_calls(attrs: dict[str, JsonValue], base: str) -> list[ToolCall]:
    calls: list[ToolCall] = []
    for k in count():
        at = f"{base}{k}.tool_call."
        name = attrs.get(at + "function.name")
        if name is None:
            at = f"{base}{k}."
            name = attrs.get(at + "name")
        if not isinstance(name, str):
            break
        arguments = attrs.get(at + "function.arguments", attrs.get(at + "arguments"))
        call_id = attrs.get(at + "id")
        calls.append(
            ToolCall(
                name=name,
                arguments=decoded_arguments(arguments),
                id=call_id if isinstance(call_id, str) else None,
            )
        )
    return calls


def _nested_messages(attrs: dict[str, JsonValue], prefix: str, calls: bool) -> list[Message]:
    """Messages given as a list of objects (``{"message.role": ...}`` or ``{"message":
    {"role": ...}}``), as Phoenix's span export nests them."""
    flat: dict[str, JsonValue] = {}
    _flatten(attrs[prefix], f"{prefix}.", flat)
    if f"{prefix}.0.message.role" not in flat and f"{prefix}.0.role" not in flat:
        return []
    return _indexed_messages(flat, prefix, calls=calls)


def _event_messages(events: list[dict[str, JsonValue]]) -> tuple[list[Message], list[Message]]:
    inputs: list[Message] = []
    outputs: list[Message] = []
    for event in events:
        name = event.get("name")
        attrs = _dict(event.get("attributes"))
        if name == "gen_ai.content.prompt":
            inputs += _openai_messages(attrs.get("gen_ai.prompt"), "user")
        elif name == "gen_ai.content.completion":
            outputs += _openai_messages(attrs.get("gen_ai.completion"), "assistant")
        elif isinstance(name, str) and name in _MESSAGE_EVENTS:
            body = _decoded(attrs.get("gen_ai.event.content")) or {
                key: value for key, value in attrs.items() if key != "event.name"
            }
            if isinstance(body, dict):
                body = {"role": _MESSAGE_EVENTS[name], **body}
            inputs += _openai_messages(body, _MESSAGE_EVENTS[name])
        elif name == "gen_ai.choice":
            body = _decoded(attrs.get("gen_ai.event.content")) or attrs
            message = body.get("message", body) if isinstance(body, dict) else body
            outputs += _openai_messages(message, "assistant")
    return inputs, outputs


# ---------------------------------------------------------------- values


def _flatten(value: JsonValue, prefix: str, out: dict[str, JsonValue]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(item, f"{prefix}{key}.", out)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _flatten(item, f"{prefix}{i}.", out)
    else:
        out[prefix[:-1]] = value


def _decoded(value: JsonValue) -> JsonValue:
    """A JSON-encoded structure (a string starting with ``[`` or ``{``) decoded."""
    if isinstance(value, str) and value[:1] in ("[", "{"):
        try:
            return json_loads(value)
        except (ValueError, RecursionError):
            return value
    return value


_LONG_DIGITS = re.compile(r"[0-9]{19}")
"""19 digits in a row: maybe an integer orjson cannot hold (beyond 64 bits it makes it a
float; every integer of 18 digits or fewer fits)."""


def json_loads(text: str) -> JsonValue:
    """``json.loads(text)``, the same value of the same types, mostly read by orjson (about
    5x faster). orjson differs only where it refuses text json reads (NaN, Infinity,
    numbers beyond a float, lone surrogates, deeper nesting): json then reads it; and in
    integers beyond 64 bits, which text without 19 digits in a row cannot hold."""
    if _LONG_DIGITS.search(text) is None:
        try:
            return orjson.loads(text)  # type: ignore[no-any-return]
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)  # type: ignore[no-any-return]


def decoded_arguments(value: JsonValue) -> JsonValue:
    """Tool-call arguments: a JSON-encoded object or list decoded, anything else as is."""
    decoded = _decoded(value)
    return decoded if isinstance(decoded, (dict, list)) else value


def _joined(messages: list[Message]) -> str | None:
    texts = [text for _, text, _ in messages if text]
    return "\n".join(texts) if texts else None


def _plain_text(value: JsonValue) -> str | None:
    """An input or output as text: a JSON-encoded object holding one text under a usual
    key (``{"question": ...}``) as that text."""
    if value is None or (isinstance(value, str) and value[:1] not in ("[", "{")):
        return value  # the common cases, without the calls below
    decoded = _decoded(value)
    if isinstance(decoded, dict) and len(decoded) == 1:
        ((key, inner),) = decoded.items()
        if key in _TEXT_KEYS and isinstance(inner, str):
            return inner
    return _text_of(value)


def _documents(attrs: dict[str, JsonValue]) -> str | None:
    """A retriever's documents (OpenInference ``retrieval.documents.N.document.content``)."""
    texts: list[str] = []
    for i in count():
        content = attrs.get(f"retrieval.documents.{i}.document.content")
        if content is None and f"retrieval.documents.{i}.document.id" not in attrs:
            break
        if isinstance(content, str):
            texts.append(content)
    return "\n".join(texts) or None


def _text_of(value: JsonValue) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return compact(value)


def _first_of(attrs: dict[str, JsonValue], keys: tuple[str, ...]) -> JsonValue:
    """The value of the first of ``keys`` that ``attrs`` holds (and is not null)."""
    for key in keys:
        if key in attrs:  # cheaper than a call of get: most keys are missing
            value = attrs[key]
            if value is not None:
                return value
    return None


def _str(value: JsonValue) -> str | None:
    return value if isinstance(value, str) else None


def _dict(value: JsonValue) -> dict[str, JsonValue]:
    return value if isinstance(value, dict) else {}


def _items(value: JsonValue) -> list[JsonValue]:
    return value if isinstance(value, list) else []
