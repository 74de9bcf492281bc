"""Trace formats: one module per source format, tried in a fixed order.

Each module here declares its :class:`TraceFormat` as ``FORMAT``: how to recognise the
format, how to read one trace of it into steps (agent, role, content, tool calls and
results, timestamps when present), and which keys are labels or outcomes (taken out
into ``TraceLabels``, never in what a reflector sees). ``REGISTRY`` lists them in
detection order; adding a format is one module and one line there. Modules are named
after their format, except ``ace_record`` (format ``ace``) and ``json_value`` (``json``).

Detection order (the first format that accepts a value reads it):

1. specific formats, recognised by keys of their own: ``normalised`` (ACE's own form,
   as ``ace traces convert`` writes it), ``tau2_bench``, ``tau_bench``, and the agent
   frameworks' own records: ``openai_agents`` (span exports), ``openai_responses``
   (Responses API items), ``swe_agent`` (``.traj``), ``openhands`` (event streams),
   ``claude_code`` (session lines), ``smolagents`` (memory steps), ``otel``
   (OpenTelemetry spans), ``langsmith`` (run trees);
2. generic shapes, which exclude one another: ``batch`` (``{"tasks": [...]}`` or a list
   of records), ``who_and_when`` (``history``), ``openai_messages`` (``messages``, or a
   list of ``{role, ...}``), ``langchain_pairs`` (``intermediate_steps``, or a list of
   pairs), ``ace`` (``steps`` or task keys), ``text`` (a string). A record holding several
   step lists is read by the first of ``tasks``, ``history``, ``messages``,
   ``intermediate_steps``, ``steps``;
3. fallbacks: ``step_list`` (any other list, one step per element) and ``json``
   (anything else, kept whole in ``raw`` without steps).

Parsers receive JSON already free of the default label keys (see ``ace.traces.labels``)
and never see file positions; the file rules (JSON, JSONL, text; a JSONL of messages is
one conversation) are in ``ace.traces._files``.
"""

from __future__ import annotations

from pydantic import JsonValue

from ace.errors import TraceFormatError, UsageError
from ace.traces._json import describe
from ace.traces.formats import (
    ace_record,
    batch,
    claude_code,
    json_value,
    langchain_pairs,
    langsmith,
    normalised,
    openai_agents,
    openai_messages,
    openai_responses,
    openhands,
    otel,
    smolagents,
    step_list,
    swe_agent,
    tau2_bench,
    tau_bench,
    text,
    who_and_when,
)
from ace.traces.formats._base import Parsed, TaskFields, TraceFormat, is_record, steps_of
from ace.traces.formats.text import parse_text
from ace.traces.formats.who_and_when import parse_history as parse_who_and_when

REGISTRY: tuple[TraceFormat, ...] = (
    normalised.FORMAT,
    tau2_bench.FORMAT,
    tau_bench.FORMAT,
    openai_agents.FORMAT,
    openai_responses.FORMAT,
    swe_agent.FORMAT,
    openhands.FORMAT,
    claude_code.FORMAT,
    smolagents.FORMAT,
    otel.FORMAT,
    langsmith.FORMAT,
    batch.FORMAT,
    who_and_when.FORMAT,
    openai_messages.FORMAT,
    langchain_pairs.FORMAT,
    ace_record.FORMAT,
    text.FORMAT,
    step_list.FORMAT,
    json_value.FORMAT,
)
"""Every format, in detection order."""

FORMATS: tuple[str, ...] = tuple(fmt.name for fmt in REGISTRY)
"""Every value :func:`detect_format` can return, in detection order."""

_BY_NAME = {fmt.name: fmt for fmt in REGISTRY}

__all__ = [
    "FORMATS",
    "REGISTRY",
    "Parsed",
    "TaskFields",
    "TraceFormat",
    "detect_format",
    "find_format",
    "get_format",
    "is_record",
    "parse",
    "parse_record",
    "parse_step_list",
    "parse_text",
    "parse_who_and_when",
]


def get_format(name: str) -> TraceFormat:
    """The registered format called ``name``; a ``UsageError`` listing them otherwise."""
    fmt = _BY_NAME.get(name)
    if fmt is None:
        raise UsageError(
            f"unknown trace format {name!r}; the registered formats are {', '.join(FORMATS)}"
        )
    return fmt


def find_format(obj: JsonValue) -> TraceFormat:
    """The first format of ``REGISTRY`` that accepts ``obj`` (``json`` accepts anything)."""
    return next(fmt for fmt in REGISTRY if fmt.detect(obj))


def detect_format(obj: JsonValue) -> str:
    """The source format of ``obj``: one of ``FORMATS``."""
    return find_format(obj).name


def parse(obj: JsonValue, fmt: TraceFormat | None = None) -> Parsed:
    """Parse one trace (never a batch) with its detected format, or with ``fmt``."""
    fmt = fmt or find_format(obj)
    if fmt.parse is None or (fmt.split is not None and fmt.split(obj) is not None):
        raise TraceFormatError(
            f"expected one trace, got {_several(fmt, obj)}; use load_traces for batches"
        )
    return fmt.parse(obj)


def parse_record(record: dict[str, JsonValue], fmt: str) -> Parsed:
    """A dict record read by the format called ``fmt``."""
    return parse(record, get_format(fmt))


def parse_step_list(items: list[JsonValue], fmt: str) -> Parsed:
    """A bare list, one step per element, reported as format ``fmt``."""
    return Parsed(format=fmt, steps=steps_of(items, ""), raw=items)


def _several(fmt: TraceFormat, obj: JsonValue) -> str:
    try:
        items = fmt.split(obj) if fmt.split is not None else None
    except TraceFormatError:
        items = None
    if items is None:
        return describe(obj)
    if fmt.name == "batch":
        return f"a batch of {len(items)} traces"
    return f"{fmt.name} results of {len(items)} trace{'' if len(items) == 1 else 's'}"
