"""Jupyter messages between the host and a hostile kernel: built, signed, checked, parsed.

jupyter_client's ``Session`` is built for a trusting peer: it stores each signature in its
history before checking it (a few dozen huge ones grew the host by gigabytes), parses ISO
dates in every header, and makes predictable message ids (a kernel queued a forged reply
for the next request). Here, for every message from the kernel, in this order and stopping
at the first failure: the ``<IDS|MSG>`` delimiter among the first frames; a signature of
exactly 64 hex digits; the HMAC-SHA256 over the four JSON frames, compared in constant
time; the parent header (at most `MAX_HEADER_BYTES`) parsed and its ``msg_id`` compared
with the request in flight (a message for anything else is dropped unparsed); then the
header, metadata and content, each required to be a JSON object. No date is parsed; the
content is parsed last and only for a message the host is waiting for. Failures are
reasons (counted by the caller), never exceptions. Message ids are 128 random bits.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime
from typing import Any

import orjson

DELIMITER = b"<IDS|MSG>"
MAX_HEADER_BYTES = 64 * 1024
"""A header, parent header or metadata frame larger than this is refused."""
PROTOCOL_VERSION = "5.3"

Message = dict[str, Any]


def new_id() -> str:
    """An unguessable message id."""
    return secrets.token_hex(16)


def signature(key: bytes, parts: list[bytes]) -> bytes:
    """HMAC-SHA256 over the header, parent header, metadata and content frames, in hex."""
    mac = hmac.new(key, digestmod=hashlib.sha256)
    for part in parts:
        mac.update(part)
    return mac.hexdigest().encode()


def build(
    key: bytes,
    session: str,
    msg_type: str,
    content: dict[str, Any],
    *,
    parent: Message | None = None,
    metadata: dict[str, Any] | None = None,
) -> tuple[str, list[bytes]]:
    """The frames of one host message (from the delimiter on) and its msg_id."""
    msg_id = new_id()
    header = {
        "msg_id": msg_id,
        "msg_type": msg_type,
        "username": "sandbox-host",
        "session": session,
        "date": datetime.now(UTC).isoformat(),
        "version": PROTOCOL_VERSION,
    }
    parts = [
        orjson.dumps(header),
        orjson.dumps((parent or {}).get("header", {})),
        orjson.dumps(metadata or {}),
        orjson.dumps(content),
    ]
    return msg_id, [DELIMITER, signature(key, parts), *parts]


def _object(data: bytes, limit: int | None) -> dict[str, Any] | None:
    if limit is not None and len(data) > limit:
        return None
    try:
        value = orjson.loads(data)
    except (orjson.JSONDecodeError, RecursionError, MemoryError):
        return None
    return value if isinstance(value, dict) else None


def decode(key: bytes, frames: list[bytes], expect: str | None) -> Message | str:
    """The message in `frames` if it is authentic and answers `expect` (a msg_id; None
    accepts any parent), else the reason it was dropped."""
    try:
        start = frames.index(DELIMITER, 0, 4) + 1
    except ValueError:
        return "no delimiter"
    if len(frames) < start + 5:
        return "too few frames"
    sig, parts = frames[start], frames[start + 1 : start + 5]
    if len(sig) != 64:
        return "bad signature"
    if not hmac.compare_digest(sig, signature(key, parts)):
        return "bad signature"
    parent = _object(parts[1], MAX_HEADER_BYTES)
    if parent is None:
        return "malformed parent header"
    if expect is not None and parent.get("msg_id") != expect:
        return "not for the request in flight"
    header = _object(parts[0], MAX_HEADER_BYTES)
    if header is None or not isinstance(header.get("msg_type"), str):
        return "malformed header"
    metadata = _object(parts[2], MAX_HEADER_BYTES)
    if metadata is None:
        return "malformed metadata"
    content = _object(parts[3], None)
    if content is None:
        return "content is not a JSON object"
    return {"header": header, "parent_header": parent, "metadata": metadata, "content": content}
