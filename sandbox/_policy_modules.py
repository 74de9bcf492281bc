"""Imports under the policy: read-only views of the allowed modules.

A cell never holds a real module. A view exposes a module's public API (its `__all__`,
or its public names) minus submodules and mutable values, so `re.enum.sys` and
`json.loads = ...` lead nowhere, and the host's own copy of each module stays intact.
A few functions are replaced or removed because they walk attributes, copy namespaces
or evaluate strings on the caller's behalf.
"""

from __future__ import annotations

import datetime
import functools
import importlib
import re
import types
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

from sandbox._policy_errors import PolicyError
from sandbox._policy_guards import guarded_getattr, is_cell_class
from sandbox._policy_rules import ALLOWED_MODULES

_CONSTANT_TYPES = (
    str,
    bytes,
    int,
    float,
    complex,
    tuple,
    frozenset,
    type(None),
    datetime.timezone,
    re.RegexFlag,
)


def _attrgetter(attr: str, /, *attrs: str) -> Callable[[Any], Any]:
    """`operator.attrgetter` that reads through the policy's getattr."""
    paths = [tuple(a.split(".")) for a in (attr, *attrs)]
    for a in (attr, *attrs):
        if type(a) is not str:
            raise TypeError("attribute name must be a string")

    def resolve(obj: Any, path: tuple[str, ...]) -> Any:
        for part in path:
            obj = guarded_getattr(obj, part)
        return obj

    def get(obj: Any) -> Any:
        if len(paths) == 1:
            return resolve(obj, paths[0])
        return tuple(resolve(obj, p) for p in paths)

    return get


def _methodcaller(name: str, /, *args: Any, **kwargs: Any) -> Callable[[Any], Any]:
    """`operator.methodcaller` that looks the method up through the policy's getattr."""
    if type(name) is not str:
        raise TypeError("method name must be a string")

    def call(obj: Any) -> Any:
        return guarded_getattr(obj, name)(*args, **kwargs)

    return call


def _total_ordering(cls: type) -> type:
    """`functools.total_ordering`, for classes defined in cells only."""
    if not is_cell_class(cls):
        raise PolicyError("total_ordering() applies only to classes defined in cells")
    return functools.total_ordering(cls)


_REPLACED: Mapping[str, Mapping[str, object]] = {
    "operator": {"attrgetter": _attrgetter, "methodcaller": _methodcaller},
    "functools": {"total_ordering": _total_ordering},
}
# singledispatch evaluates string annotations with real eval; update_wrapper/wraps copy
# arbitrary attributes (assigned=, updated=) between objects; Formatter walks fields.
_REMOVED: Mapping[str, frozenset[str]] = {
    "functools": frozenset({"singledispatch", "singledispatchmethod", "update_wrapper", "wraps"}),
    "string": frozenset({"Formatter"}),
}


class ModuleView:
    """A read-only stand-in for one allowed module."""

    __slots__ = ("_members", "_withheld")

    def __init__(self, members: Mapping[str, object], withheld: frozenset[str]) -> None:
        object.__setattr__(self, "_members", types.MappingProxyType(dict(members)))
        object.__setattr__(self, "_withheld", withheld)

    def __getattr__(self, name: str) -> object:
        members: Mapping[str, object] = object.__getattribute__(self, "_members")
        try:
            return members[name]
        except KeyError:
            if name in object.__getattribute__(self, "_withheld"):
                raise PolicyError(
                    f"{members['__name__']}.{name} is not available in the sandbox: only "
                    "public functions, classes and constants of allowed modules are"
                ) from None
            raise AttributeError(
                f"module {members['__name__']!r} has no attribute {name!r} in the sandbox"
            ) from None

    def _deny(self, *args: object) -> NoReturn:
        raise PolicyError(f"module {self.__name__!r} is read-only in the sandbox")

    __setattr__ = __delattr__ = _deny

    def __repr__(self) -> str:
        return f"<module {self.__name__!r} (sandbox view)>"

    def __dir__(self) -> list[str]:
        members: Mapping[str, object] = object.__getattribute__(self, "_members")
        return sorted(members)


def build_view(name: str) -> ModuleView:
    """The view of one allowed module."""
    module = importlib.import_module(name)
    public = getattr(module, "__all__", None) or [n for n in dir(module) if not n.startswith("_")]
    replaced = _REPLACED.get(name, {})
    removed = _REMOVED.get(name, frozenset())
    members: dict[str, object] = {"__name__": name, "__doc__": module.__doc__}
    for attr in public:
        if attr.startswith("_") or attr in removed:
            continue
        value = replaced.get(attr, getattr(module, attr, None))
        if isinstance(value, types.ModuleType):
            continue
        if callable(value) or isinstance(value, _CONSTANT_TYPES):
            members[attr] = value
    withheld = frozenset(n for n in dir(module) if n not in members)
    return ModuleView(members, withheld)


class Importer:
    """The `__import__` builtin of a cell namespace: allowed modules, as views."""

    def __init__(self) -> None:
        self._views: dict[str, ModuleView] = {}

    def __call__(
        self,
        name: str,
        globals: object = None,
        locals: object = None,
        fromlist: object = (),
        level: int = 0,
    ) -> ModuleView | None:
        if type(fromlist) is list and level == 0:
            # Only C code calls __import__ with a list (PyImport_Import, e.g. datetime
            # loading _strptime): the module name is the library's, not the cell's, and
            # PyImport_Import drops the return value and reads sys.modules instead.
            importlib.import_module(name)
            return None
        if level != 0:
            raise PolicyError("relative imports are not allowed")
        if name not in ALLOWED_MODULES:
            raise PolicyError(
                f'import of "{name}" is not allowed; allowed modules: '
                + ", ".join(sorted(ALLOWED_MODULES))
            )
        view = self._views.get(name)
        if view is None:
            view = self._views[name] = build_view(name)
        return view
