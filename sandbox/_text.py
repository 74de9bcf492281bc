"""Lone surrogates out of text, on both sides of the wall.

A lone surrogate (``"\\ud800"``) is a valid Python ``str`` and valid escaped JSON, but it
cannot be encoded as UTF-8: printed by a cell it stopped the kernel's reply from being
sent at all (the cell timed out), and in a host-call argument it reached the caller's
files. The kernel cleans what it prints and raises; the host cleans what host calls
receive. (``ace`` has its own copy: this package imports nothing from it.)
"""

from __future__ import annotations

import re
from typing import Any

_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(text: str) -> str:
    """`text` with each lone surrogate replaced by U+FFFD."""
    return text if text.isascii() else _SURROGATE.sub("\ufffd", text)


def clean_json(value: Any) -> Any:
    """JSON data with every string and key cleaned and every integer beyond 64 bits
    written as a string (orjson carries neither); iterative, so any depth is fine."""
    if not isinstance(value, dict | list):
        return clean_json([value])[0]
    root: list[Any] = [None]
    todo: list[tuple[Any, Any, Any]] = [(value, root, 0)]
    while todo:
        item, holder, slot = todo.pop()
        if isinstance(item, str):
            holder[slot] = clean_text(item)
        elif isinstance(item, dict):
            copy: dict[Any, Any] = {}
            holder[slot] = copy
            for key, child in item.items():
                name = clean_text(key) if isinstance(key, str) else key
                copy[name] = None
                todo.append((child, copy, name))
        elif isinstance(item, list):
            items: list[Any] = [None] * len(item)
            holder[slot] = items
            todo.extend((child, items, i) for i, child in enumerate(item))
        elif isinstance(item, int) and not isinstance(item, bool) and item.bit_length() > 63:
            holder[slot] = (
                str(item)
                if item.bit_length() <= 4096
                else f"<an integer of {item.bit_length()} bits>"
            )
        else:
            holder[slot] = item
    return root[0]
