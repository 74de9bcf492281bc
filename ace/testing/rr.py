"""Scripted Recursive Reflector sessions that read like the conversation they stand for."""

from __future__ import annotations

import pprint
from collections.abc import Iterable, Mapping
from typing import Any


def code_reply(code: str, prose: str = "Let me look at the data.") -> str:
    """A model turn: a sentence, then one ```python block."""
    return f"{prose}\n```python\n{code.strip()}\n```"


def final_code(result: Mapping[str, Any]) -> str:
    """Code calling ``FINAL`` with ``result`` written as a Python literal."""
    return f"FINAL({pprint.pformat(dict(result), sort_dicts=False)})"


def explore_then_final(cells: Iterable[str], final: Mapping[str, Any] | str) -> list[str]:
    """Replies that run each exploration cell, then end with FINAL.

    ``final`` is the reflection dict, or code that calls FINAL/FINAL_VAR itself.
    """
    replies = [code_reply(cell) for cell in cells]
    last = final if isinstance(final, str) else final_code(final)
    replies.append(code_reply(last, "I have enough evidence."))
    return replies


def reflection(agent: str | None = None, step: int | None = None, **fields: Any) -> dict[str, Any]:
    """A minimal valid reflection dict, with an attribution when ``agent``/``step`` are given."""
    out: dict[str, Any] = {
        "reasoning": "scripted analysis",
        "error_identification": "scripted error",
        "key_insight": "scripted insight",
        **fields,
    }
    if agent is not None or step is not None:
        out["attribution"] = {"agent": agent, "step": step, "reason": "scripted"}
    return out
