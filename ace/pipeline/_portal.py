"""A private event loop on its own thread, where the sync engine runs async steps.

``asyncio.run`` inside a step would fail when ``Pipeline.run`` is called from a running
loop (a notebook, an async web handler), and a fresh loop per call would break clients
that cache loop-bound connections (litellm's async HTTP clients). One long-lived loop on
a daemon thread avoids both; concurrent callers' coroutines overlap on it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable
from typing import Any

from ace.errors import UsageError

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None


def run(awaitable: Awaitable[Any]) -> Any:
    """Run ``awaitable`` on the private loop and block this thread until it is done."""
    loop = _ensure_loop()
    if threading.current_thread() is _thread:
        # The loop would wait for itself: an async step ran a sync pipeline with async steps.
        raise UsageError(
            "an async step called Pipeline.run (or a sync pipeline) that has async steps; "
            "await pipeline.run_async(...) from async code instead"
        )
    return asyncio.run_coroutine_threadsafe(_awaited(awaitable), loop).result()


async def _awaited(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


def _ensure_loop() -> asyncio.AbstractEventLoop:
    global _loop, _thread
    with _lock:
        if _loop is None:
            loop = asyncio.new_event_loop()
            _thread = threading.Thread(
                target=loop.run_forever, name="ace-pipeline-async-steps", daemon=True
            )
            _thread.start()
            _loop = loop
        return _loop
