"""Format ``openai_agents``: the OpenAI Agents SDK's own trace records.

The SDK (``openai-agents``, ``agents/tracing``) reports each trace and span to its
tracing processors; ``Trace.export()`` is ``{object: "trace", id, workflow_name,
group_id, metadata}`` and ``Span.export()`` is ``{object: "trace.span", id, trace_id,
parent_id, started_at, ended_at, span_data, error}``, where ``span_data.type`` is
``agent``, ``generation`` (model input and output messages), ``response`` (a Responses
API call, by id only), ``function`` (a tool: input, output), ``handoff``, ``guardrail``,
``custom`` (the SDK's own task and turn spans are custom spans with ``sdk_span_type``),
``mcp_tools``, ``transcription``, ``speech`` or ``speech_group``. Read here: a list of
these exports (a JSON list, or a JSONL with one per line, which is one document), or
the exporter's ingest payload ``{"data": [...]}``. Exports of several traces are one
trace each, grouped by trace id.

Each span is one step, in the order the spans started (the file order when a span has no
start time): a generation is the agent's message and tool calls, a function span the
tool's result (matched to the call the generation made, or a call of its own when no
generation shows one), and the other spans short lines saying what happened (``agent
Refunds``, ``handoff Triage -> Refunds``, ``guardrail no_card_numbers: not
triggered``). A step is named after the agent whose span encloses it; a span with an
``error`` is marked ``(error)`` and carries the error. The question is the first user
message a generation was given. There are no labels.
"""

from __future__ import annotations

from pydantic import JsonValue

from ace.errors import TraceFormatError
from ace.traces._json import compact, describe
from ace.traces._steps import parse_step, timestamp_of
from ace.traces.formats._base import Parsed, TraceFormat
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

_OBJECTS = frozenset({"trace", "trace.span"})
_Span = dict[str, JsonValue]


def _is_export(item: JsonValue) -> bool:
    return isinstance(item, dict) and one_of(item.get("object"), _OBJECTS)


def is_export_list(items: list[JsonValue]) -> bool:
    """Whether ``items`` are the SDK's trace and span exports, at least one a span (a
    JSONL of them is one document, see ``ace.traces._files``)."""
    return (
        bool(items)
        and all(_is_export(item) for item in items)
        and any(isinstance(item, dict) and item.get("object") == "trace.span" for item in items)
    )


def _items(value: JsonValue) -> list[JsonValue] | None:
    if isinstance(value, list):
        return value
    if isinstance(value, dict) and isinstance(value.get("data"), list):
        data = value["data"]
        assert isinstance(data, list)
        return data
    return None


def detect(value: JsonValue) -> bool:
    """A list of ``{object: "trace" | "trace.span", ...}`` exports, or ``{"data": [...]}``
    of them, holding at least one span."""
    items = _items(value)
    return items is not None and is_export_list(items)


def _trace_id(item: JsonValue) -> str | None:
    if not isinstance(item, dict):
        return None
    key = "id" if item.get("object") == "trace" else "trace_id"
    found = item.get(key)
    return found if isinstance(found, str) else None


def split(value: JsonValue) -> list[JsonValue] | None:
    """Exports of several traces are one trace each (grouped by trace id, in the order
    each first appears); those of one trace are a single trace."""
    items = _items(value)
    if items is None:
        return None
    groups: dict[str | None, list[JsonValue]] = {}
    for item in items:
        groups.setdefault(_trace_id(item), []).append(item)
    if len(groups) < 2:
        return None
    return list(groups.values())


def parse(value: JsonValue) -> Parsed:
    """One trace: a step per span, in the order they started."""
    items = _items(value)
    if items is None or not all(_is_export(item) for item in items):
        raise TraceFormatError(
            "expected OpenAI Agents SDK exports [{object: 'trace' | 'trace.span', ...}], "
            f"got {describe(value)}"
        )
    spans = [item for item in items if isinstance(item, dict) and item["object"] == "trace.span"]
    trace = next(
        (item for item in items if isinstance(item, dict) and item["object"] == "trace"), None
    )
    ordered = _in_order(spans)
    reader = _Reader({str(span.get("id")): span for span in spans})
    steps = [reader.step(span, index) for index, span in enumerate(ordered)]
    ids = {_trace_id(item) for item in items} - {None}
    record_id = _trace_id(trace) if trace is not None else None
    if record_id is None and len(ids) == 1:
        record_id = next(iter(ids))
    return Parsed(
        format="openai_agents",
        steps=steps,
        raw=value,
        fields={"question": reader.question},
        record_id=record_id,
    )


def _in_order(spans: list[_Span]) -> list[_Span]:
    starts = [span.get("started_at") for span in spans]
    if not all(isinstance(start, str) for start in starts):
        return spans
    keyed = sorted(zip([str(s) for s in starts], range(len(spans)), spans, strict=True))
    return [span for _, _, span in keyed]


class _Reader:
    """Turns spans into steps, remembering the calls not yet answered and the question."""

    def __init__(self, by_id: dict[str, _Span]) -> None:
        self.by_id = by_id
        self.pending: list[ToolCall] = []
        self.question: str | None = None

    def agent_of(self, span: _Span) -> str | None:
        """The name of the agent span that encloses ``span`` (or is it)."""
        seen: set[str] = set()
        current: _Span | None = span
        while current is not None:
            data = current.get("span_data")
            if isinstance(data, dict) and data.get("type") == "agent":
                name = data.get("name")
                return name if isinstance(name, str) else None
            parent = current.get("parent_id")
            if not isinstance(parent, str) or parent in seen:
                return None
            seen.add(parent)
            current = self.by_id.get(parent)
        return None

    def step(self, span: _Span, index: int) -> TraceStep:
        data = span.get("span_data")
        if not isinstance(data, dict):
            raise TraceFormatError(
                f"span {span.get('id')!r}: expected 'span_data' to be an object, got "
                f"{describe(data)}"
            )
        kind = data.get("type")
        agent = self.agent_of(span)
        step = TraceStep(index=index, role=kind if isinstance(kind, str) else "span", agent=agent)
        if kind == "generation":
            step = self._generation(data, step, f"span {span.get('id')}")
        elif kind == "function":
            step = self._function(data, step)
        else:
            step.content = _describe_span(data)
            if kind == "handoff" and isinstance(data.get("from_agent"), str):
                step.agent = str(data["from_agent"])
            if kind == "custom" and isinstance(_sdk_data(data).get("agent_name"), str):
                step.agent = str(_sdk_data(data)["agent_name"])
        error = span.get("error")
        mark: Mark | None = None
        if error is not None:
            mark = ERROR
            step.content = "\n".join(filter(None, [step.content, f"error: {_error_text(error)}"]))
        step.role = marked(step.role or "span", mark)
        step.timestamp = timestamp_of(span.get("started_at"))
        return step

    def _generation(self, data: dict[str, JsonValue], step: TraceStep, where: str) -> TraceStep:
        inputs = data.get("input")
        if self.question is None and isinstance(inputs, list):
            self.question = next(
                (
                    parts_text(message.get("content"))
                    for message in inputs
                    if isinstance(message, dict) and message.get("role") == "user"
                ),
                None,
            )
        outputs = data.get("output")
        texts: list[str] = []
        for i, message in enumerate(outputs if isinstance(outputs, list) else []):
            read = parse_step(message, i, f"{where}.output[{i}]")
            if read.content:
                texts.append(read.content)
            step.tool_calls += read.tool_calls
        self.pending += step.tool_calls
        step.role = "assistant"
        step.content = "\n".join(texts)
        return step

    def _function(self, data: dict[str, JsonValue], step: TraceStep) -> TraceStep:
        name = as_text(data.get("name")) or "function"
        call = next((c for c in self.pending if c.name == name), None)
        if call is not None:
            self.pending.remove(call)
        else:
            step.tool_calls = [ToolCall(name=name, arguments=decoded(data.get("input")))]
        output = data.get("output")
        step.tool_results = [
            ToolResult(
                output=as_text(output),
                name=name,
                call_id=call.id if call is not None else None,
            )
        ]
        step.role, step.agent = "tool", name
        mcp = data.get("mcp_data")
        if mcp:
            step.content = f"MCP: {as_text(mcp)}"
        return step


def _sdk_data(data: dict[str, JsonValue]) -> dict[str, JsonValue]:
    inner = data.get("data")
    return inner if isinstance(inner, dict) else {}


def _describe_span(data: dict[str, JsonValue]) -> str:
    """A short line for a span that is neither a model call nor a tool."""
    kind = data.get("type")
    name = as_text(data.get("name"))
    if kind == "agent":
        extras = [
            f"{key}: {', '.join(str(v) for v in found)}"
            for key in ("tools", "handoffs")
            if isinstance(found := data.get(key), list) and found
        ]
        return f"agent {name}" + (f" ({'; '.join(extras)})" if extras else "")
    if kind == "handoff":
        return f"handoff {as_text(data.get('from_agent'))} -> {as_text(data.get('to_agent'))}"
    if kind == "guardrail":
        return f"guardrail {name}: {'triggered' if data.get('triggered') else 'not triggered'}"
    if kind == "response":
        return f"model response {as_text(data.get('response_id'))}".rstrip()
    if kind == "custom":
        inner = _sdk_data(data)
        if inner.get("sdk_span_type") == "turn":
            return f"turn {as_text(inner.get('turn'))} of {as_text(inner.get('agent_name'))}"
        if inner.get("sdk_span_type") == "task":
            return f"run {as_text(inner.get('name'))}"
        return f"{name}: {compact(inner)}" if inner else name
    rest: dict[str, JsonValue] = {k: v for k, v in data.items() if k != "type" and v is not None}
    return f"{kind} {compact(rest)}" if rest else str(kind)


def _error_text(error: JsonValue) -> str:
    if isinstance(error, dict):
        message = as_text(error.get("message"))
        details = error.get("data")
        return f"{message} {compact(details)}" if details else message
    return as_text(error)


FORMAT = TraceFormat(
    name="openai_agents",
    accepts="OpenAI Agents SDK trace/span exports [{object: 'trace.span', span_data}]",
    group="specific",
    detect=detect,
    parse=parse,
    split=split,
)
