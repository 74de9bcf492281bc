"""Inside the kernel: record what a session's cells leave behind, so a new kernel can get it back.

After every cell the kernel reports a *delta* to the host, inside the execute reply:

- ``set``: name -> JSON text of each global whose JSON changed (a JSON round trip must give an
  equal value, so tuples, NaN, int dict keys and the like are not "JSON data" here);
- ``drop``: names reported before that are gone or no longer JSON data;
- ``defs``: when it changed, the whole ordered list of ``[name, source]`` of top-level
  ``def``/``class``/``import`` statements whose object is still bound to the name;
- ``unrestorable``: when it changed, the sorted names of every other global (instances of
  cell classes, lambdas, generators, values over the size cap, ...).

The host keeps the latest state and, after a kernel death, sends it back for `restore`.
Injected data and host-function stubs are not recorded: the host replays them itself, as long
as the name still holds the object the host put there. Values are serialised here by trusted
kernel code, never by cell code, and the host never parses them (it only stores the text).

Cost: every JSON-able global is serialised after each cell (orjson: ~1 GB/s), so a session's
restorable state is bounded by ``max_bytes``; a value estimated far over the cap from a sample
of its elements is refused without serialising it, and remembered by identity.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

try:
    import orjson

    _STRICT = (
        orjson.OPT_PASSTHROUGH_DATACLASS
        | orjson.OPT_PASSTHROUGH_DATETIME
        | orjson.OPT_PASSTHROUGH_SUBCLASS
    )

    def _dumps(value: Any) -> bytes:
        return orjson.dumps(value, option=_STRICT)

    _loads: Callable[[bytes | str], Any] = orjson.loads
except ImportError:  # pragma: no cover - orjson is bound into the sandbox

    def _dumps(value: Any) -> bytes:
        return json.dumps(value, allow_nan=False, separators=(",", ":")).encode()

    _loads = json.loads

_FAILS = (TypeError, ValueError, RecursionError, MemoryError, OverflowError)
_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom)
_SAMPLE = 8
_ESTIMATE_DEPTH = 4


def estimate_json_bytes(value: Any, depth: int = 0) -> int:
    """A cheap guess of the JSON size of `value`, from at most a few thousand elements.

    Used only to refuse values far over the cap without serialising them (a 100 MB list
    derived from the trace would cost ~0.1 s and 100 MB of memory per look).
    """
    if isinstance(value, str):
        return len(value) + 2
    if isinstance(value, (list, tuple, dict)):
        if depth >= _ESTIMATE_DEPTH:
            return 2 + len(value)
        items = list(value.items()) if isinstance(value, dict) else value
        count = len(items)
        if count <= _SAMPLE:
            picked = list(items)
        else:
            step = count / _SAMPLE
            picked = [items[int(i * step)] for i in range(_SAMPLE)]
        total = sum(estimate_json_bytes(item, depth + 1) + 1 for item in picked)
        return 2 + (total * count // max(len(picked), 1))
    return 8


@dataclass
class CellRecord:
    """What `StateRecorder.before` learnt from a cell's source."""

    definitions: list[tuple[str, str]] = field(default_factory=list)
    """(name, source) of each top-level def/class/import, in order."""
    previous: dict[str, Any] = field(default_factory=dict)
    """The object each defined name held before the cell (to tell whether it ran)."""


def _definitions(source: str) -> list[tuple[str, str]]:
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    lines = source.splitlines(keepends=True)
    found: list[tuple[str, str]] = []
    for node in tree.body:
        if not isinstance(node, _DEFINITIONS):
            continue
        decorators = getattr(node, "decorator_list", [])
        if decorators:  # a decorator starts its own line: take whole lines from the first '@'
            segment = "".join(lines[decorators[0].lineno - 1 : node.end_lineno])
        else:
            segment = ast.get_source_segment(source, node) or ""
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.asname or a.name.split(".")[0] for a in node.names if a.name != "*"]
        else:
            names = [node.name]
        found += [(name, segment) for name in names]
    return found


class StateRecorder:
    """Tracks the restorable state of one kernel namespace (see the module docstring)."""

    def __init__(self, max_bytes: int | None) -> None:
        self.max_bytes = max_bytes
        self._kept: dict[str, Any] = {}  # injected values and host stubs, by name
        self._sent: dict[str, bytes] = {}  # JSON text the host holds, by name
        self._too_big: dict[str, int] = {}  # name -> id() of a value found over the cap
        self._defs: dict[str, tuple[str, Any]] = {}  # name -> (source, object), in order
        self._reported_defs: list[list[str]] = []
        self._reported_unrestorable: list[str] = []

    def keep(self, name: str, value: Any) -> None:
        """`value` under `name` is the host's to restore (injected data, a host stub)."""
        self._kept[name] = value

    def before(self, source: str, namespace: dict[str, Any]) -> CellRecord:
        """Look at a cell before it runs."""
        definitions = _definitions(source)
        return CellRecord(definitions, {name: namespace.get(name) for name, _ in definitions})

    def after(self, cell: CellRecord, namespace: dict[str, Any], ok: bool) -> dict[str, Any]:
        """The delta for the host after the cell ran (`ok`: without an exception)."""
        for name, source in cell.definitions:
            value = namespace.get(name)
            if value is None or (not ok and value is cell.previous.get(name)):
                continue  # the statement did not run (the cell failed before it)
            self._defs.pop(name, None)  # re-insert: replay order follows the latest definition
            self._defs[name] = (source, value)
        for name in [n for n, (_s, obj) in self._defs.items() if namespace.get(n) is not obj]:
            del self._defs[name]
        budget = None if self.max_bytes is None else self.max_bytes
        if budget is not None:
            budget -= sum(len(source) for source, _obj in self._defs.values())
        sent: dict[str, bytes] = {}
        changed: dict[str, str] = {}
        unrestorable: list[str] = []
        for name, value in list(namespace.items()):
            if name.startswith("__") or name in self._defs:
                continue
            if name in self._kept and self._kept[name] is value:
                continue
            data = self._snapshot(name, value, budget)
            if data is None:
                unrestorable.append(name)
                continue
            if budget is not None:
                budget -= len(data)
            sent[name] = data
            if self._sent.get(name) != data:
                changed[name] = data.decode()
        delta: dict[str, Any] = {}
        if changed:
            delta["set"] = changed
        dropped = sorted(set(self._sent) - set(sent))
        if dropped:
            delta["drop"] = dropped
        defs = [[name, source] for name, (source, _obj) in self._defs.items()]
        if defs != self._reported_defs:
            delta["defs"] = defs
        unrestorable.sort()
        if unrestorable != self._reported_unrestorable:
            delta["unrestorable"] = unrestorable
        # Committed only now: an interrupt in the middle leaves the last reported state.
        self._sent, self._reported_defs = sent, defs
        self._reported_unrestorable = unrestorable
        return delta

    def _snapshot(self, name: str, value: Any, budget: int | None) -> bytes | None:
        """The JSON of `value` if it round-trips and fits `budget`, else None."""
        if self._too_big.get(name) == id(value):
            return None
        self._too_big.pop(name, None)
        if self.max_bytes is not None and estimate_json_bytes(value) > 2 * self.max_bytes:
            self._too_big[name] = id(value)
            return None
        try:
            data = _dumps(value)
        except _FAILS:
            return None
        if self.max_bytes is not None and len(data) > self.max_bytes:
            self._too_big[name] = id(value)
            return None
        if budget is not None and len(data) > budget:
            return None
        if self._sent.get(name) == data:
            return data  # same text as a value that already passed the round trip
        try:
            same = bool(_loads(data) == value)
        except Exception:  # a JSON subclass's __eq__ (json fallback only) may raise
            same = False
        return data if same else None

    def restore(
        self,
        payload: dict[str, Any],
        namespace: dict[str, Any],
        run_definition: Callable[[str], None],
    ) -> dict[str, list[str]]:
        """Put a dead kernel's recorded state into this (fresh) namespace.

        `payload`: {"globals": {name: JSON text}, "defs": [[name, source], ...]}. JSON globals
        come first, because definitions may read them (default values, class bodies).
        """
        restored: list[str] = []
        lost: list[str] = []
        for name, text in payload.get("globals", {}).items():
            try:
                namespace[name] = _loads(text)
            except _FAILS:
                lost.append(name)
                continue
            self._sent[name] = text.encode()
            restored.append(name)
        outcome: dict[str, bool] = {}
        for name, source in payload.get("defs", []):
            if source not in outcome:
                try:
                    run_definition(source)
                    outcome[source] = True
                except Exception:
                    outcome[source] = False
            if outcome[source] and name in namespace:
                self._defs[name] = (source, namespace[name])
                restored.append(name)
            else:
                lost.append(name)
        self._reported_defs = [[n, s] for n, (s, _obj) in self._defs.items()]
        self._reported_unrestorable = []
        return {"restored": restored, "lost": lost}
