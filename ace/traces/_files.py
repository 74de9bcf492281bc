"""Reading trace files: JSON, JSONL, plain text, or a directory of them.

``.json`` is one JSON document; ``.jsonl``/``.ndjson`` one per non-blank line. Any other
suffix (and standard input) is sniffed: a whole JSON document, else JSONL when the first
line is JSON, else plain text. Every error names the file and, for JSONL, the line.

JSONL has two readings, told apart by the lines themselves: when every line is one
message (an object with a string ``role`` that is not a trace record), or the lines are
one log of records (a Claude Code session's lines, the OpenAI Agents SDK's trace and
span exports, OpenTelemetry exports or spans, LangSmith runs), the file is ONE document,
the list of its lines; otherwise each line is a trace of its own (a record, a batch, a
tau-bench run, ...). An OpenTelemetry JSONL file is also read line by line, without
holding it whole (``jsonl_lines``; see ``ace.traces.load``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from io import FileIO
from pathlib import Path
from typing import NamedTuple

import orjson
from pydantic import JsonValue

from ace.errors import TraceFormatError
from ace.traces.formats._base import is_record
from ace.traces.formats.claude_code import is_session
from ace.traces.formats.langsmith import is_run as is_langsmith_run
from ace.traces.formats.openai_agents import is_export_list
from ace.traces.formats.otel import is_document as is_otel_document

JSON_SUFFIXES = frozenset({".json"})
JSONL_SUFFIXES = frozenset({".jsonl", ".ndjson"})
TRACE_SUFFIXES = JSON_SUFFIXES | JSONL_SUFFIXES | {".txt", ".log"}
"""File suffixes read from a directory, and that mark a string as a path."""

Document = tuple[JsonValue, int | None]
"""A parsed document and its 1-based line (JSONL), or None for a whole file."""


def looks_like_path(value: str) -> bool:
    """Whether a string names a file rather than holding trace text: no whitespace, and a
    trace suffix, a path separator, or an existing path. ("GET /api/users returned 500"
    stays text; "runs/failed.jsonl" is a path, and an error if it does not exist.)"""
    if not value or len(value) > 4096 or any(ch.isspace() for ch in value):
        return False
    if os.path.splitext(value)[1].lower() in TRACE_SUFFIXES or os.sep in value:
        return True
    try:
        return os.path.exists(value)
    except (ValueError, OSError):
        return False


def trace_files(path: Path) -> list[Path]:
    """A directory's trace files in natural order (2.json before 10.json); a file itself."""
    if not path.is_dir():
        return [path]
    found = [
        p
        for p in path.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in TRACE_SUFFIXES
    ]
    return sorted(found, key=_natural_key)


def _natural_key(path: Path) -> list[tuple[int, int | str]]:
    return [
        (0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", path.name)
    ]


def read_documents(path: Path) -> list[Document]:
    """The JSON documents (or the text) a trace file holds."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise TraceFormatError(f"trace file {path}: cannot read it ({reason})") from exc
    return parse_documents(data, path, path.suffix.lower())


def parse_documents(data: bytes, path: Path, suffix: str = "") -> list[Document]:
    """The documents of a file's content; ``path`` names it in errors, ``suffix`` (lower
    case) chooses the reading, anything else than a JSON or JSONL suffix is sniffed."""
    if suffix in JSON_SUFFIXES:
        return [(_parse_json(data, path), None)]
    if suffix in JSONL_SUFFIXES:
        return _one_conversation(_parse_jsonl(data, path))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TraceFormatError(
            f"trace file {path}: expected UTF-8 text, got a byte that is not UTF-8 at "
            f"offset {exc.start}"
        ) from None
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        try:
            return [(orjson.loads(data), None)]
        except orjson.JSONDecodeError:
            first = stripped.splitlines()[0]
            if _is_json(first):
                return _one_conversation(_parse_jsonl(data, path))
    return [(text, None)]


def is_message(value: JsonValue) -> bool:
    """One chat message: an object with a string ``role`` that is not a trace record."""
    return isinstance(value, dict) and isinstance(value.get("role"), str) and not is_record(value)


def _one_conversation(documents: list[Document]) -> list[Document]:
    """A JSONL of messages, or one log's lines, as the one document it is; any other
    JSONL unchanged."""
    lines = [document for document, _ in documents]
    if documents and (
        all(is_message(line) for line in lines)
        or is_session(lines)
        or is_export_list(lines)
        or all(is_otel_document(line) for line in lines)
        or all(is_langsmith_run(line) for line in lines)
    ):
        return [(lines, None)]
    return documents


def _is_json(line: str) -> bool:
    try:
        orjson.loads(line)
    except orjson.JSONDecodeError:
        return False
    return True


def _parse_json(data: bytes, path: Path) -> JsonValue:
    if not data.strip():
        raise TraceFormatError(f"trace file {path}: expected a JSON document, got an empty file")
    try:
        value: JsonValue = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise TraceFormatError(
            f"trace file {path} line {exc.lineno} column {exc.colno}: expected valid JSON "
            f"({exc.msg}); a file with one trace per line should be named .jsonl"
        ) from None
    return value


def _parse_jsonl(data: bytes, path: Path) -> list[Document]:
    return [
        (parse_line(line, path, number), number)
        for number, line in enumerate(data.split(b"\n"), start=1)
        if line.strip()
    ]


def parse_line(line: bytes | memoryview, path: Path, number: int) -> JsonValue:
    """One JSONL line's value; an error names the file, the line and the column."""
    try:
        value: JsonValue = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise TraceFormatError(
            f"trace file {path} line {number}: expected one JSON value per line, got "
            f"invalid JSON at column {exc.colno} ({exc.msg})"
        ) from None
    return value


BLOCK_BYTES = 1 << 20
"""How much of a JSONL file is read at once (a block grows to hold a longer line)."""

_BLANK_START = frozenset(b" \t\n\r\x0b\x0c")


class Block(NamedTuple):
    """Whole lines of a file: ``data[:end]``, from byte ``offset``. ``data`` is the
    reading buffer: valid until the next block is read."""

    offset: int
    data: bytearray
    end: int


def jsonl_blocks(path: Path, start: int = 0) -> Iterator[Block]:
    """A file's content as blocks of whole lines (the last one may lack its newline), from
    byte ``start``.

    One buffer is read into again and again: no bytes are copied out, and no fresh memory
    is touched block after block (which costs more than the reading itself).
    """
    buffer = bytearray(BLOCK_BYTES)
    kept = 0
    with _open(path) as handle:
        handle.seek(start)
        while True:
            got = handle.readinto(memoryview(buffer)[kept:])
            end = kept + got
            if not got:
                if kept:
                    yield Block(start, buffer, kept)
                return
            cut = buffer.rfind(b"\n", 0, end) + 1
            if not cut:  # a line longer than the buffer: read on into a larger one
                if end == len(buffer):
                    buffer = buffer + bytes(len(buffer))
                kept = end
                continue
            yield Block(start, buffer, cut)
            start += cut
            kept = end - cut
            buffer[:kept] = buffer[cut:end]


def _open(path: Path) -> FileIO:
    try:
        return path.open("rb", buffering=0)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise TraceFormatError(f"trace file {path}: cannot read it ({reason})") from exc


def jsonl_lines(
    path: Path, *, start: int = 0, number: int = 1, last: int | None = None
) -> Iterator[tuple[int, int, memoryview]]:
    """A JSONL file's non-blank lines as ``(line number, byte offset, line)``, read a block
    at a time; from byte ``start`` (the beginning of line ``number``) up to line ``last``.
    A line is a view of the reading buffer, valid until the next line is read."""
    for block in jsonl_blocks(path, start):
        data, end, at = block.data, block.end, 0
        view = memoryview(data)
        while at < end:
            if last is not None and number > last:
                return
            stop = data.find(b"\n", at, end) + 1 or end
            if data[at] not in _BLANK_START or not data[at:stop].isspace():
                yield number, block.offset + at, view[at:stop]
            at = stop
            number += 1


def first_line_value(path: Path) -> JsonValue | None:
    """The value of a JSONL file's first non-blank line, or None when it has none."""
    for number, _, line in jsonl_lines(path):
        return parse_line(line, path, number)
    return None
