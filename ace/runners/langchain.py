"""LangChain: any LangChain Runnable that learns from its own recorded runs.

Each input runs through ``LangChainExecuteStep`` (skills injected, the run recorded by
``ACETraceRecorder``) → ``LangChainToTrace`` → Reflect → Update → Apply →
[Deduplicate] → [Checkpoint]. Where the skills go is the rule of
``ace.integrations.langchain``. Importing this module imports ``langchain_core``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ace.environments import Sample
from ace.errors import UsageError
from ace.integrations.langchain import (
    SKILLS_KEY,
    LangChainExecuteStep,
    LangChainIntegration,
    LangChainToTrace,
    as_task,
)
from ace.pipeline import ACEStepContext, CancellationToken, Pipeline, SampleResult
from ace.pipeline.protocol import ReflectorLike, SkillManagerLike, StepProtocol
from ace.runners._hybrid import class_or_instance_method
from ace.runners._tasks import roles_on
from ace.runners.ace import _require_roles
from ace.runners.base import ACERunner
from ace.skillbook import Skillbook
from ace.steps import learning_tail
from ace.steps.tail import DedupManagerLike

if TYPE_CHECKING:
    from ace.dedup import DeduplicationConfig

__all__ = ["LangChain"]


class LangChain(ACERunner):
    """A LangChain Runnable (chain, chat model, agent, LangGraph graph) with ACE learning.

    ``LangChain(runnable, reflector=..., skill_manager=...)``, ``LangChain.from_roles(
    runnable=..., reflector=..., skill_manager=...)`` or ``LangChain.from_model(runnable,
    ace_model=...)``; ``LangChain(pipeline=..., skillbook=...)`` runs a pipeline you
    composed (from ``LangChain.build_steps(...)``). ``run(inputs)`` takes what the
    runnable takes: strings, message lists, dicts of its variables, or ``Sample`` objects
    (``metadata["langchain_input"]`` holds a non-text input, ``ground_truth`` the expected
    answer). Every input is checked before any model call.

    ``skillbook`` (or ``skillbook_path``) is the starting skillbook; ``output_parser``
    turns the runnable's output into the answer; ``skills_key`` is the template variable
    receiving the skills; ``skills_k`` injects only the k most relevant skills; ``config``
    is passed to every ``invoke``; ``agent_name`` names the model's steps in the traces;
    ``dedup_config``/``dedup_manager``, ``dedup_interval``, ``checkpoint_dir`` and
    ``checkpoint_interval`` as for ``ACE``; ``is_learning=False`` runs and records only.
    """

    def __init__(
        self,
        runnable: Any = None,
        *,
        reflector: ReflectorLike | None = None,
        skill_manager: SkillManagerLike | None = None,
        skillbook: Skillbook | None = None,
        skillbook_path: str | os.PathLike[str] | None = None,
        pipeline: Pipeline | None = None,
        output_parser: Callable[[Any], str] | None = None,
        skills_key: str = SKILLS_KEY,
        skills_k: int | None = None,
        config: Mapping[str, Any] | None = None,
        agent_name: str | None = None,
        dedup_config: DeduplicationConfig | None = None,
        dedup_manager: DedupManagerLike | None = None,
        dedup_interval: int | None = None,
        checkpoint_dir: str | os.PathLike[str] | None = None,
        checkpoint_interval: int | None = None,
        is_learning: bool = True,
    ) -> None:
        if isinstance(runnable, Pipeline):  # the established positional ACERunner(pipeline)
            runnable, pipeline = None, runnable if pipeline is None else pipeline
        if runnable is not None and pipeline is not None:
            raise UsageError("LangChain: pass a runnable or a pipeline, not both")
        if skillbook is not None and skillbook_path is not None:
            raise UsageError("LangChain: pass skillbook= or skillbook_path=, not both")
        book = Skillbook.load(skillbook_path) if skillbook_path is not None else skillbook
        book = book if book is not None else Skillbook()
        self.runnable = runnable
        self.reflector, self.skill_manager = reflector, skill_manager
        self.output_parser, self.skills_key, self.skills_k = output_parser, skills_key, skills_k
        self.config, self.agent_name = config, agent_name
        self.dedup_manager = _dedup(dedup_config, dedup_manager)
        self.dedup_interval, self.checkpoint_interval = dedup_interval, checkpoint_interval
        self.checkpoint_dir = checkpoint_dir
        self.is_learning = is_learning
        self._own_pipeline = pipeline is None
        if pipeline is None:
            if runnable is None:
                raise UsageError("LangChain: pass the runnable to run (or a ready pipeline=)")
            pipeline = Pipeline(self.build_steps(book), name="LangChain")
        super().__init__(pipeline, book)

    @classmethod
    def from_roles(
        cls,
        *,
        runnable: Any,
        reflector: ReflectorLike,
        skill_manager: SkillManagerLike,
        **options: Any,
    ) -> LangChain:
        """The established factory: a runner from ready role objects; ``options`` are the
        constructor's keywords."""
        return cls(runnable, reflector=reflector, skill_manager=skill_manager, **options)

    @classmethod
    def from_model(
        cls,
        runnable: Any,
        *,
        ace_model: str = "gpt-4o-mini",
        ace_max_tokens: int = 2048,
        ace_temperature: float = 0.0,
        **options: Any,
    ) -> LangChain:
        """The established factory: a ``Reflector`` and a ``SkillManager`` on ``ace_model``
        (any litellm model string) with ``ace_max_tokens`` and ``ace_temperature``;
        ``options`` are the constructor's keywords."""
        return cls(runnable, **roles_on(ace_model, ace_max_tokens, ace_temperature), **options)

    @class_or_instance_method
    def build_steps(
        owner: Any,
        skillbook: Skillbook | None = None,
        *,
        runnable: Any = None,
        reflector: ReflectorLike | None = None,
        skill_manager: SkillManagerLike | None = None,
        skillbook_path: str | os.PathLike[str] | None = None,
        output_parser: Callable[[Any], str] | None = None,
        skills_key: str | None = None,
        skills_k: int | None = None,
        config: Mapping[str, Any] | None = None,
        agent_name: str | None = None,
        dedup_config: DeduplicationConfig | None = None,
        dedup_manager: DedupManagerLike | None = None,
        dedup_interval: int | None = None,
        checkpoint_dir: str | os.PathLike[str] | None = None,
        checkpoint_interval: int | None = None,
    ) -> list[StepProtocol[Any]]:
        """LangChainExecute → LangChainToTrace → Reflect → Update → Apply → [Deduplicate]
        → [Checkpoint].

        On the class (the established classmethod) pass ``runnable``, ``reflector`` and
        ``skill_manager`` and the ``skillbook`` the learning steps write into (a new one,
        or the one at ``skillbook_path``, otherwise); on an instance its own settings are
        the defaults. Without learning (an instance with ``is_learning=False``) only the
        first two steps.
        """
        own: LangChain | None = None if isinstance(owner, type) else owner
        chosen = runnable if runnable is not None else (own.runnable if own else None)
        if chosen is None:
            raise UsageError("LangChain.build_steps: missing runnable; pass runnable=")
        head: list[StepProtocol[Any]] = [
            LangChainExecuteStep(
                chosen,
                output_parser or (own.output_parser if own else None),
                skills_key=skills_key or (own.skills_key if own else SKILLS_KEY),
                skills_k=skills_k if skills_k is not None else (own.skills_k if own else None),
                config=config if config is not None else (own.config if own else None),
                agent_name=agent_name or (own.agent_name if own else None),
            ),
            LangChainToTrace(),
        ]
        if own is not None and not own.is_learning:
            return head
        roles: dict[str, Any] = {
            "reflector": reflector or (own.reflector if own else None),
            "skill_manager": skill_manager or (own.skill_manager if own else None),
        }
        _require_roles("LangChain", roles)
        if skillbook is None and skillbook_path is not None:
            skillbook = Skillbook.load(skillbook_path)
        book = skillbook if skillbook is not None else own.skillbook if own else Skillbook()
        manager = _dedup(dedup_config, dedup_manager) or (own.dedup_manager if own else None)
        return [
            *head,
            *learning_tail(
                roles["reflector"],
                roles["skill_manager"],
                book,
                manager,
                checkpoint_dir or (own.checkpoint_dir if own else None),
                dedup_interval=dedup_interval or (own.dedup_interval if own else None),
                checkpoint_interval=checkpoint_interval
                or (own.checkpoint_interval if own else None),
                from_trace=True,
            ),
        ]

    def run(  # type: ignore[override]
        self,
        inputs: Sequence[Any] | Iterable[Any],
        epochs: int = 1,
        *,
        wait: bool = True,
        cancel_token: CancellationToken | None = None,
    ) -> list[SampleResult[ACEStepContext]]:
        """Run each input through the runnable and learn from every run; one result per
        input per epoch (``result.context.trace`` is the recorded ``Trace``,
        ``metadata["integration_result"]`` the ``LangChainResult``). Inputs are checked
        first: a bad one raises ``UsageError`` before any model call."""
        if isinstance(inputs, str | Mapping):
            raise UsageError(
                f"run() takes a list of inputs, got one {type(inputs).__name__}; wrap it in "
                "a list, or use invoke()"
            )
        samples = [as_task(item, i) for i, item in enumerate(inputs)]
        for i, sample in enumerate(samples):  # the injection rule, checked before any call
            self._check(sample, i)
        return super().run(samples, epochs, wait=wait, cancel_token=cancel_token)

    def invoke(self, input: Any, **options: Any) -> list[SampleResult[ACEStepContext]]:
        """One input: ``run([input], **options)`` (the established convenience)."""
        return self.run([input], **options)

    def get_strategies(self) -> str:
        """The learned skills as the text the runnable receives ("" when there are none)."""
        from ace.integrations._context import wrap_skillbook_context

        return wrap_skillbook_context(self.skillbook)

    def load(self, path: str | os.PathLike[str]) -> None:
        """Replace the skillbook with the one saved at ``path`` (waits for learning first)."""
        if not self._own_pipeline:
            raise UsageError(
                "LangChain.load: this runner runs a pipeline you gave it, whose steps hold "
                "their own skillbook; build a new pipeline around the loaded one instead"
            )
        self.wait_for_background()
        self.skillbook = Skillbook.load(path)
        self.pipeline = Pipeline(self.build_steps(self.skillbook), name="LangChain")

    def save_skillbook(self, path: str | os.PathLike[str]) -> Path:
        """The established name of ``save``."""
        return self.save(path)

    def load_skillbook(self, path: str | os.PathLike[str]) -> None:
        """The established name of ``load``."""
        self.load(path)

    def _check(self, sample: Sample, index: int) -> None:
        steps = self.pipeline.steps if self.pipeline is not None else ()
        for step in steps:
            integration = getattr(step, "integration", None)
            if isinstance(step, LangChainExecuteStep) and isinstance(
                integration, LangChainIntegration
            ):
                try:
                    integration.prepare(sample, "")
                except UsageError as exc:
                    raise UsageError(f"LangChain.run: input {index}: {exc}") from None


def _dedup(
    config: DeduplicationConfig | None, manager: DedupManagerLike | None
) -> DedupManagerLike | None:
    if config is not None and manager is not None:
        raise UsageError("LangChain: pass dedup_config= or dedup_manager=, not both")
    if config is None:
        return manager
    from ace.dedup import DeduplicationManager

    return DeduplicationManager(config)
