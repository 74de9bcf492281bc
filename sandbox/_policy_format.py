"""`str.format` and `str.format_map` without attribute walks outside the policy.

`"{0.__class__}".format(x)` looks attributes up in C, past every guard. A cell that
asks for `s.format` gets a stand-in: format strings whose fields are plain names or
numbers go straight to `str.format` (fast, identical output); a field that walks
(`{0.name}`, `{0[key]}`, a nested `{:{width}}`) is resolved step by step through the
policy's own `getattr`.
"""

from __future__ import annotations

import _string  # type: ignore[import-not-found]  # str.format's own parser
import string
import types
from collections import UserString
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sandbox._policy_errors import PolicyError

_STR_FORMAT = str.format
_STR_FORMAT_MAP = str.format_map
_FORMATTER_METHODS = frozenset({"format", "vformat", "get_field", "get_value"})


class _GuardedFormatter(string.Formatter):
    def get_field(self, field_name: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        from sandbox._policy_guards import guarded_getattr

        first, rest = _string.formatter_field_name_split(field_name)
        obj = self.get_value(first, args, kwargs)
        for is_attr, key in rest:
            obj = guarded_getattr(obj, key) if is_attr else obj[key]
        return obj, first


_FORMATTER = _GuardedFormatter()


def _walks(fmt: str) -> bool:
    for _literal, field, spec, _conversion in _string.formatter_parser(fmt):
        if field is not None and ("." in field or "[" in field or "{" in (spec or "")):
            return True
    return False


def safe_format(fmt: str, /, *args: Any, **kwargs: Any) -> str:
    """`str.format` with attribute walks guarded."""
    if not isinstance(fmt, str):
        raise TypeError(f"format() needs a str, got {type(fmt).__name__}")
    if not _walks(fmt):
        return _STR_FORMAT(fmt, *args, **kwargs)
    return _FORMATTER.vformat(fmt, args, kwargs)


def safe_format_map(fmt: str, mapping: Mapping[str, Any], /) -> str:
    """`str.format_map` with attribute walks guarded."""
    if not isinstance(fmt, str):
        raise TypeError(f"format_map() needs a str, got {type(fmt).__name__}")
    if not _walks(fmt):
        return _STR_FORMAT_MAP(fmt, mapping)
    return _FORMATTER.vformat(fmt, (), mapping)


_FORMATTER_FUNCTIONS = frozenset(getattr(string.Formatter, n) for n in _FORMATTER_METHODS)


def _user_string_format(self: object, /, *args: Any, **kwargs: Any) -> str:
    from sandbox._policy_guards import guarded_getattr

    return safe_format(guarded_getattr(self, "data"), *args, **kwargs)


def _user_string_format_map(self: object, mapping: Mapping[str, Any], /) -> str:
    from sandbox._policy_guards import guarded_getattr

    return safe_format_map(guarded_getattr(self, "data"), mapping)


FORWARDERS: dict[Callable[..., Any], Callable[..., Any]] = {
    UserString.format: _user_string_format,
    UserString.format_map: _user_string_format_map,
}
"""Library methods that hand a format string the caller controls to the real
``str.format``/``format_map``, and what a cell gets instead. Found by auditing the
allowed modules' sources for ``.format(``, ``format_map``, ``vformat`` and ``getattr(``
(RR_DESIGN.md, "The code policy": every other hit formats a fixed string, reads a fixed
attribute, or is already replaced or withheld)."""


def guard_format_value(obj: object, value: Any) -> Any:
    """What a cell gets for `obj.format` (and friends) once `value` has been looked up.

    Judged on the value, so `super(...).format` and str subclasses are caught too.
    """
    forwarder = FORWARDERS.get(getattr(value, "__func__", value))
    if forwarder is not None:
        bound = getattr(value, "__self__", None)
        return forwarder if bound is None else types.MethodType(forwarder, bound)
    if value is _STR_FORMAT:
        return safe_format
    if value is _STR_FORMAT_MAP:
        return safe_format_map
    if type(value) is types.BuiltinMethodType and isinstance(value.__self__, str):
        if value.__name__ == "format":
            return types.MethodType(safe_format, value.__self__)
        if value.__name__ == "format_map":
            return types.MethodType(safe_format_map, value.__self__)
    if getattr(value, "__func__", value) in _FORMATTER_FUNCTIONS or isinstance(
        obj, string.Formatter
    ):
        raise PolicyError("string.Formatter is not available; use str.format or f-strings")
    return value
