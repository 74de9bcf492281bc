"""Text from outside made safe for everything the host does with it afterwards.

Model replies, trace files and kernel output may hold lone surrogates (``"\\ud800"`` is
valid JSON and a valid Python ``str``, but not encodable as UTF-8): one reaching a
transcript made ``save`` and both viewers fail, and one reaching a skill stayed in the
skillbook. They are replaced by U+FFFD where the text enters the host: `clean_text` for
one string, `clean_json` for parsed JSON data (keys included).
"""

from __future__ import annotations

import re
from typing import Any

_SURROGATE = re.compile("[\ud800-\udfff]")
REPLACEMENT = "\ufffd"


def clean_text(text: str) -> str:
    """`text` with every lone surrogate replaced by U+FFFD (unchanged, and fast, without)."""
    if text.isascii():
        return text
    return _SURROGATE.sub(REPLACEMENT, text)


def clean_json(value: Any) -> Any:
    """JSON data with `clean_text` applied to every string and key; iterative, so nesting
    of any depth is fine. Other values are returned as they are."""
    if isinstance(value, str):
        return clean_text(value)
    if not isinstance(value, dict | list):
        return value
    root: list[Any] = [None]
    todo: list[tuple[Any, Any, Any]] = [(value, root, 0)]
    while todo:
        item, holder, slot = todo.pop()
        if isinstance(item, str):
            holder[slot] = clean_text(item)
        elif isinstance(item, dict):
            copy: dict[str, Any] = {}
            holder[slot] = copy
            for key, child in item.items():
                name = clean_text(key) if isinstance(key, str) else key
                copy[name] = None
                todo.append((child, copy, name))
        elif isinstance(item, list):
            items: list[Any] = [None] * len(item)
            holder[slot] = items
            todo.extend((child, items, i) for i, child in enumerate(item))
        else:
            holder[slot] = item
    return root[0]
