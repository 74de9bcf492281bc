"""Registering the ``replay`` provider with litellm once litellm is loaded."""

from __future__ import annotations

import sys
import threading

_hook_lock = threading.Lock()
_hook_installed = False


def register_provider_when_litellm_loads() -> None:
    """Register the provider now if litellm is loaded, else as soon as it is."""
    global _hook_installed
    from ace.llm import _litellm

    if "litellm" in sys.modules and not _litellm.is_loaded():
        _litellm.load()  # imported by someone else already: cheap
    if _litellm.is_loaded():
        from ace.replay._provider import ensure_registered

        ensure_registered(_litellm.load())
        return
    with _hook_lock:
        if not _hook_installed:
            _hook_installed = True
            _litellm.on_load(_on_load)


def _on_load(litellm: object) -> None:
    from ace.replay._provider import ensure_registered

    ensure_registered(litellm)
