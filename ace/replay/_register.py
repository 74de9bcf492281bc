"""Registering a litellm custom provider once litellm is loaded, for every ACE provider.

The ``replay`` provider (``ace.replay``) and the ``scripted`` and ``scripted-embedding``
providers (``ace.testing``) are all added here, so they share one thread-safe path: a
provider is added to ``litellm.custom_provider_map`` at once when litellm is loaded, or
by a load hook installed exactly once. Importing this module does not import litellm.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any

_hook_lock = threading.Lock()
"""Held while a provider's load hook is installed (taken before litellm's own lock)."""
_map_lock = threading.Lock()
"""Held while the provider map is checked and extended (taken after litellm's own lock)."""
_hooked: set[str] = set()


def register_provider(provider: str, make_handler: Callable[[Any], Any]) -> None:
    """Make ``provider/...`` model strings reach ``make_handler(litellm)`` (a
    ``litellm.CustomLLM``): now if litellm is loaded, else as soon as it is. Idempotent
    and thread-safe; ``make_handler`` runs once, with litellm loaded."""
    from ace.llm import _litellm

    if "litellm" in sys.modules and not _litellm.is_loaded():
        _litellm.load()  # imported by someone else already: cheap
    if _litellm.is_loaded():
        _add(_litellm.load(), provider, make_handler)
        return
    with _hook_lock:
        if provider in _hooked:
            return
        # on_load runs the hook at once if litellm finished loading meanwhile; the hook
        # takes only _map_lock, so no thread waits for this lock while holding litellm's.
        _litellm.on_load(lambda litellm: _add(litellm, provider, make_handler))
        _hooked.add(provider)


def _add(litellm: Any, provider: str, make_handler: Callable[[Any], Any]) -> None:
    with _map_lock:
        if not any(item.get("provider") == provider for item in litellm.custom_provider_map):
            litellm.custom_provider_map.append(
                {"provider": provider, "custom_handler": make_handler(litellm)}
            )


def register_replay_provider() -> None:
    """Register the ``replay`` provider (``ace.replay._provider``)."""
    from ace.replay.replayer import PROVIDER

    register_provider(PROVIDER, _replay_handler)


def _replay_handler(litellm: Any) -> Any:
    from ace.replay._provider import ReplayProvider

    return ReplayProvider()
