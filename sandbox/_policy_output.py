"""`print` for cells: writes to the `sys.stdout` of the moment, within a per-cell budget."""

from __future__ import annotations

import sys

from sandbox._policy_errors import PolicyError


class OutputBudget:
    """Characters a cell may still print; `reset()` at the start of each cell."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        """Characters per cell; None means unbounded."""
        self.left = limit
        self.cut = False

    def reset(self) -> None:
        """Give the next cell the full budget again."""
        self.left = self.limit
        self.cut = False


def make_print(budget: OutputBudget) -> object:
    """The cell's `print`, bound to one budget."""

    def print(
        *values: object,
        sep: str | None = " ",
        end: str | None = "\n",
        file: object = None,
        flush: bool = False,
    ) -> None:
        """Print to the cell's output (no file=: the sandbox has one output stream)."""
        if file is not None:
            raise PolicyError("print(file=...) is not available; print writes to the cell output")
        if sep is not None and not isinstance(sep, str):
            raise TypeError(f"sep must be None or a string, not {type(sep).__name__}")
        if end is not None and not isinstance(end, str):
            raise TypeError(f"end must be None or a string, not {type(end).__name__}")
        text = (" " if sep is None else sep).join(map(str, values)) + ("\n" if end is None else end)
        if budget.cut:
            return
        if budget.left is not None:
            if len(text) > budget.left:
                text = text[: budget.left] + (
                    f"\n[output cut: a cell may print {budget.limit} characters]\n"
                )
                budget.cut = True
                budget.left = 0
            else:
                budget.left -= len(text)
        out = sys.stdout
        out.write(text)
        if flush:
            out.flush()

    return print
