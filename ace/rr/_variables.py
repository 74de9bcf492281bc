"""SHOW_VARS: which names the model's cells defined, read from the code on the host.

The host parses each cleanly-run cell and records the top-level names it binds
(assignments, definitions, imports, loop and ``with`` targets, walrus). This needs no
trip into the kernel, so ``SHOW_VARS()`` can answer while a cell is running; it lists
names as of the end of the previous cell.
"""

from __future__ import annotations

import ast

from ace.prompting import render_prompt

BUILTIN_NAMES = ("trace", "traces", "tasks", "skillbook")
"""Names every session's kernel holds; ``prompts/rr/kernel_names.j2`` describes each."""


class VariableTracker:
    """Names bound by earlier cells, with the iteration that last bound each."""

    def __init__(self) -> None:
        self.names: dict[str, int] = {}

    def record(self, code: str, iteration: int) -> None:
        """Remember the names ``code`` binds at top level (unparsable code binds nothing)."""
        try:
            tree = ast.parse(code)
        except SyntaxError:
            return
        for name in _bound_names(tree):
            self.names[name] = iteration

    def forget(self, names: list[str]) -> None:
        """Drop names the kernel lost in a restart."""
        for name in names:
            self.names.pop(name, None)

    def show(self) -> dict[str, str]:
        """Host side of ``SHOW_VARS()``."""
        shown = {n: render_prompt("rr/kernel_names.j2", part=n) for n in BUILTIN_NAMES}
        for name, iteration in sorted(self.names.items()):
            shown[name] = render_prompt("rr/kernel_names.j2", part="defined", iteration=iteration)
        return shown


def _bound_names(tree: ast.Module) -> list[str]:
    names: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.append(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.extend((a.asname or a.name).split(".")[0] for a in node.names)
        else:
            for sub in _walk_module_level(node):
                if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                    names.append(sub.id)
    return names


def _walk_module_level(node: ast.AST) -> list[ast.AST]:
    """Nodes of a statement, not descending into function, class or lambda bodies."""
    out: list[ast.AST] = []
    stack = [node]
    while stack:
        current = stack.pop()
        out.append(current)
        for child in ast.iter_child_nodes(current):
            if not isinstance(
                child,
                ast.FunctionDef
                | ast.AsyncFunctionDef
                | ast.ClassDef
                | ast.Lambda
                | ast.comprehension,
            ):
                stack.append(child)
    return out
