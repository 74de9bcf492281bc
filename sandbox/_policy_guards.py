"""Run-time half of the code policy: the functions compiled cells call for attribute
reads (`_getattr_`), writes (`_write_`), `obj.attr op= v` (`_inplacevar_`) and class
statements (`__build_class__`), plus the guarded `getattr`/`setattr`/`delattr`/`type`.

They live in the builtins dict of a cell namespace, which cell code cannot reach: the
names `_getattr_`, `__builtins__`, `globals()` and every attribute that leads to a
function's globals are refused.
"""

from __future__ import annotations

import builtins
import enum
import operator
import string
import types
from abc import ABCMeta
from collections import deque
from collections.abc import Callable
from typing import Any, NoReturn, cast

from sandbox._policy_errors import PolicyError
from sandbox._policy_format import guard_format_value
from sandbox._policy_rules import (
    DEFINABLE_DUNDERS,
    HARMLESS_READS,
    INTERNAL_ATTRS,
    internal_refusal,
    underscore_refusal,
)

_CELL_MARK = "__sandbox_cell_class__"
_CELL = object()  # the mark's value: unreachable from cells, so it cannot be forged

_OPAQUE_TYPES = (types.FrameType, types.CodeType, types.TracebackType)
_SUSPENDABLE_TYPES = (types.GeneratorType, types.CoroutineType, types.AsyncGeneratorType)
_SUSPENDABLE_PREFIXES = ("gi_", "cr_", "ag_")
_FORMAT_NAMES = frozenset({"format", "format_map", "vformat", "get_field", "get_value"})
_SAFE_VALUE_TYPES = frozenset(
    {
        types.BuiltinMethodType,
        types.MethodType,
        types.FunctionType,
        types.MethodWrapperType,
        str,
        int,
        float,
        bool,
        type(None),
        tuple,
        bytes,
        complex,
        frozenset,
    }
)
_MUTABLE = (dict, list, set, bytearray, deque)
_SHARED_READ_ONLY = (
    type,
    types.ModuleType,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    types.MethodWrapperType,
    types.WrapperDescriptorType,
    types.MethodDescriptorType,
    enum.Enum,
)
_INPLACE: dict[str, Callable[[Any, Any], Any]] = {
    "+=": operator.iadd,
    "-=": operator.isub,
    "*=": operator.imul,
    "/=": operator.itruediv,
    "//=": operator.ifloordiv,
    "%=": operator.imod,
    "**=": operator.ipow,
    "<<=": operator.ilshift,
    ">>=": operator.irshift,
    "|=": operator.ior,
    "^=": operator.ixor,
    "&=": operator.iand,
    "@=": operator.imatmul,
}


def is_cell_class(cls: object) -> bool:
    """True if `cls` was created by a class statement in a cell (or inherits from one)."""
    return getattr(cls, _CELL_MARK, None) is _CELL


def _is_cell_owned(obj: object) -> bool:
    if isinstance(obj, type):
        return is_cell_class(obj)
    if isinstance(obj, super):
        return is_cell_class(cast(Any, obj).__thisclass__)
    return is_cell_class(type(obj))


def _registers_library_abc(value: object) -> bool:
    """Whether `value` is ABCMeta.register itself, or bound to a class whose MRO holds an
    ABC that no cell defined (judged on the value: every path to it ends here)."""
    function = getattr(value, "__func__", value)
    if function is not ABCMeta.register:
        return False
    owner = getattr(value, "__self__", None)
    if not isinstance(owner, type):
        return True  # the plain function: callable on any class
    return any(isinstance(k, ABCMeta) and not is_cell_class(k) for k in owner.__mro__)


def _refuse(message: str) -> NoReturn:
    raise PolicyError(message)


def _check_name(obj: object, name: object) -> str:
    if type(name) is not str:
        _refuse(f"attribute names must be str, got {type(name).__name__}")
    if name[:1] == "_":
        if name in HARMLESS_READS:
            return name
        if name in DEFINABLE_DUNDERS:
            if _is_cell_owned(obj):
                return name
            _refuse(
                f'attribute "{name}" can only be read on classes defined in cells and their '
                f"objects, not on {type(obj).__name__}"
            )
        _refuse(underscore_refusal(name))
    if name in INTERNAL_ATTRS:
        _refuse(internal_refusal(name))
    return name


def guarded_getattr(obj: object, name: str, *default: object) -> Any:
    """`getattr` under the policy: the `_getattr_` hook and the cell's `getattr`."""
    _check_name(obj, name)
    if isinstance(obj, _OPAQUE_TYPES):
        _refuse(f"{type(obj).__name__} objects are interpreter internals; no attribute is readable")
    if isinstance(obj, _SUSPENDABLE_TYPES) and name.startswith(_SUSPENDABLE_PREFIXES):
        _refuse(internal_refusal(name))
    try:
        value = getattr(obj, name)
    except AttributeError:
        if default:
            return default[0]
        raise
    if name == "register" and _registers_library_abc(value):
        _refuse(
            "register() on a class derived from a library ABC would change isinstance() "
            "for library code in the whole kernel"
        )
    if name in _FORMAT_NAMES:
        return guard_format_value(obj, value)
    if type(value) in _SAFE_VALUE_TYPES:
        return value
    return _filter_shared(obj, name, value)


def _filter_shared(obj: object, name: str, value: object) -> object:
    """Refuse modules, and mutable state that library classes share with the host."""
    if isinstance(value, types.ModuleType):
        _refuse(f'"{name}" is a module; import allowed modules with an import statement')
    if not isinstance(value, _MUTABLE) or _owns_value(obj, name):
        return value
    owner = obj.__name__ if isinstance(obj, type) else type(obj).__name__
    _refuse(
        f'"{owner}.{name}" is mutable state of a library class, shared with the host; '
        "make your own copy of what you need"
    )


def _owns_value(obj: object, name: str) -> bool:
    """True if `obj.name` is stored on the object itself or on a class a cell defined."""
    if isinstance(obj, super):
        mro = cast(Any, obj).__self_class__.__mro__
        mro = mro[mro.index(cast(Any, obj).__thisclass__) + 1 :]
    elif isinstance(obj, type):
        mro = obj.__mro__
    else:
        try:
            own = object.__getattribute__(obj, "__dict__")
        except AttributeError:
            own = None
        if type(own) is dict and name in own:
            return True
        mro = type(obj).__mro__
    for klass in mro:
        namespace = vars(klass)
        if name in namespace:
            return namespace.get(_CELL_MARK) is _CELL
    return False


def guarded_hasattr(obj: object, name: str) -> bool:
    """`hasattr` answers for every name: a bool reveals no object."""
    if type(name) is not str:
        raise TypeError("hasattr(): attribute name must be string")
    return builtins.hasattr(obj, name)


class _ReadOnly:
    """What `_write_` hands back for objects shared with the host: every write fails."""

    __slots__ = ("_kind",)
    _kind: str

    def __init__(self, obj: object) -> None:
        kind = obj.__name__ if isinstance(obj, type) else type(obj).__name__
        object.__setattr__(self, "_kind", kind)

    def _deny(self, *args: object) -> NoReturn:
        _refuse(
            f"{self._kind} is read-only in the sandbox: modules, library classes, functions "
            "and enum members are shared with the host"
        )

    __setattr__ = __delattr__ = __setitem__ = __delitem__ = __getitem__ = _deny


def guarded_write(obj: Any) -> Any:
    """The `_write_` hook: the object itself when the cell may change it."""
    if type(obj) is dict or type(obj) is list or _is_cell_owned(obj):
        return obj
    if isinstance(obj, _SHARED_READ_ONLY):
        return _ReadOnly(obj)
    return obj


def guarded_setattr(obj: object, name: str, value: object) -> None:
    """`setattr` under the policy."""
    _check_writable_name(name)
    setattr(guarded_write(obj), name, value)


def guarded_delattr(obj: object, name: str) -> None:
    """`delattr` under the policy."""
    _check_writable_name(name)
    delattr(guarded_write(obj), name)


def _check_writable_name(name: object) -> None:
    if type(name) is not str:
        _refuse(f"attribute names must be str, got {type(name).__name__}")
    if name.startswith("_"):
        _refuse(f'writing attribute "{name}" is not allowed: it starts with "_"')
    if name in INTERNAL_ATTRS:
        _refuse(internal_refusal(name))


def guarded_inplace(op: str, left: Any, right: Any) -> Any:
    """The `_inplacevar_` hook, for `obj.attr op= value`."""
    return _INPLACE[op](left, right)


class _TypeMeta(type):
    def __instancecheck__(cls, obj: object) -> bool:
        return isinstance(obj, type)

    def __subclasscheck__(cls, sub: type) -> bool:
        return issubclass(sub, type)

    def __call__(cls, *args: object, **kwargs: object) -> Any:
        if len(args) != 1 or kwargs:
            _refuse("type() with three arguments is not allowed; use a class statement")
        result = type(args[0])
        if result is type:
            return cls
        if issubclass(result, type):
            _refuse(f"type() of a class with metaclass {result.__name__} is not available")
        return result


class SafeType(metaclass=_TypeMeta):
    """The cell's `type`: one-argument form only; `type(cls)` gives this stand-in back."""


SafeType.__name__ = SafeType.__qualname__ = "type"
SafeType.__module__ = "builtins"


def guarded_build_class(func: Callable[[], None], name: str, *bases: Any, **kw: Any) -> type:
    """The `__build_class__` builtin: no metaclasses, then mark the class as the cell's."""
    if kw:
        _refuse(f'class "{name}": keyword arguments such as metaclass= are not allowed')
    for base in bases:
        if isinstance(base, type) and issubclass(base, type):
            _refuse(f'class "{name}": metaclasses are not allowed')
        if type(base) not in (type, ABCMeta) or base is SafeType or base is super:
            _refuse(f'class "{name}": cannot subclass {getattr(base, "__name__", base)!r}')
        if isinstance(base, type) and issubclass(base, string.Formatter):
            _refuse(f'class "{name}": string.Formatter is not available')
    cls: type = builtins.__build_class__(func, name, *bases)  # type: ignore[attr-defined]
    type.__setattr__(cls, _CELL_MARK, _CELL)
    return cls
