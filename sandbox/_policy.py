"""The code policy of the kernel: compile a cell with our transformer, run it with our guards.

RestrictedPython is not a sandbox by itself; it narrows what cell code can name and
reach. The OS layer (namespaces, scrubbed environment, rlimits) is what holds if this
layer has a hole. See RR_DESIGN.md, "Sandbox: the code policy".
"""

from __future__ import annotations

import ast
import builtins
from types import CodeType
from typing import Any

from sandbox._policy_errors import PolicyError, PolicyViolation
from sandbox._policy_guards import (
    SafeType,
    guarded_build_class,
    guarded_delattr,
    guarded_getattr,
    guarded_hasattr,
    guarded_inplace,
    guarded_setattr,
    guarded_write,
)
from sandbox._policy_modules import Importer
from sandbox._policy_output import OutputBudget, make_print
from sandbox._policy_rules import HOOK_NAMES, UNAVAILABLE_BUILTINS
from sandbox._policy_transformer import CellTransformer, bound_names

__all__ = ["CellPolicy", "PolicyError", "PolicyViolation"]

_PLAIN_BUILTINS = (  # noqa: SIM905 (a word list reads better here)
    "abs all any ascii bin bool bytearray bytes callable chr classmethod complex dict dir "
    "divmod enumerate filter float format frozenset hash hex id int isinstance issubclass "
    "iter len list map max min next object oct ord pow property range repr reversed round "
    "set slice sorted staticmethod str sum super tuple zip "
    "None True False Ellipsis NotImplemented"
).split()
# except* and exception groups stay out: RestrictedPython refuses try/except* after an
# escape through it, and nothing in trace analysis needs them.
_EXCEPTIONS = tuple(
    name
    for name, value in vars(builtins).items()
    if isinstance(value, type)
    and issubclass(value, BaseException)
    and not issubclass(value, BaseExceptionGroup)
)


def _unavailable(name: str, reason: str) -> Any:
    def refuse(*args: object, **kwargs: object) -> Any:
        raise PolicyError(f"{name}() is not available: {reason}")

    refuse.__name__ = refuse.__qualname__ = name
    return refuse


class CellPolicy:
    """Compiles and runs kernel cells under the sandbox's code policy.

    One instance serves any number of namespaces (sessions). A namespace keeps its
    state across cells; the guards live in its builtins dict, out of the cells' reach.
    """

    def __init__(self, *, max_output_chars: int | None = 100_000) -> None:
        self._output = OutputBudget(max_output_chars)
        self._builtins = self._make_builtins()

    def compile(self, source: str, filename: str = "<cell>") -> CodeType:
        """Check and compile one cell.

        Raises `SyntaxError` for code that is not Python, and `PolicyViolation` (a
        `SyntaxError`) naming each refused construct and its line.
        """
        errors: list[str] = []
        try:
            tree = ast.parse(source, filename, "exec")
            new_tree = CellTransformer(errors, bound_names(tree)).visit(tree)
            if errors:
                raise PolicyViolation(errors, filename)
            ast.fix_missing_locations(new_tree)
            return compile(new_tree, filename, "exec", dont_inherit=True)
        except ValueError as exc:  # e.g. null bytes in the source
            raise SyntaxError(str(exc)) from None
        except (RecursionError, MemoryError):
            raise PolicyViolation(
                ["line 1: the cell is nested too deeply to check"], filename
            ) from None

    def new_namespace(self) -> dict[str, Any]:
        """Fresh globals for one session, with the guarded builtins."""
        return {"__name__": "__main__", "__builtins__": self._builtins}

    def exec(self, code: CodeType, namespace: dict[str, Any]) -> None:
        """Run a compiled cell in `namespace`; `print` goes to the current `sys.stdout`."""
        if namespace.get("__builtins__") is not self._builtins:
            namespace["__builtins__"] = self._builtins
        for hook in HOOK_NAMES.intersection(namespace):
            del namespace[hook]
        self._output.reset()
        exec(code, namespace)

    def _make_builtins(self) -> dict[str, Any]:
        table: dict[str, Any] = {name: getattr(builtins, name) for name in _PLAIN_BUILTINS}
        table.update((name, getattr(builtins, name)) for name in _EXCEPTIONS)
        table.update(
            (name, _unavailable(name, reason)) for name, reason in UNAVAILABLE_BUILTINS.items()
        )
        table.update(
            {
                "getattr": guarded_getattr,
                "hasattr": guarded_hasattr,
                "setattr": guarded_setattr,
                "delattr": guarded_delattr,
                "type": SafeType,
                "print": make_print(self._output),
                "__import__": Importer(),
                "__build_class__": guarded_build_class,
                "_getattr_": guarded_getattr,
                "_write_": guarded_write,
                "_inplacevar_": guarded_inplace,
            }
        )
        return table
