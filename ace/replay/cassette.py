"""The cassette: every model request and reply of a session, and how requests match.

A request matches a recorded one when the model and every message's role and content
are equal; the *n*-th identical request gets the *n*-th recorded reply. Arrival order
between different requests does not matter, so concurrent sub-calls replay correctly
whatever order they arrive in. Other parameters (temperature, max_tokens) are ignored.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import orjson
from pydantic import BaseModel, Field, ValidationError

from ace._files import atomic_write
from ace.errors import InputError

CASSETTE_FORMAT = "ace-cassette"
CASSETTE_VERSION = 1

VOLATILE_MARKER = re.compile(r"<<<([A-Z]+)-[0-9a-f]{8,64}>>>")
"""Per-session random fence markers, masked before requests are compared."""


class RecordedReply(BaseModel):
    """What the model answered, with the usage it reported."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str | None = "stop"
    cost_usd: float | None = None


class Interaction(BaseModel):
    """One request (model and messages) and its reply."""

    model: str
    messages: list[dict[str, Any]]
    reply: RecordedReply


class Cassette(BaseModel):
    """A recorded session: the models it used and every interaction in completion order."""

    format: Literal["ace-cassette"] = "ace-cassette"
    version: int = CASSETTE_VERSION
    created_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat())
    model: str | None = None
    """The session's main model, as given on the command line."""
    subagent_model: str | None = None
    """The model of its sub-LLM calls, when it had its own."""
    interactions: list[Interaction] = Field(default_factory=list)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the cassette as JSON (atomically)."""
        return atomic_write(path, orjson.dumps(self.model_dump(), option=orjson.OPT_INDENT_2))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Cassette:
        """Read a cassette; an unreadable or malformed file raises ``InputError``."""
        file = Path(path)
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise InputError(
                f"cassette {file}: cannot read it ({exc.strerror or type(exc).__name__})"
            ) from exc
        try:
            cassette = cls.model_validate_json(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise InputError(
                f"cassette {file}: not an ACE cassette ({where or 'document'}: {first['msg']})"
            ) from None
        if cassette.version != CASSETTE_VERSION:
            raise InputError(
                f"cassette {file}: version {cassette.version} is not supported "
                f"(this version reads {CASSETTE_VERSION})"
            )
        return cassette


def canonical_messages(messages: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """Each message as ``(role, content)``, random markers masked; non-text content
    becomes canonical JSON."""
    return [
        (str(m.get("role", "")), mask_volatile(content_text(m.get("content")))) for m in messages
    ]


def mask_volatile(text: str) -> str:
    """``text`` with the per-session random markers replaced by ``<<<NAME-*>>>``."""
    return VOLATILE_MARKER.sub(r"<<<\1-*>>>", text)


def content_text(content: object) -> str:
    """A message's content as text, so list-of-parts content compares stably."""
    if isinstance(content, str):
        return content
    if content is None:
        return ""
    return orjson.dumps(content, option=orjson.OPT_SORT_KEYS, default=str).decode()


def request_key(model: str, messages: Sequence[Mapping[str, Any]]) -> str:
    """The match key of a request: a hash of its model and canonical messages."""
    payload = orjson.dumps([model, canonical_messages(messages)])
    return hashlib.sha256(payload).hexdigest()
