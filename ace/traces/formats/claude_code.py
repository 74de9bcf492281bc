"""Format ``claude_code``: a Claude Code session, ``~/.claude/projects/<project>/<session>.jsonl``.

Claude Code writes one JSON record per line: ``{type: "user" | "assistant", uuid,
parentUuid, sessionId, timestamp, isSidechain, isMeta, cwd, version, message,
toolUseResult, ...}`` where ``message`` is the Anthropic message (``role`` and
``content``, text or a list of ``text``, ``thinking``, ``tool_use`` ``{id, name,
input}``, ``tool_result`` ``{tool_use_id, content, is_error}`` and ``image`` blocks; an
assistant's reply is written a block per line, each under the reply's ``message.id``);
``{type: "summary", summary, leafUuid}`` for a session's title; ``{type: "system",
content, subtype, level}`` for the program's notices; other types (file snapshots,
queue operations) carry no message. These lines are records, not chat messages: the
file is ONE session, read as one trace (``ace.traces._files`` reads such a JSONL whole;
a JSON list of the same lines is read the same way).

Each line is one step, at its timestamp: a user's text, the assistant's text, thinking
(``(thinking) ...``) and tool uses as tool calls, tool results as a ``tool`` step named
after the tool they answer (``is_error`` marks it ``(error)``), a summary or system
notice as such. A user's ``[Request interrupted by user...]`` is marked ``user
(interrupt)``; lines Claude Code wrote itself on the user's side (``isMeta``: caveats,
command output) are ``user (meta)``; a subagent's lines (``isSidechain``) are the agent
``sidechain``. The question is the first thing the user typed; the id is the
``sessionId``. There are no labels.
"""

from __future__ import annotations

from pydantic import JsonValue

from ace.errors import TraceFormatError
from ace.traces._json import describe
from ace.traces._steps import timestamp_of
from ace.traces.formats._base import Parsed, TraceFormat
from ace.traces.formats._frameworks import (
    ERROR,
    INTERRUPT,
    Mark,
    as_text,
    marked,
    one_of,
    parts_text,
)
from ace.traces.schema import ToolCall, ToolResult, TraceStep

INTERRUPTED = "[Request interrupted by user"
"""How Claude Code records that the user stopped it (``... for tool use]`` when during a
tool call)."""

_MESSAGE_TYPES = frozenset({"user", "assistant"})
_Line = dict[str, JsonValue]


def _is_message_line(item: JsonValue) -> bool:
    return (
        isinstance(item, dict)
        and one_of(item.get("type"), _MESSAGE_TYPES)
        and isinstance(item.get("message"), dict)
        and isinstance(item.get("uuid"), str)
    )


def is_session(lines: list[JsonValue]) -> bool:
    """Whether ``lines`` are one Claude Code session: objects with a string ``type``, at
    least one a user or assistant line ``{type, uuid, message}``, and every user or
    assistant line such a one (a JSONL of them is one document, see
    ``ace.traces._files``)."""
    return (
        bool(lines)
        and all(isinstance(line, dict) and isinstance(line.get("type"), str) for line in lines)
        and any(_is_message_line(line) for line in lines)
        and all(
            _is_message_line(line)
            for line in lines
            if isinstance(line, dict) and one_of(line.get("type"), _MESSAGE_TYPES)
        )
    )


def detect(value: JsonValue) -> bool:
    """A list of session lines ``{type: user | assistant | summary | system, uuid,
    message, ...}`` with at least one user or assistant line."""
    return isinstance(value, list) and is_session(value)


def parse(value: JsonValue) -> Parsed:
    """One session: a step per line."""
    if not isinstance(value, list) or not is_session(value):
        raise TraceFormatError(
            "expected the lines of a Claude Code session [{type: 'user' | 'assistant', "
            f"uuid, message, ...}}], got {describe(value)}"
        )
    tools: dict[str, str] = {}
    steps: list[TraceStep] = []
    question: str | None = None
    for index, line in enumerate(value):
        assert isinstance(line, dict)
        step = _step(line, index, tools)
        if question is None and step.role == step.agent == "user" and step.content:
            question = step.content
        steps.append(step)
    session = next(
        (
            line["sessionId"]
            for line in value
            if isinstance(line, dict) and isinstance(line.get("sessionId"), str)
        ),
        None,
    )
    return Parsed(
        format="claude_code",
        steps=steps,
        raw=value,
        fields={"question": question},
        record_id=session if isinstance(session, str) and session else None,
    )


def _step(line: _Line, index: int, tools: dict[str, str]) -> TraceStep:
    kind = as_text(line.get("type"))
    timestamp = timestamp_of(line.get("timestamp"))
    if kind == "summary":
        return TraceStep(index=index, role="summary", content=as_text(line.get("summary")))
    message = line.get("message")
    if not isinstance(message, dict):
        text = line.get("content")
        content = as_text(text) if text is not None else _other(line)
        return TraceStep(index=index, role=kind, agent=kind, content=content, timestamp=timestamp)
    agent = "sidechain" if line.get("isSidechain") is True else kind
    texts: list[str] = []
    calls: list[ToolCall] = []
    results: list[ToolResult] = []
    failed = False
    blocks = message.get("content")
    for block in blocks if isinstance(blocks, list) else [blocks]:
        block_type = block.get("type") if isinstance(block, dict) else None
        if isinstance(block, dict) and block_type == "tool_use":
            call = _tool_use(block)
            if call.id:
                tools[call.id] = call.name
            calls.append(call)
        elif isinstance(block, dict) and block_type == "tool_result":
            call_id = block.get("tool_use_id")
            call_id = call_id if isinstance(call_id, str) else None
            name = tools.get(call_id or "")
            results.append(
                ToolResult(output=parts_text(block.get("content")), name=name, call_id=call_id)
            )
            failed = failed or block.get("is_error") is True
        elif isinstance(block, dict) and block_type in ("thinking", "redacted_thinking"):
            texts.append(f"(thinking) {as_text(block.get('thinking', '[redacted]'))}")
        elif block is not None:
            texts.append(parts_text([block]))
    text = "\n".join(texts)
    role = kind
    mark: Mark | None = None
    if results:
        role = "tool"
        agent = results[0].name or "tool"
        mark = ERROR if failed else None
    elif kind == "user" and text.lstrip().startswith(INTERRUPTED):
        mark = INTERRUPT
    elif kind == "user" and line.get("isMeta") is True:
        role = "user (meta)"
    return TraceStep(
        index=index,
        role=marked(role, mark),
        agent=agent,
        content=text,
        tool_calls=calls,
        tool_results=results,
        timestamp=timestamp,
    )


def _tool_use(block: dict[str, JsonValue]) -> ToolCall:
    call_id = block.get("id")
    return ToolCall(
        name=as_text(block.get("name")) or "tool",
        arguments=block.get("input"),
        id=call_id if isinstance(call_id, str) else None,
    )


def _other(line: _Line) -> str:
    """A line without a message (a file snapshot, a queue operation): its fields less the
    envelope every line has."""
    envelope = {"type", "uuid", "parentUuid", "sessionId", "timestamp", "cwd", "version"}
    rest = {k: v for k, v in line.items() if k not in envelope}
    return as_text(rest) if rest else ""


FORMAT = TraceFormat(
    name="claude_code",
    accepts="Claude Code session JSONL (lines {type, uuid, message, ...}): one trace per file",
    group="specific",
    detect=detect,
    parse=parse,
)
