"""logfire spans for RR sessions, emitted only when the user has configured logfire.

When logfire was never configured (or never imported) every helper here is a no-op:
no span is created and logfire's "not configured" warning is never triggered.

logfire's default scrubbing replaces attribute values that match words such as
"session", "secret" or "auth" — common in trace text. RR attribute keys avoid those
words; to see cell code and output unscrubbed, pass ``scrubbing=ScrubbingOptions(
callback=keep_rr_text)`` to ``logfire.configure``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

RR_TEXT_ATTRIBUTES = frozenset({"rr.code", "rr.output", "rr.reply", "rr.prompt_preview"})


def _configured_logfire() -> Any:
    if "logfire" not in sys.modules:
        return None
    import logfire
    from logfire._internal.config import GLOBAL_CONFIG

    return logfire if getattr(GLOBAL_CONFIG, "_initialized", False) else None


def tracing_enabled() -> bool:
    """True when logfire is imported and configured in this process."""
    return _configured_logfire() is not None


@contextmanager
def span(name: str, **attributes: Any) -> Iterator[Any]:
    """A logfire span when logfire is configured, else nothing; yields the span or None."""
    logfire = _configured_logfire()
    if logfire is None:
        yield None
        return
    with logfire.span(name, **attributes) as current:
        yield current


def set_attributes(current: Any, **attributes: Any) -> None:
    """Add attributes to a span from ``span`` (a no-op for None)."""
    if current is not None:
        for key, value in attributes.items():
            current.set_attribute(key, value)


def keep_rr_text(match: Any) -> Any:
    """A logfire scrubbing callback that leaves the RR's own text attributes intact."""
    path = getattr(match, "path", ())
    if path and len(path) >= 2 and path[0] == "attributes" and path[1] in RR_TEXT_ATTRIBUTES:
        return match.value
    return None
