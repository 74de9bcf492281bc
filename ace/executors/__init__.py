"""Executors: where the work items of a batch run (one RR session per trace, say).

``Executor`` is the contract (submit, next completed, cancel, close); ``LocalExecutor``
runs items on threads of this process, ``jobs`` at a time. Callers put results back in
input order themselves (every item carries its ``key``), so what they build from the
results (a report, a skillbook) does not depend on which item finished first. A remote
executor (Ray actors holding kernel pools) implements the same four methods.
"""

from __future__ import annotations

from ace.executors._contract import Completed, Executor
from ace.executors._local import LocalExecutor
from ace.executors._stream import in_order, stream

__all__ = ["Completed", "Executor", "LocalExecutor", "in_order", "stream"]
