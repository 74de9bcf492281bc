"""``class_or_instance_method``: one method callable on the class and on an instance."""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any, Generic, TypeVar

R = TypeVar("R")


class class_or_instance_method(Generic[R]):
    """Binds the function to the instance when called on one, else to the class.

    ``build_steps`` is a classmethod in the established package (roles as arguments) and
    an instance method here (the runner's own roles); this keeps both spellings working
    with one function that checks ``isinstance(owner, type)``.
    """

    def __init__(self, function: Callable[..., R]) -> None:
        self.function = function
        self.__doc__ = function.__doc__
        self.__name__ = function.__name__

    def __get__(self, instance: Any, owner: type | None = None) -> Callable[..., R]:
        return types.MethodType(self.function, instance if instance is not None else owner)


def own_defaults(owner: Any, **given: Any) -> dict[str, Any]:
    """Each value given, else (called on an instance) the instance's attribute of the same
    name; None for what neither supplies. The one rule ``build_steps`` fills arguments by."""
    own = None if isinstance(owner, type) else owner
    return {
        name: value if value is not None else getattr(own, name, None)
        for name, value in given.items()
    }
