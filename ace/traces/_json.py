"""JSON helpers shared by the loaders: checking input is JSON, describing values, hashing."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import JsonValue

from ace._text import clean_text
from ace.errors import TraceFormatError

_PREVIEW = 40
_INT_BITS = 63
"""Integers beyond a signed 64-bit value become strings: neither orjson (the sandbox's
injection) nor most JSON tools carry them."""
_MAX_INT_BITS = 4096
"""Above this even the string is not written (``str()`` of a larger int can pass Python's
digit limit): the value becomes a note of its size."""


def as_json(value: Any, where: str = "") -> JsonValue:
    """Return ``value`` as plain JSON data (tuples become lists), or raise TraceFormatError.

    In-memory input may be any Python object; only what JSON can carry is accepted so
    that a trace always survives ``to_json()`` and the trip into the sandbox. Trace text
    is untrusted data, so what JSON allows but the host cannot carry is normalised, not
    refused: lone surrogates become U+FFFD, integers beyond 64 bits become strings.
    """
    try:
        return _as_json(value, where)
    except RecursionError:
        raise TraceFormatError(f"{_at(where)}the data is nested too deeply") from None


def _as_json(value: Any, where: str) -> JsonValue:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        bits = value.bit_length()
        if bits > _MAX_INT_BITS:
            return f"<an integer of {bits} bits>"
        return str(value) if bits > _INT_BITS else value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TraceFormatError(f"{_at(where)}expected JSON data, got the number {value}")
        return value
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, Mapping):
        out: dict[str, JsonValue] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TraceFormatError(
                    f"{_at(where)}expected an object with string keys, got the key {key!r}"
                )
            out[clean_text(key)] = _as_json(item, f"{where}.{key}" if where else key)
        return out
    if isinstance(value, list | tuple):
        return [_as_json(item, f"{where}[{i}]") for i, item in enumerate(value)]
    raise TraceFormatError(f"{_at(where)}expected JSON data, got {describe(value)}")


def _at(where: str) -> str:
    return f"{where}: " if where else ""


def describe(value: object) -> str:
    """Describe a value for an error message: 'a list of 3 strings', 'an object with keys ...'."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({'true' if value else 'false'})"
    if isinstance(value, int | float):
        return f"a number ({value!r})"
    if isinstance(value, str):
        preview = value if len(value) <= _PREVIEW else value[:_PREVIEW] + "…"
        return f"a string ({preview!r})"
    if isinstance(value, Mapping):
        if not value:
            return "an empty object"
        keys = [repr(k) for k in list(value)[:5]]
        more = ", …" if len(value) > 5 else ""
        return f"an object with keys {', '.join(keys)}{more}"
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        if not value:
            return "an empty list"
        kinds = {_kind(item) for item in value}
        kind = kinds.pop() if len(kinds) == 1 else "item"
        plural = "" if len(value) == 1 else "s"
        return f"a list of {len(value)} {kind}{plural}"
    return f"a Python {type(value).__name__}"


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list | tuple):
        return "list"
    return type(value).__name__


def compact(value: JsonValue) -> str:
    """Compact JSON text for a value (used where a step holds something other than text)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def content_hash(value: JsonValue) -> str:
    """A stable id for JSON content: ``sha256:`` and 16 hex digits of the canonical form."""
    # stdlib json, not orjson: orjson refuses integers beyond 64 bits
    canonical = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]
