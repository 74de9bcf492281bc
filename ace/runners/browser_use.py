"""BrowserUse: a browser-use agent that learns from each of its runs."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from ace.environments import Sample
from ace.errors import UsageError
from ace.integrations.browser_use import BrowserExecuteStep, BrowserToTrace
from ace.pipeline import ACEStepContext, CancellationToken, Pipeline, SampleResult
from ace.pipeline.protocol import ReflectorLike, SkillManagerLike, StepProtocol
from ace.runners._hybrid import class_or_instance_method, own_defaults
from ace.runners._tasks import roles_on, task_samples, with_learning_tail
from ace.runners.base import ACERunner
from ace.skillbook import Skillbook
from ace.steps.tail import DedupManagerLike

__all__ = ["BrowserUse"]


class BrowserUse(ACERunner):
    """Browser automation with browser-use that improves with each run.

    ``BrowserUse(llm, reflector=..., skill_manager=...)`` or ``BrowserUse.from_model(llm,
    ace_model=...)``: ``llm`` drives the browser (a browser-use chat model), the roles
    learn from each run's history. ``run(tasks)`` takes strings, ``Sample`` objects or
    dicts of their fields. ``browser``/``browser_profile``, ``max_steps``,
    ``agent_options`` and ``skills_k`` as for ``BrowserUseIntegration``;
    ``skillbook``/``skillbook_path``, ``dedup_manager``, ``dedup_interval``,
    ``checkpoint_dir``, ``checkpoint_interval`` as for ``ACE``; ``is_learning=False`` runs
    and records only. Needs the ``browser-use`` extra (``pip install
    'ace-rr[browser-use]'``).
    """

    def __init__(
        self,
        llm: Any = None,
        *,
        reflector: ReflectorLike | None = None,
        skill_manager: SkillManagerLike | None = None,
        skillbook: Skillbook | None = None,
        skillbook_path: str | os.PathLike[str] | None = None,
        pipeline: Pipeline | None = None,
        browser: Any = None,
        browser_profile: Any = None,
        max_steps: int = 25,
        agent_options: Mapping[str, Any] | None = None,
        skills_k: int | None = None,
        dedup_manager: DedupManagerLike | None = None,
        dedup_interval: int | None = None,
        checkpoint_dir: str | os.PathLike[str] | None = None,
        checkpoint_interval: int | None = None,
        is_learning: bool = True,
    ) -> None:
        if skillbook is not None and skillbook_path is not None:
            raise UsageError("BrowserUse: pass skillbook= or skillbook_path=, not both")
        book = Skillbook.load(skillbook_path) if skillbook_path is not None else skillbook
        book = book if book is not None else Skillbook()
        self.llm = llm
        self.reflector, self.skill_manager = reflector, skill_manager
        self.browser, self.browser_profile = browser, browser_profile
        self.max_steps, self.agent_options, self.skills_k = max_steps, agent_options, skills_k
        self.dedup_manager, self.dedup_interval = dedup_manager, dedup_interval
        self.checkpoint_dir, self.checkpoint_interval = checkpoint_dir, checkpoint_interval
        self.is_learning = is_learning
        if pipeline is None:
            pipeline = Pipeline(self.build_steps(book), name="BrowserUse")
        super().__init__(pipeline, book)

    @classmethod
    def from_roles(
        cls, *, llm: Any, reflector: ReflectorLike, skill_manager: SkillManagerLike, **options: Any
    ) -> BrowserUse:
        """A runner from ready role objects; ``options`` are the constructor's keywords."""
        return cls(llm, reflector=reflector, skill_manager=skill_manager, **options)

    @classmethod
    def from_model(
        cls,
        llm: Any,
        *,
        ace_model: str = "gpt-4o-mini",
        ace_max_tokens: int = 2048,
        ace_temperature: float = 0.0,
        **options: Any,
    ) -> BrowserUse:
        """A ``Reflector`` and a ``SkillManager`` on ``ace_model`` (a litellm model string);
        ``options`` are the constructor's keywords."""
        return cls(llm, **roles_on(ace_model, ace_max_tokens, ace_temperature), **options)

    @class_or_instance_method
    def build_steps(
        owner: Any,
        skillbook: Skillbook | None = None,
        *,
        llm: Any = None,
        reflector: ReflectorLike | None = None,
        skill_manager: SkillManagerLike | None = None,
        browser: Any = None,
        browser_profile: Any = None,
        max_steps: int | None = None,
        agent_options: Mapping[str, Any] | None = None,
        skills_k: int | None = None,
        dedup_manager: DedupManagerLike | None = None,
        dedup_interval: int | None = None,
        checkpoint_dir: str | os.PathLike[str] | None = None,
        checkpoint_interval: int | None = None,
    ) -> list[StepProtocol[Any]]:
        """BrowserExecute → BrowserToTrace → Reflect → Update → Apply → [Deduplicate] →
        [Checkpoint] (only the first two without learning).

        On the class pass ``llm`` and the roles; on an instance its own settings are the
        defaults.
        """
        got = own_defaults(
            owner,
            skillbook=skillbook,
            llm=llm,
            reflector=reflector,
            skill_manager=skill_manager,
            browser=browser,
            browser_profile=browser_profile,
            max_steps=max_steps,
            agent_options=agent_options,
            skills_k=skills_k,
            dedup_manager=dedup_manager,
            dedup_interval=dedup_interval,
            checkpoint_dir=checkpoint_dir,
            checkpoint_interval=checkpoint_interval,
        )
        head: list[StepProtocol[Any]] = [
            BrowserExecuteStep(
                got["llm"],
                browser=got["browser"],
                browser_profile=got["browser_profile"],
                max_steps=got["max_steps"] or 25,
                agent_options=got["agent_options"],
                skills_k=got["skills_k"],
            ),
            BrowserToTrace(),
        ]
        return with_learning_tail("BrowserUse", owner, head, got)

    def run(  # type: ignore[override]
        self,
        tasks: Iterable[str | Sample | Mapping[str, Any]],
        epochs: int = 1,
        *,
        wait: bool = True,
        cancel_token: CancellationToken | None = None,
    ) -> list[SampleResult[ACEStepContext]]:
        """Run each task in the browser and learn from every run; one result per task per
        epoch (``result.context.trace`` is the run's ``Trace``)."""
        samples = task_samples("BrowserUse", tasks)
        return super().run(samples, epochs, wait=wait, cancel_token=cancel_token)

    def get_strategies(self) -> str:
        """The learned skills as the text the browser agent receives ("" when none)."""
        from ace.integrations._context import wrap_skillbook_context

        return wrap_skillbook_context(self.skillbook)
