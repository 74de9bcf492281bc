"""Errors of the code policy.

Both are about the cell, not the sandbox: the kernel reports them as the cell's error so
the model can read the message and change its code::

    PolicyViolation (SyntaxError)  compile time: the cell uses a refused construct
    PolicyError (Exception)        run time: the cell reached a refused object or name
"""

from __future__ import annotations

from collections.abc import Sequence


class PolicyViolation(SyntaxError):
    """A cell was refused before it ran; `errors` names each refused construct and line."""

    def __init__(self, errors: Sequence[str], filename: str = "<cell>") -> None:
        self.errors = tuple(errors)
        """One "line N: what was refused and why" entry per problem found."""
        lines = "\n".join(f"  {e}" for e in self.errors)
        super().__init__(f"cell refused by the sandbox code policy:\n{lines}")
        self.filename = filename
        self.lineno = _first_line(self.errors)

    def __str__(self) -> str:
        return str(self.msg)


class PolicyError(Exception):
    """A running cell tried something the policy refuses (the message says what and why)."""


def _first_line(errors: Sequence[str]) -> int | None:
    for e in errors:
        head = e.split(":", 1)[0]
        if head.startswith("line ") and head[5:].isdigit():
            return int(head[5:])
    return None
