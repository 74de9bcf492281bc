"""Payloads of trajectories: JSON-ready values, kept inline when small and in a
content-addressable store when larger than `INLINE_LIMIT_BYTES`.

A trajectory keeps its task's arguments, its return value (or exception and traceback)
and its steps. Each value is first made JSON-ready (`jsonable`). When its JSON text is
longer than `INLINE_LIMIT_BYTES` (UTF-8), the text goes to the loop's ``backend``. A
stored payload is one of::

    {"value": <the JSON-ready value>}
    {"$ref": "<key the backend returned>", "bytes": 51234, "preview": "<first 300 chars>"}

A backend is anything with ``put(data: bytes) -> str`` and ``get(key: str) -> bytes``
(or Nexus-style ``write_content``/``read_content``). The default, `LocalContentStore`, is
a folder of files named by their SHA-256.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from contextlib import suppress
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from ace.errors import UsageError

INLINE_LIMIT_BYTES = 8192
"""A payload whose JSON text is longer than this (UTF-8 bytes) is stored in the backend."""
PREVIEW_CHARS = 300
"""How much of an out-of-row payload the row keeps as a preview."""
REF_KEY = "$ref"
"""The key that marks a reference to the backend in a stored payload."""
MAX_DEPTH = 20
"""Nesting depth beyond which `jsonable` writes ``repr`` instead of descending."""


@runtime_checkable
class ContentStore(Protocol):
    """Where large payloads go: ``put`` returns the key ``get`` reads them back with."""

    def put(self, data: bytes) -> str:
        """Store ``data``; return its key."""
        ...

    def get(self, key: str) -> bytes:
        """The bytes stored under ``key`` (``KeyError`` when absent)."""
        ...


class LocalContentStore:
    """A folder of payloads, each in a file named by its SHA-256 (``ab/abcdef...``).

    Writes are atomic (a temporary file renamed into place); the same content is stored
    once; ``get`` checks the content still hashes to its key.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        if len(key) != 64 or any(ch not in "0123456789abcdef" for ch in key):
            raise KeyError(f"not a SHA-256 key: {key!r}")
        return self.root / key[:2] / key

    def put(self, data: bytes) -> str:
        """Store ``data`` under its SHA-256 (hex); return that key."""
        key = hashlib.sha256(data).hexdigest()
        path = self._path(key)
        if path.exists():
            return key
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return key

    def get(self, key: str) -> bytes:
        """The content stored under ``key``; ``KeyError`` when absent or corrupted."""
        path = self._path(key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise KeyError(f"no payload {key} in {self.root}") from None
        if hashlib.sha256(data).hexdigest() != key:
            raise KeyError(f"payload {key} in {self.root} does not match its hash")
        return data

    def __repr__(self) -> str:
        return f"LocalContentStore({str(self.root)!r})"


class _NexusStyle:
    """Adapts a backend with ``write_content``/``read_content`` to `ContentStore`."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend

    def put(self, data: bytes) -> str:
        key = self.backend.write_content(data)
        return str(getattr(key, "content_hash", key))

    def get(self, key: str) -> bytes:
        data = self.backend.read_content(key)
        return data.encode("utf-8") if isinstance(data, str) else bytes(data)


def default_root(store: Any) -> Path:
    """Where a store's payloads go by default: ``ace-payloads/`` next to an SQLite
    database file, else in the working folder."""
    if getattr(store, "dialect", None) == "sqlite":
        from sqlalchemy.engine import make_url

        database = make_url(store.url).database
        if database:
            return Path(database).expanduser().resolve().parent / "ace-payloads"
    return Path.cwd() / "ace-payloads"


def content_store(backend: Any, default_root: str | os.PathLike[str]) -> ContentStore:
    """``backend`` as a `ContentStore`: itself (put/get), adapted (write_content/
    read_content), a folder path, or None for `LocalContentStore` at ``default_root``."""
    if backend is None:
        return LocalContentStore(default_root)
    if isinstance(backend, str | os.PathLike):
        return LocalContentStore(backend)
    if callable(getattr(backend, "put", None)) and callable(getattr(backend, "get", None)):
        return backend  # type: ignore[no-any-return]
    if callable(getattr(backend, "write_content", None)) and callable(
        getattr(backend, "read_content", None)
    ):
        return _NexusStyle(backend)
    raise UsageError(
        f"backend must have put(bytes) -> key and get(key) -> bytes (or write_content/"
        f"read_content), or be a folder path; got {type(backend).__name__}"
    )


def jsonable(value: Any, _depth: int = 0) -> Any:
    """``value`` as JSON-ready data: JSON types as they are (non-string keys as text),
    pydantic models and dataclasses as their fields, sets/tuples as lists, bytes as
    text (undecodable bytes replaced), anything else as its ``repr``."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else repr(value)
    if _depth >= MAX_DEPTH:
        return repr(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=repr) if isinstance(value, set | frozenset) else value
        return [jsonable(v, _depth + 1) for v in items]
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", errors="replace")
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        try:
            return jsonable(dump(mode="json"), _depth + 1)
        except Exception:
            return repr(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable(dataclasses.asdict(value), _depth + 1)
    try:
        return repr(value)
    except Exception:
        return f"<unrepresentable {type(value).__name__}>"


def pack(value: Any, backend: ContentStore) -> dict[str, Any]:
    """``{"value": value made JSON-ready}``, or a reference to it in ``backend`` when its
    JSON text is longer than `INLINE_LIMIT_BYTES`."""
    ready = jsonable(value)
    text = json.dumps(ready, ensure_ascii=False)
    data = text.encode("utf-8")
    if len(data) <= INLINE_LIMIT_BYTES:
        return {"value": ready}
    key = backend.put(data)
    return {REF_KEY: key, "bytes": len(data), "preview": text[:PREVIEW_CHARS]}


def is_ref(stored: Any) -> bool:
    """Whether a stored payload is a reference to the backend."""
    return isinstance(stored, dict) and REF_KEY in stored


def unpack(stored: Any, backend: ContentStore | None) -> Any:
    """A stored payload's value (a reference is fetched from ``backend``; without one,
    the reference itself is returned)."""
    if not isinstance(stored, dict):
        return None
    if not is_ref(stored):
        return stored.get("value")
    if backend is None:
        return stored
    return json.loads(backend.get(str(stored[REF_KEY])).decode("utf-8"))


def read_back(trajectory: dict[str, Any], backend: ContentStore) -> dict[str, Any]:
    """A stored trajectory (as the store returns it) with its payloads read back: the
    values of ``arguments``, ``result`` and ``traceback``, and the full text of long
    steps. A payload missing from the backend stays a reference (and a step says
    ``payload_missing`` in its ``data``)."""
    for key in ("arguments", "result", "traceback"):
        with suppress(KeyError):
            trajectory[key] = unpack(trajectory.get(key), backend)
    for step in trajectory.get("steps", []):
        ref = step.pop("payload_ref", None)
        if ref:
            try:
                step["text"] = backend.get(ref).decode("utf-8")
            except KeyError:
                step["data"]["payload_missing"] = ref
    return trajectory


def pack_text(text: str, backend: ContentStore) -> tuple[str, str | None]:
    """A step's text for its row: ``(text, None)`` when small, else ``(preview, key)``."""
    data = text.encode("utf-8")
    if len(data) <= INLINE_LIMIT_BYTES:
        return text, None
    return text[:PREVIEW_CHARS], backend.put(data)


__all__ = [
    "INLINE_LIMIT_BYTES",
    "PREVIEW_CHARS",
    "REF_KEY",
    "ContentStore",
    "LocalContentStore",
    "content_store",
    "default_root",
    "is_ref",
    "jsonable",
    "pack",
    "pack_text",
    "read_back",
    "unpack",
]
