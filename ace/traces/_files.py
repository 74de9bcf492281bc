"""Reading trace files: JSON, JSONL, plain text, or a directory of them.

``.json`` is one JSON document; ``.jsonl``/``.ndjson`` one per non-blank line. Any other
suffix (and standard input) is sniffed: a whole JSON document, else JSONL when the first
line is JSON, else plain text. Every error names the file and, for JSONL, the line.

JSONL has two readings, told apart by the lines themselves: when every line is one
message (an object with a string ``role`` that is not a trace record), the file is ONE
conversation, read as a list of messages; otherwise each line is a trace of its own
(a record, a batch, a tau-bench run, ...).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import orjson
from pydantic import JsonValue

from ace.errors import TraceFormatError
from ace.traces.formats._base import is_record

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
    """A JSONL of messages as the one conversation it is; any other JSONL unchanged."""
    if documents and all(is_message(document) for document, _ in documents):
        return [([document for document, _ in documents], None)]
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
    documents: list[Document] = []
    for number, line in enumerate(data.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            documents.append((orjson.loads(line), number))
        except orjson.JSONDecodeError as exc:
            raise TraceFormatError(
                f"trace file {path} line {number}: expected one JSON value per line, got "
                f"invalid JSON at column {exc.colno} ({exc.msg})"
            ) from None
    return documents
