"""Finding the code in a model reply.

In order of preference: fenced blocks (```python, ```py, ```repl, bare ``` or ~~~; all
blocks run, in order; an unclosed fence at the end counts), then a bare ``FINAL(...)``
or ``FINAL_VAR(...)`` call in prose, then, as a last resort, a JSON object that looks
like a reflection (the model answered directly instead of writing code).
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from ace._text import clean_json
from ace.rr._final import REFLECTION_KEYS

_FENCE = re.compile(
    r"(?P<fence>`{3,}|~{3,})[ \t]*(?P<lang>[\w+.-]*)[^\n]*\n(?P<body>.*?)(?:\n[ \t]*(?P=fence)[ \t]*(?:\n|$)|\Z)",
    re.DOTALL,
)
_CODE_LANGS = {"", "python", "py", "python3", "repl", "ipython", "pycon"}
_MAX_JSON_STARTS = 64  # bounds the quadratic scan on brace-heavy replies
_FINAL_CALL = re.compile(r"\bFINAL(?:_VAR)?\s*\(")


@dataclass(frozen=True)
class Extracted:
    """What a reply contained: code to run, a direct JSON answer, or nothing."""

    kind: Literal["code", "final_call", "json", "none"]
    code: str = ""
    answer: dict[str, Any] | None = None


def extract(reply: str) -> Extracted:
    """Classify ``reply`` and pull out what should run. Never raises."""
    blocks = [
        m.group("body").strip("\n")
        for m in _FENCE.finditer(reply)
        if m.group("lang").lower() in _CODE_LANGS and m.group("body").strip()
    ]
    if blocks:
        return Extracted("code", "\n\n".join(blocks))
    call = _bare_final_call(reply)
    if call is not None:
        return Extracted("final_call", call)
    answer = _reflection_json(reply)
    if answer is not None:
        return Extracted("json", answer=answer)
    return Extracted("none")


def _bare_final_call(text: str) -> str | None:
    for match in _FINAL_CALL.finditer(text):
        end = _balanced_end(text, match.end() - 1, "(", ")")
        if end is not None:
            return text[match.start() : end + 1]
    return None


def reflection_value(text: str) -> dict[str, Any] | None:
    """The first dict in ``text`` that looks like a reflection, written as JSON or as a
    Python literal (single quotes, ``None``), wherever it is: in prose, in a fence, or as
    the argument of a ``FINAL(...)`` that will not run. For answers that are not executed."""
    return _reflection_json(text, python_literals=True)


def _reflection_json(text: str, *, python_literals: bool = False) -> dict[str, Any] | None:
    starts = [i for i, ch in enumerate(text) if ch == "{"][:_MAX_JSON_STARTS]
    for start in starts:
        end = _balanced_end(text, start, "{", "}")
        if end is None:
            continue
        value = _parse(text[start : end + 1], python_literals)
        if isinstance(value, dict) and REFLECTION_KEYS & value.keys():
            return value
    return None


def _parse(candidate: str, python_literals: bool) -> Any:
    # JSON escapes make lone surrogates ("\\ud800") out of ASCII text: clean after parsing.
    try:
        return clean_json(json.loads(candidate))
    except (ValueError, RecursionError, MemoryError):
        pass
    if python_literals:
        try:  # literal_eval evaluates literals only: nothing in the text can run
            return clean_json(ast.literal_eval(candidate))
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            pass
    return None


def _balanced_end(text: str, start: int, open_ch: str, close_ch: str) -> int | None:
    """Index of the bracket closing the one at ``start``, skipping string literals."""
    depth = 0
    quote: str | None = None
    escaped = False
    for i in range(start, len(text)):
        ch = text[i]
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch == open_ch:
            depth += 1
        elif ch == close_ch:
            depth -= 1
            if depth == 0:
                return i
    return None
