"""What the code policy allows and refuses, shared by the compile-time and run-time checks.

Names here are the policy; the transformer and the guards only apply them.
"""

from __future__ import annotations

from types import MappingProxyType

ALLOWED_MODULES = frozenset(
    {
        "bisect",
        "collections",
        "datetime",
        "difflib",
        "functools",
        "heapq",
        "itertools",
        "json",
        "math",
        "operator",
        "re",
        "statistics",
        "string",
        "textwrap",
    }
)
"""Pure modules a cell may import (as read-only views of their public names)."""

HARMLESS_READS = frozenset(
    {"__name__", "__qualname__", "__doc__", "__module__", "_asdict", "_replace", "_fields", "_make"}
)
"""Underscore attributes any object may be read for: strings, or namedtuple's public API."""

DEFINABLE_DUNDERS = frozenset(
    {
        "__init__",
        "__repr__",
        "__str__",
        "__format__",
        "__len__",
        "__iter__",
        "__next__",
        "__reversed__",
        "__contains__",
        "__getitem__",
        "__setitem__",
        "__delitem__",
        "__missing__",
        "__eq__",
        "__ne__",
        "__lt__",
        "__le__",
        "__gt__",
        "__ge__",
        "__hash__",
        "__bool__",
        "__call__",
        "__enter__",
        "__exit__",
        "__add__",
        "__radd__",
        "__iadd__",
        "__sub__",
        "__rsub__",
        "__isub__",
        "__mul__",
        "__rmul__",
        "__imul__",
        "__truediv__",
        "__rtruediv__",
        "__floordiv__",
        "__mod__",
        "__neg__",
        "__pos__",
        "__abs__",
        "__and__",
        "__or__",
        "__xor__",
        "__int__",
        "__float__",
        "__round__",
    }
)
"""Dunder methods a cell's own class may define, and read back on its own objects.

Absent on purpose: hooks that change attribute lookup or class creation
(__getattribute__, __getattr__, __setattr__, __init_subclass__, __class_getitem__,
__set_name__, __get__/__set__, __new__), pickling (__reduce__*), finalisers (__del__),
and __index__ (C code calls it silently while slicing)."""

INTERNAL_ATTRS = frozenset(
    {
        "tb_frame",
        "tb_next",
        "f_back",
        "f_builtins",
        "f_code",
        "f_generator",
        "f_globals",
        "f_locals",
        "f_trace",
        "co_code",
        "co_consts",
        "co_names",
        "gi_frame",
        "gi_code",
        "gi_yieldfrom",
        "cr_await",
        "cr_frame",
        "cr_code",
        "cr_origin",
        "ag_await",
        "ag_frame",
        "ag_code",
    }
)
"""Public attribute names of frames, code objects, tracebacks and generators."""

UNAVAILABLE_BUILTINS = MappingProxyType(
    {
        "eval": "it would run code the policy never checked",
        "exec": "it would run code the policy never checked",
        "compile": "it would make code the policy never checked",
        "open": "the sandbox has no file access; the data is already in your variables",
        "input": "there is no console to read from",
        "globals": "the namespace is not reachable as a dict; use the names directly",
        "locals": "the namespace is not reachable as a dict; use the names directly",
        "vars": "object dicts are not reachable; read attributes by name",
        "breakpoint": "there is no debugger",
        "help": "there is no interactive help",
        "exit": "a cell cannot end the kernel",
        "quit": "a cell cannot end the kernel",
    }
)
"""Builtins a cell cannot use, with the reason its error message gives."""

HOOK_NAMES = frozenset({"_getattr_", "_write_", "_inplacevar_"})
"""Names the compiled code calls; they live in the builtins, never in a cell's globals."""

UNDERSCORE_HINTS = MappingProxyType(
    {
        "__class__": "use type(x)",
        "__dict__": "read attributes by name, or keep your own dict",
        "__builtins__": "builtins are not reachable",
        "__import__": "use an import statement",
    }
)


def is_hook_name(name: str) -> bool:
    """True for names of the form _name_ (and __name__), reserved for the policy."""
    return len(name) >= 3 and name[0] == "_" and name[-1] == "_"


def underscore_refusal(name: str) -> str:
    """The message for an underscore attribute the policy refuses."""
    hint = UNDERSCORE_HINTS.get(name)
    why = f'attribute "{name}" is not available: attributes starting with "_" are refused'
    if hint:
        return f"{why} ({hint})"
    return (
        f"{why} (readable: {', '.join(sorted(HARMLESS_READS - {'_make', '_fields'}))}, "
        "namedtuple helpers, and dunder methods of classes defined in cells)"
    )


def internal_refusal(name: str) -> str:
    """The message for an attribute that reaches interpreter internals."""
    return (
        f'attribute "{name}" is not available: it reaches interpreter internals '
        "(frames, code objects, tracebacks, suspended generators)"
    )
