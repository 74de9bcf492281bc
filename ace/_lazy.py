"""Lazy package exports: each public name is imported from its module on first use, so
``import ace`` (and each subpackage) stays fast and optional extras stay optional."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def load(
    package: str,
    exports: Mapping[str, str],
    namespace: dict[str, Any],
    name: str,
    *,
    before: Callable[[str], None] | None = None,
) -> Any:
    """``name`` imported from the module ``exports`` maps it to, and kept in the package's
    ``namespace`` (so the next lookup is direct). ``before(module)`` runs first: a check
    that the module's extra is installed. A name not exported is an ``AttributeError``."""
    module = exports.get(name)
    if module is None:
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    if before is not None:
        before(module)
    value = getattr(importlib.import_module(module), name)
    namespace[name] = value
    return value


__all__ = ["load"]
