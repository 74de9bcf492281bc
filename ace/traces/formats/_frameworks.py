"""What the agent frameworks' formats share: marks on steps (a failed tool call or
action, a user who interrupted the agent) and reading JSON text and message content.

A mark is a qualifier in parentheses after the step's role (``tool (error)``, ``user
(interrupt)``), the convention Who&When's roles already follow (``Orchestrator
(thought)``): the agent stays the bare name (``agent_from_role`` strips the qualifier),
renderers show it as it is, and :func:`has_mark` finds it, so a later selection of
sessions with failures or corrections needs no new field in the schema.
"""

from __future__ import annotations

import json
from typing import Literal

from pydantic import JsonValue

from ace.traces._json import compact
from ace.traces.schema import TraceStep

Mark = Literal["error", "interrupt"]
"""What a step can be marked with (see :func:`marked`)."""

ERROR: Mark = "error"
"""The step's tool call or action failed (an error result, a non-zero exit, an exception)."""
INTERRUPT: Mark = "interrupt"
"""The user stopped the agent in the middle of its work."""


def marked(role: str, mark: Mark | None) -> str:
    """``role`` with ``mark`` as its qualifier (``tool`` -> ``tool (error)``); the role
    unchanged when there is no mark."""
    return f"{role} ({mark})" if mark else role


def has_mark(step: TraceStep, mark: Mark) -> bool:
    """Whether a step carries ``mark`` (set by one of the frameworks' formats)."""
    return step.role is not None and step.role.endswith(f" ({mark})")


def one_of(value: JsonValue, choices: frozenset[str]) -> bool:
    """Whether ``value`` is a string among ``choices`` (a list or an object is not, and
    is never hashed)."""
    return isinstance(value, str) and value in choices


def decoded(value: JsonValue) -> JsonValue:
    """A JSON object or list written as text (tool arguments, usually) decoded; anything
    else, or text that does not parse, as it is."""
    if isinstance(value, str) and value.lstrip().startswith(("{", "[")):
        try:
            result: JsonValue = json.loads(value)
        except (ValueError, RecursionError):
            return value
        return result
    return value


def as_text(value: JsonValue) -> str:
    """Text as it is, None as nothing, anything else as compact JSON."""
    if value is None:
        return ""
    return value if isinstance(value, str) else compact(value)


def parts_text(content: JsonValue, *, keep: tuple[str, ...] = ()) -> str:
    """The text of message content: a string, or a list of parts whose ``text`` is read
    (``text``, ``input_text``, ``output_text``, ...); an image part is ``[image]``, a part
    whose type is in ``keep`` or unknown is compact JSON. Parts are joined by newlines."""
    if not isinstance(content, list):
        return as_text(content)
    texts: list[str] = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if isinstance(part, str):
            texts.append(part)
        elif isinstance(part, dict) and kind not in keep and isinstance(part.get("text"), str):
            texts.append(str(part["text"]))
        elif isinstance(kind, str) and "image" in kind and kind not in keep:
            texts.append("[image]")
        else:
            texts.append(as_text(part))
    return "\n".join(texts)
