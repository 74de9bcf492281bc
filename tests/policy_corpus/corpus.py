"""Load the benign corpus and run one cell with output captured.

Shared by record.py (plain CPython), the policy tests and the overhead benchmark, so
all of them run a cell the same way: a fresh namespace holding `traces` and `ask_llm`,
stdout captured, warnings recorded, an exception reported as its last output line.

traces.json holds three Who&When records (algorithm_generated/47 and 93, hand_crafted/33;
MIT licence in traces.LICENSE) with the evaluation labels (mistake_*, is_correct) removed.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from types import CodeType
from typing import Any

HERE = Path(__file__).resolve().parent
CELLS_FILE = HERE / "cells.py"
TRACES_FILE = HERE / "traces.json"
EXPECTED_FILE = HERE / "expected.json"

_MARK = re.compile(r"^# %% (\S+)\s*$", re.MULTILINE)
_TRACES: list[Any] | None = None


def load_cells() -> list[tuple[str, str]]:
    """Every cell as (name, source), in file order."""
    text = CELLS_FILE.read_text(encoding="utf-8")
    marks = list(_MARK.finditer(text))
    cells = []
    for m, nxt in zip(marks, [*marks[1:], None]):
        end = nxt.start() if nxt else len(text)
        cells.append((m.group(1), text[m.end() : end].strip("\n") + "\n"))
    names = [n for n, _ in cells]
    assert len(names) == len(set(names)), "duplicate cell names"
    return cells


def load_traces() -> list[Any]:
    """A fresh deep copy of the fixture traces (cells may mutate what they get)."""
    global _TRACES
    if _TRACES is None:
        _TRACES = json.loads(TRACES_FILE.read_text(encoding="utf-8"))
    return copy.deepcopy(_TRACES)


def ask_llm(question: str, context: str = "") -> str:
    """Deterministic stand-in for the host's sub-LLM call."""
    return f"stub answer: {question[:40]} ({len(context)} chars of context)"


def data() -> dict[str, Any]:
    """What the kernel injects into a session: the traces and the host functions."""
    return {"traces": load_traces(), "ask_llm": ask_llm}


def run_cell(
    source: str,
    name: str,
    namespace: dict[str, Any],
    compile_fn: Callable[[str, str], CodeType],
    exec_fn: Callable[[CodeType, dict[str, Any]], None],
) -> str:
    """Compile and run one cell; return its stdout, warnings and any exception as text."""
    out = io.StringIO()
    with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(out):
        warnings.simplefilter("always")
        try:
            code = compile_fn(source, f"<cell {name}>")
            exec_fn(code, namespace)
        except Exception as exc:  # the cell's failure is part of its output
            out.write(f"!! {type(exc).__name__}: {exc}\n")
    for w in caught:
        out.write(f"!! warning {w.category.__name__}: {w.message}\n")
    return out.getvalue()


def plain_compile(source: str, filename: str) -> CodeType:
    """Plain CPython compile, the reference."""
    return compile(source, filename, "exec", dont_inherit=True)


def plain_exec(code: CodeType, namespace: dict[str, Any]) -> None:
    """Plain CPython exec, the reference."""
    exec(code, namespace)


def plain_namespace() -> dict[str, Any]:
    """A fresh unrestricted namespace with the injected data."""
    return {"__name__": "__main__", **data()}


def load_expected() -> dict[str, str]:
    """The recorded plain-CPython output of every cell."""
    result: dict[str, str] = json.loads(EXPECTED_FILE.read_text(encoding="utf-8"))
    return result
