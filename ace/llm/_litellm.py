"""Lazy, quiet access to litellm: the only place that imports it.

``import litellm`` costs seconds and, unless told otherwise, fetches its price map over
the network, so it is loaded on the first model call, never at ``import ace``.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
from collections.abc import Callable
from typing import Any

_lock = threading.RLock()
_module: Any = None
_loading: Any = None  # set while load hooks run, for their own re-entrant load() calls
_load_hooks: list[Callable[[Any], None]] = []


def load() -> Any:
    """Import litellm once (thread-safe), configured for offline pricing and quiet output."""
    global _module, _loading
    if _module is not None:
        return _module
    with _lock:
        if _module is None:
            if _loading is not None:
                return _loading
            # Must be set before the first import: litellm reads it at import time.
            os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
            module = importlib.import_module("litellm")
            _quieten(module)
            _loading = module
            try:
                for hook in list(_load_hooks):
                    hook(module)
            finally:
                _loading = None
            _module = module
    return _module


def is_loaded() -> bool:
    """Whether litellm has been imported through :func:`load`."""
    return _module is not None


def on_load(hook: Callable[[Any], None]) -> None:
    """Run ``hook(litellm)`` once litellm is loaded (at once if it already is).

    Lets ``ace.testing`` register its provider without importing litellm itself.
    """
    with _lock:
        if _module is None:
            _load_hooks.append(hook)
            return
    hook(_module)


def _quieten(module: Any) -> None:
    # litellm prints "Give Feedback / Get Help" banners on every mapped error and logs
    # warnings for routine things (e.g. register_model without cache prices).
    module.suppress_debug_info = True
    if not os.environ.get("LITELLM_LOG"):
        for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy"):
            logging.getLogger(name).setLevel(logging.ERROR)
