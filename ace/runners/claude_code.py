"""ClaudeCode: the ``claude`` CLI on tasks, learning from every run and from past sessions."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ace.environments import Sample
from ace.errors import UsageError
from ace.integrations.claude_code import (
    ClaudeCodeExecuteStep,
    ClaudeCodeToTrace,
    LearnReport,
    learn_from_sessions,
    update_claude_md,
)
from ace.integrations.claude_code._execute import find_claude
from ace.pipeline import ACEStepContext, CancellationToken, Pipeline, SampleResult
from ace.pipeline.protocol import ReflectorLike, SkillManagerLike, StepProtocol
from ace.runners._hybrid import class_or_instance_method, own_defaults
from ace.runners._tasks import roles_on, task_samples, with_learning_tail
from ace.runners.ace import _require_roles
from ace.runners.base import ACERunner
from ace.skillbook import Skillbook
from ace.steps.tail import DedupManagerLike

__all__ = ["ClaudeCode"]


class ClaudeCode(ACERunner):
    """Claude Code (the ``claude`` CLI) with ACE learning.

    ``ClaudeCode(working_dir, reflector=..., skill_manager=...)`` or
    ``ClaudeCode.from_model(working_dir, ace_model=...)``; ``run(tasks)`` runs ``claude -p``
    on each task in ``working_dir`` with the skills appended to its system prompt and
    learns from the session it wrote; ``learn_from_sessions()`` learns from the project's
    past sessions that went wrong and ``update_claude_md()`` writes the skills into the
    marked section of its ``CLAUDE.md``.

    ``claude`` is the executable, ``args`` extra CLI arguments, ``timeout`` seconds per run,
    ``env`` extra environment, ``skills_k`` injects only the k most relevant skills;
    ``skillbook``/``skillbook_path``, ``dedup_manager``, ``dedup_interval``,
    ``checkpoint_dir``, ``checkpoint_interval`` as for ``ACE``; ``is_learning=False`` runs
    and records only; ``pipeline=`` runs a pipeline you composed.
    """

    def __init__(
        self,
        working_dir: str | os.PathLike[str] = ".",
        *,
        reflector: ReflectorLike | None = None,
        skill_manager: SkillManagerLike | None = None,
        skillbook: Skillbook | None = None,
        skillbook_path: str | os.PathLike[str] | None = None,
        pipeline: Pipeline | None = None,
        claude: str | os.PathLike[str] = "claude",
        args: list[str] | tuple[str, ...] = (),
        timeout: float | None = 600.0,
        env: dict[str, str] | None = None,
        skills_k: int | None = None,
        dedup_manager: DedupManagerLike | None = None,
        dedup_interval: int | None = None,
        checkpoint_dir: str | os.PathLike[str] | None = None,
        checkpoint_interval: int | None = None,
        is_learning: bool = True,
    ) -> None:
        if skillbook is not None and skillbook_path is not None:
            raise UsageError("ClaudeCode: pass skillbook= or skillbook_path=, not both")
        book = Skillbook.load(skillbook_path) if skillbook_path is not None else skillbook
        book = book if book is not None else Skillbook()
        self.working_dir = Path(working_dir).expanduser()
        self.reflector, self.skill_manager = reflector, skill_manager
        self.claude, self.args, self.timeout, self.env = claude, list(args), timeout, env
        self.skills_k = skills_k
        self.dedup_manager, self.dedup_interval = dedup_manager, dedup_interval
        self.checkpoint_dir, self.checkpoint_interval = checkpoint_dir, checkpoint_interval
        self.is_learning = is_learning
        if pipeline is None:
            pipeline = Pipeline(self.build_steps(book), name="ClaudeCode")
        super().__init__(pipeline, book)

    @classmethod
    def from_roles(
        cls,
        *,
        reflector: ReflectorLike,
        skill_manager: SkillManagerLike,
        working_dir: str | os.PathLike[str] = ".",
        **options: Any,
    ) -> ClaudeCode:
        """A runner from ready role objects; ``options`` are the constructor's keywords."""
        return cls(working_dir, reflector=reflector, skill_manager=skill_manager, **options)

    @classmethod
    def from_model(
        cls,
        working_dir: str | os.PathLike[str] = ".",
        *,
        ace_model: str = "gpt-4o-mini",
        ace_max_tokens: int = 2048,
        ace_temperature: float = 0.0,
        **options: Any,
    ) -> ClaudeCode:
        """A ``Reflector`` and a ``SkillManager`` on ``ace_model`` (a litellm model string);
        ``options`` are the constructor's keywords."""
        return cls(working_dir, **roles_on(ace_model, ace_max_tokens, ace_temperature), **options)

    @class_or_instance_method
    def build_steps(
        owner: Any,
        skillbook: Skillbook | None = None,
        *,
        working_dir: str | os.PathLike[str] | None = None,
        reflector: ReflectorLike | None = None,
        skill_manager: SkillManagerLike | None = None,
        claude: str | os.PathLike[str] | None = None,
        args: list[str] | tuple[str, ...] | None = None,
        timeout: float | None = None,
        env: dict[str, str] | None = None,
        skills_k: int | None = None,
        dedup_manager: DedupManagerLike | None = None,
        dedup_interval: int | None = None,
        checkpoint_dir: str | os.PathLike[str] | None = None,
        checkpoint_interval: int | None = None,
    ) -> list[StepProtocol[Any]]:
        """ClaudeCodeExecute → ClaudeCodeToTrace → Reflect → Update → Apply →
        [Deduplicate] → [Checkpoint] (only the first two without learning).

        On the class pass the roles (and ``working_dir``); on an instance its own settings
        are the defaults.
        """
        own = None if isinstance(owner, type) else owner
        got = own_defaults(
            owner,
            skillbook=skillbook,
            working_dir=working_dir,
            reflector=reflector,
            skill_manager=skill_manager,
            claude=claude,
            args=args,
            timeout=timeout,
            env=env,
            skills_k=skills_k,
            dedup_manager=dedup_manager,
            dedup_interval=dedup_interval,
            checkpoint_dir=checkpoint_dir,
            checkpoint_interval=checkpoint_interval,
        )
        head: list[StepProtocol[Any]] = [
            ClaudeCodeExecuteStep(
                got["working_dir"] or ".",
                claude=got["claude"] or "claude",
                args=got["args"] or (),
                timeout=got["timeout"] if own is not None or timeout is not None else 600.0,
                env=got["env"],
                skills_k=got["skills_k"],
            ),
            ClaudeCodeToTrace(),
        ]
        return with_learning_tail("ClaudeCode", owner, head, got)

    def run(  # type: ignore[override]
        self,
        tasks: Iterable[str | Sample | Mapping[str, Any]],
        epochs: int = 1,
        *,
        wait: bool = True,
        cancel_token: CancellationToken | None = None,
    ) -> list[SampleResult[ACEStepContext]]:
        """Run each task (a string, a ``Sample`` or a dict of its fields) through ``claude
        -p`` and learn from every run. A missing ``claude`` executable or a bad task raises
        ``UsageError`` before anything runs."""
        samples = task_samples("ClaudeCode", tasks)
        find_claude(self.claude)
        return super().run(samples, epochs, wait=wait, cancel_token=cancel_token)

    def learn_from_sessions(
        self, project_dir: str | os.PathLike[str] | None = None, **options: Any
    ) -> LearnReport:
        """Learn into this runner's skillbook from the past sessions of ``project_dir``
        (default: ``working_dir``) that went wrong, and write ``CLAUDE.md``; ``options`` as
        for ``ace.integrations.claude_code.learn_from_sessions`` (``sessions``,
        ``claude_md``, ``dry_run``, ``relearn``, ``state_path``)."""
        _require_roles(
            "ClaudeCode.learn_from_sessions",
            {"reflector": self.reflector, "skill_manager": self.skill_manager},
        )
        assert self.reflector is not None and self.skill_manager is not None
        self.wait_for_background()
        return learn_from_sessions(
            project_dir if project_dir is not None else self.working_dir,
            reflector=self.reflector,
            skill_manager=self.skill_manager,
            skillbook=self.skillbook,
            **options,
        )

    def update_claude_md(
        self, path: str | os.PathLike[str] | None = None, *, dry_run: bool = False
    ) -> str:
        """Write the skills into the marked section of ``path`` (default
        ``working_dir/CLAUDE.md``); returns the diff ("" when unchanged)."""
        self.wait_for_background()
        target = Path(path) if path is not None else self.working_dir / "CLAUDE.md"
        return update_claude_md(target, self.skillbook.skills(), dry_run=dry_run)

    def get_strategies(self) -> str:
        """The learned skills as the text ``claude`` receives ("" when there are none)."""
        from ace.integrations._context import wrap_skillbook_context

        return wrap_skillbook_context(self.skillbook)
