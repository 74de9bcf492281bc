"""What the integration runners share: the roles their ``from_model`` factories build
(``LangChain``, ``ClaudeCode``, ``BrowserUse``), and for the task-running ones
(``ClaudeCode``, ``BrowserUse``) the learning tail after their execute and to-trace steps
and a task list as samples."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ace.environments import Sample
from ace.errors import UsageError
from ace.pipeline.protocol import StepProtocol
from ace.runners.ace import _require_roles
from ace.skillbook import Skillbook
from ace.steps import learning_tail


def roles_on(model: str, max_tokens: int, temperature: float) -> dict[str, Any]:
    """``reflector=`` and ``skill_manager=`` on one litellm model string with these
    settings: what the integration runners' ``from_model`` factories pass on."""
    from ace.roles import Reflector, SkillManager

    settings = {"max_tokens": max_tokens, "temperature": temperature}
    return {
        "reflector": Reflector(model, model_settings=settings),
        "skill_manager": SkillManager(model, model_settings=settings),
    }


def with_learning_tail(
    runner: str, owner: Any, head: list[StepProtocol[Any]], got: Mapping[str, Any]
) -> list[StepProtocol[Any]]:
    """``head`` followed by Reflect (on the trace) → Update → Apply → [Deduplicate] →
    [Checkpoint], from the arguments in ``got`` (``own_defaults``); ``head`` alone for an
    instance that does not learn. Missing roles raise ``UsageError`` naming ``runner``."""
    if not isinstance(owner, type) and not owner.is_learning:
        return head
    _require_roles(runner, dict(got), ("reflector", "skill_manager"))
    return [
        *head,
        *learning_tail(
            got["reflector"],
            got["skill_manager"],
            got["skillbook"] if got["skillbook"] is not None else Skillbook(),
            got["dedup_manager"],
            got["checkpoint_dir"],
            dedup_interval=got["dedup_interval"],
            checkpoint_interval=got["checkpoint_interval"],
            from_trace=True,
        ),
    ]


def task_samples(runner: str, tasks: Iterable[str | Sample | Mapping[str, Any]]) -> list[Sample]:
    """``tasks`` (strings, ``Sample`` objects or dicts of their fields) as samples; one task
    not wrapped in a list, or a task of another type, is a ``UsageError``."""
    from ace.integrations.base import _sample

    if isinstance(tasks, str | Mapping):
        raise UsageError(f"{runner}.run takes a list of tasks, got one {type(tasks).__name__}")
    return [_sample(task, i) for i, task in enumerate(tasks)]


__all__ = ["roles_on", "task_samples", "with_learning_tail"]
