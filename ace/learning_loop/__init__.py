"""The learning loop: tasks run as recorded trajectories, reflected on, curated into
playbooks; delayed feedback re-learns; low-importance memories are consolidated.

::

    from ace.learning_loop import LearningLoop

    loop = LearningLoop(store, None, "openai/gpt-4o-mini", user_id="u1", tenant_id="acme")
    result = loop.execute_with_learning("Process customer data", task, playbook_id="data")
    loop.get_playbook_strategies("data", "Process customer cust_9", strategy_type="helpful")

Needs the ``service`` extra (the loop keeps its state in the service store). Names are
imported lazily: importing ``ace.learning_loop`` loads no database code, and
``ace.learning_loop.formulas`` (the scoring rules) never does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ace import _lazy

_EXPORTS: dict[str, str] = {
    "LearningLoop": "ace.learning_loop.loop",
    "LoopMemory": "ace.learning_loop.memory",
    "TrajectoryHandle": "ace.learning_loop.memory",
    "current_trajectory_id": "ace.learning_loop._recording",
    "ContentStore": "ace.learning_loop.payloads",
    "LocalContentStore": "ace.learning_loop.payloads",
    "INLINE_LIMIT_BYTES": "ace.learning_loop.payloads",
    "NotFoundError": "ace.learning_loop.records",
    "LEARN_JOB_USER": "ace.learning_loop.records",
}

__all__ = [
    "INLINE_LIMIT_BYTES",
    "LEARN_JOB_USER",
    "ContentStore",
    "LearningLoop",
    "LocalContentStore",
    "LoopMemory",
    "NotFoundError",
    "TrajectoryHandle",
    "current_trajectory_id",
]

_NEEDS_DATABASE = {
    "ace.learning_loop.loop",
    "ace.learning_loop.memory",
    "ace.learning_loop._recording",  # its recorder holds ``_repo`` rows (SQLAlchemy)
}


def _require_extra(module: str) -> None:
    if module in _NEEDS_DATABASE:
        from ace.service._db import require_service_extra

        require_service_extra()


def __getattr__(name: str) -> Any:
    return _lazy.load(__name__, _EXPORTS, globals(), name, before=_require_extra)


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:
    from ace.learning_loop._recording import current_trajectory_id
    from ace.learning_loop.loop import LearningLoop
    from ace.learning_loop.memory import LoopMemory, TrajectoryHandle
    from ace.learning_loop.payloads import INLINE_LIMIT_BYTES, ContentStore, LocalContentStore
    from ace.learning_loop.records import LEARN_JOB_USER, NotFoundError
