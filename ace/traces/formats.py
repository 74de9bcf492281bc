"""Recognising a trace's source shape, and one parser per shape.

Shapes (the names :func:`detect_format` returns, listed in ``FORMATS``):

- ``ace``: ACE's ``{question, ground_truth, feedback, steps}`` dict; ``steps`` may be
  missing, then ``reasoning`` (if any) becomes the single step.
- ``openai_messages``: a list of ``{role, content, tool_calls?, tool_call_id?}``
  messages, or a record holding one under ``messages``.
- ``who_and_when``: a record with ``history`` (agent = ``name``, else ``role`` without a
  trailing qualifier such as ``(thought)``); step *i* is ``history[i]``.
- ``langchain_pairs``: a list of ``[action, observation]`` pairs (the action serialised as
  ``{tool, tool_input, log}``), or a record holding one under ``intermediate_steps``.
- ``text``: a plain-text log. Lines that open with a speaker (``Name: ...`` or
  ``[Name] ...``) start a step; without any, each blank-line-separated block is a step.
- ``step_list``: any other list; each element becomes a step (text, or JSON text).
- ``batch``: ``{"tasks": [...]}`` or a list of trace records; only ``load_traces`` takes it.
- ``json``: anything else JSON can hold. Accepted as-is: no steps, the value kept in
  ``raw`` for the model to explore.

Parsers receive label-free JSON (see ``ace.traces.labels``) and never see file positions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TypedDict

from pydantic import JsonValue

from ace.errors import TraceFormatError
from ace.traces._json import compact, describe
from ace.traces._steps import parse_step
from ace.traces.schema import TraceStep, reasoning_steps

FORMATS: tuple[str, ...] = (
    "ace",
    "openai_messages",
    "who_and_when",
    "langchain_pairs",
    "text",
    "step_list",
    "batch",
    "json",
)
"""Every value :func:`detect_format` can return."""

_STEP_LIST_KEYS = {
    "history": "who_and_when",
    "messages": "openai_messages",
    "intermediate_steps": "langchain_pairs",
    "steps": "ace",
}
_TASK_KEYS = ("question", "ground_truth", "feedback", "reasoning", "final_answer", "answer")
_RECORD_KEYS = frozenset({"tasks", *_STEP_LIST_KEYS, "question"})
_TASK_KEYS_SET = frozenset(_TASK_KEYS)
_ID_KEYS = ("id", "trace_id", "question_ID", "question_id", "task_id")
_SPEAKER = re.compile(
    r"^(?:\[(?P<bracket>[^\]\n]{1,60})\]:?|(?P<name>[A-Za-z][\w .()>-]{0,60}):)\s"
)


class TaskFields(TypedDict, total=False):
    """The task fields a record may carry (the ``Trace`` fields of the same names)."""

    question: str | None
    context: str | None
    ground_truth: str | None
    feedback: str | None
    final_answer: str | None
    is_correct: bool | None


@dataclass
class Parsed:
    """What a parser extracts; the loader adds the id's fallback and the source."""

    format: str
    steps: list[TraceStep]
    raw: JsonValue
    fields: TaskFields = field(default_factory=lambda: TaskFields())
    record_id: str | None = None


def is_record(value: JsonValue) -> bool:
    """True for an object that is plainly a trace record (or a batch): a list of these is
    a batch. Weaker hints (``feedback``, ``reasoning``) could be keys of a step object."""
    return isinstance(value, dict) and not _RECORD_KEYS.isdisjoint(value)


def detect_format(obj: JsonValue) -> str:
    """The source shape of ``obj``: one of ``FORMATS``."""
    if isinstance(obj, str):
        return "text"
    if isinstance(obj, dict):
        if "tasks" in obj:
            return "batch"
        for key, name in _STEP_LIST_KEYS.items():
            if key in obj:
                return name
        return "ace" if is_record(obj) or not _TASK_KEYS_SET.isdisjoint(obj) else "json"
    if isinstance(obj, list):
        if not obj or all(is_record(item) for item in obj):
            return "batch"
        if all(isinstance(item, dict) and "role" in item for item in obj):
            return "openai_messages"
        if all(isinstance(item, list) and len(item) == 2 for item in obj):
            return "langchain_pairs"
        return "step_list"
    return "json"


def parse(obj: JsonValue) -> Parsed:
    """Parse one trace (never a batch) with the parser for its shape."""
    fmt = detect_format(obj)
    if fmt == "batch":
        items = obj.get("tasks") if isinstance(obj, dict) else obj
        size = f"a batch of {len(items)} traces" if isinstance(items, list) else describe(obj)
        raise TraceFormatError(f"expected one trace, got {size}; use load_traces for batches")
    if isinstance(obj, dict):
        return parse_record(obj, fmt)
    if isinstance(obj, str):
        return parse_text(obj)
    if isinstance(obj, list):
        return parse_step_list(obj, fmt)
    return Parsed(format="json", steps=[], raw=obj)


def parse_record(record: dict[str, JsonValue], fmt: str) -> Parsed:
    """A dict record: task fields plus the step list under its shape's key (if any)."""
    key = next((k for k, f in _STEP_LIST_KEYS.items() if f == fmt and k in record), None)
    if key is None:
        reasoning = record.get("reasoning")
        steps = reasoning_steps(reasoning) if isinstance(reasoning, str) else []
    elif fmt == "who_and_when":
        steps = parse_who_and_when(record["history"])
    else:
        items = record[key]
        if not isinstance(items, list):
            raise TraceFormatError(f"{key!r}: expected a list of steps, got {describe(items)}")
        steps = [parse_step(item, i, f"{key}[{i}]") for i, item in enumerate(items)]
    return Parsed(
        format=fmt, steps=steps, raw=record, fields=_task_fields(record), record_id=_id(record)
    )


def parse_who_and_when(history: JsonValue) -> list[TraceStep]:
    """Who&When ``history``: one message object per step, content a string."""
    if not isinstance(history, list):
        raise TraceFormatError(f"'history': expected a list of messages, got {describe(history)}")
    steps = []
    for i, message in enumerate(history):
        where = f"history[{i}]"
        if not isinstance(message, dict):
            raise TraceFormatError(f"{where}: expected a message object, got {describe(message)}")
        content = message.get("content")
        if content is not None and not isinstance(content, str):
            raise TraceFormatError(f"{where}.content: expected a string, got {describe(content)}")
        steps.append(parse_step(message, i, where))
    return steps


def parse_step_list(items: list[JsonValue], fmt: str) -> Parsed:
    """A bare list: OpenAI messages, LangChain pairs, or generic steps (one per element)."""
    steps = [parse_step(item, i, f"[{i}]") for i, item in enumerate(items)]
    return Parsed(format=fmt, steps=steps, raw=items)


def parse_text(text: str) -> Parsed:
    """A plain-text log, split at speaker lines, else at blank lines."""
    lines = text.splitlines()
    blocks: list[tuple[str | None, list[str]]] = []
    if any(_SPEAKER.match(line) for line in lines):
        for line in lines:
            match = _SPEAKER.match(line)
            if match:
                speaker = (match["bracket"] or match["name"]).strip()
                blocks.append((speaker, [line[match.end() :]]))
            elif blocks:
                blocks[-1][1].append(line)
            else:
                blocks.append((None, [line]))
    else:
        for chunk in re.split(r"\n\s*\n", text.strip()):
            if chunk.strip():
                blocks.append((None, [chunk]))
    steps = [
        TraceStep(index=i, agent=speaker, content="\n".join(body).strip())
        for i, (speaker, body) in enumerate(blocks)
    ]
    return Parsed(format="text", steps=steps, raw=text)


def _task_fields(record: dict[str, JsonValue]) -> TaskFields:
    fields: TaskFields = {
        "question": _text(record.get("question")),
        "context": _text(record.get("context")),
        "ground_truth": _text(record.get("ground_truth")),
        "feedback": _text(record.get("feedback")),
        "final_answer": _text(record.get("final_answer", record.get("answer"))),
    }
    for key in ("is_correct", "is_corrected"):
        outcome = record.get(key)
        if outcome is not None and not isinstance(outcome, bool):
            raise TraceFormatError(f"{key!r}: expected true or false, got {describe(outcome)}")
        if outcome is not None:
            fields["is_correct"] = outcome
            break
    return fields


def _text(value: JsonValue) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return compact(value)


def _id(record: dict[str, JsonValue]) -> str | None:
    for key in _ID_KEYS:
        value = record.get(key)
        if isinstance(value, str) and value:
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
    return None
