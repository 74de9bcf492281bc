"""The code the host runs in the kernel on its own behalf (under the same policy), as a
sandbox definition (`Sandbox.define`): out of reach of the names cells bind."""

from __future__ import annotations

import functools
from pathlib import Path

_PARALLEL_MAP = '''

def parallel_map(fn, items):
    """Build one prompt per item with ``fn`` and send them all with ``llm_batch``."""
    return llm_batch([fn(item) for item in items])
'''


DEFINED_NAMES = frozenset({"re", "ERROR_PATTERN", "TraceView", "trace", "tasks", "parallel_map"})
"""Names the prelude binds; they are rebuilt after a restart, not the model's to worry about."""


@functools.cache
def _view_source() -> str:
    return (Path(__file__).parent / "_kernel_prelude.py").read_text(encoding="utf-8")


def source(*, subagent: bool) -> str:
    """The first cell of a session: the ``trace`` view, and ``parallel_map`` when ``subagent``
    (the caller passes True only when ``llm_batch``, which it calls, is registered)."""
    return _view_source() + (_PARALLEL_MAP if subagent else "")
