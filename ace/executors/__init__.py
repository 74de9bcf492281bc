"""Executors: where the work items of a batch run (one RR session per trace, say).

``Executor`` is the contract (submit, next completed, cancel, close); ``LocalExecutor``
runs items on threads of this process, ``jobs`` at a time. Callers put results back in
input order themselves (every item carries its ``key``), so what they build from the
results (a report, a skillbook) does not depend on which item finished first.
``RayExecutor`` (the ``ray`` extra) implements the same four methods on a Ray cluster:
node actors holding warm kernel pools, sessions placed on free ``ace_kernel`` slots;
``executor_for`` and ``share_budget`` are what the CLI's ``--ray`` uses. Importing this
package does not import Ray; creating a ``RayExecutor`` does.
"""

from __future__ import annotations

from ace.executors._contract import Completed, Executor
from ace.executors._local import LocalExecutor
from ace.executors._ray import RayExecutor, executor_for, share_budget
from ace.executors._ray_actors import NodeStatus
from ace.executors._stream import in_order, stream

__all__ = [
    "Completed",
    "Executor",
    "LocalExecutor",
    "NodeStatus",
    "RayExecutor",
    "executor_for",
    "in_order",
    "share_budget",
    "stream",
]
