"""ACELiteLLM: a self-improving assistant around any litellm model, in a few lines."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ace.environments import Sample, SimpleEnvironment, TaskEnvironment
from ace.errors import UsageError
from ace.outputs import AgentOutput
from ace.pipeline import ACEStepContext, Pipeline, SampleResult
from ace.pipeline.protocol import ReflectorLike, SkillManagerLike, StepProtocol
from ace.runners.base import ACERunner, item_contexts
from ace.skillbook import Skillbook
from ace.steps import AgentStep, EvaluateStep, LoadTracesStep, learning_tail
from ace.steps.tail import DedupManagerLike

if TYPE_CHECKING:
    from ace.config import ACEModelConfig
    from ace.dedup import DeduplicationConfig
    from ace.llm import LLMClient
    from ace.roles import ReflectorMode
    from ace.rr import RRConfig


class ACELiteLLM(ACERunner):
    """Ask questions, give feedback, learn from traces; the skillbook grows as you go.

    ``model`` is any litellm model string (or an ``LLMClient``). Every role uses it
    unless you pass your own ``agent``, ``reflector`` or ``skill_manager``; the
    ``reflector`` may be any object with ``reflect(...)``, e.g. the Recursive Reflector
    (``ace.rr.RRStep``), or chosen with ``reflector_mode=ReflectorMode.RECURSIVE``
    (``rr_config`` then configures it). ``model_settings`` (``temperature``,
    ``max_tokens``, ``stop_sequences``, ...) configure the roles built here.
    ``skillbook`` may be a Skillbook or a path (``skillbook_path`` is the established
    name); ``dedup_config`` builds a ``DeduplicationManager``; ``dedup_interval`` and
    ``checkpoint_interval`` space deduplication and checkpoints (default: every sample);
    ``logfire=True`` configures logfire tracing (``ace.observability``).
    """

    def __init__(
        self,
        model: str | LLMClient,
        *,
        skillbook: Skillbook | str | os.PathLike[str] | None = None,
        skillbook_path: str | os.PathLike[str] | None = None,
        reflector: ReflectorLike | None = None,
        skill_manager: SkillManagerLike | None = None,
        agent: Any = None,
        environment: TaskEnvironment | None = None,
        model_settings: Mapping[str, Any] | None = None,
        reflector_mode: ReflectorMode | str | None = None,
        rr_config: RRConfig | None = None,
        dedup_config: DeduplicationConfig | None = None,
        dedup_manager: DedupManagerLike | None = None,
        dedup_interval: int | None = None,
        checkpoint_dir: str | os.PathLike[str] | None = None,
        checkpoint_interval: int | None = None,
        is_learning: bool = True,
        logfire: bool = False,
    ) -> None:
        from ace.roles import Agent, SkillManager

        if skillbook is not None and skillbook_path is not None:
            raise UsageError("ACELiteLLM: pass skillbook= or skillbook_path=, not both")
        source = skillbook if skillbook is not None else skillbook_path
        book = (
            source
            if isinstance(source, Skillbook)
            else (Skillbook.load(source) if source is not None else Skillbook())
        )
        if dedup_config is not None and dedup_manager is not None:
            raise UsageError("ACELiteLLM: pass dedup_config= or dedup_manager=, not both")
        if dedup_config is not None:
            from ace.dedup import DeduplicationManager

            dedup_manager = DeduplicationManager(dedup_config)
        if logfire:
            from ace.observability import configure_logfire

            configure_logfire()
        super().__init__(None, book)
        self.model = model
        self.model_settings = dict(model_settings) if model_settings else None
        self.agent = agent if agent is not None else Agent(model, model_settings=model_settings)
        self.reflector = (
            reflector
            if reflector is not None
            else _reflector(model, reflector_mode, rr_config, model_settings)
        )
        self.skill_manager = (
            skill_manager
            if skill_manager is not None
            else SkillManager(model, model_settings=model_settings)
        )
        self.environment = environment
        self.dedup_manager, self.checkpoint_dir = dedup_manager, checkpoint_dir
        self.dedup_interval, self.checkpoint_interval = dedup_interval, checkpoint_interval
        self.is_learning = is_learning
        self.last_interaction: tuple[str, str, AgentOutput] | None = None

    @classmethod
    def from_model(
        cls,
        model: str | LLMClient,
        reflector: ReflectorLike | None = None,
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        **options: Any,
    ) -> ACELiteLLM:
        """The established factory: ``max_tokens`` and ``temperature`` join ``model_settings``;
        every other keyword is the constructor's."""
        settings = dict(options.pop("model_settings", None) or {})
        for key, value in (("max_tokens", max_tokens), ("temperature", temperature)):
            if value is not None:
                settings[key] = value
        return cls(model, reflector=reflector, model_settings=settings or None, **options)

    @classmethod
    def from_config(
        cls, config: ACEModelConfig, *, validate: bool = False, **options: Any
    ) -> ACELiteLLM:
        """A runner with a model per role from an ``ACEModelConfig`` (keys come from the
        environment). ``validate=True`` first makes one cheap call per distinct model and
        raises ``ModelValidationError`` (a ``ConnectionError`` and an ``LLMError``) naming
        the model that failed. The ``subagent`` model becomes the RR's sub-call model when
        ``reflector_mode="recursive"``. Other keywords are the constructor's.
        """
        from ace.config import ACEModelConfig, ModelConfig
        from ace.roles import Agent, SkillManager

        if not isinstance(config, ACEModelConfig):
            raise UsageError(f"from_config needs an ACEModelConfig, got {type(config).__name__}")
        if validate:
            _validate_models(config)
        agent, reflector_cfg, manager = (
            config.for_role(r) for r in ("agent", "reflector", "skill_manager")
        )
        mode = options.pop("reflector_mode", None)
        rr_config = options.pop("rr_config", None)
        if "reflector" not in options:
            sub: ModelConfig | None = config.subagent
            if sub is not None and _mode(mode).value == "recursive":
                from ace.rr import RRConfig

                base = rr_config if rr_config is not None else RRConfig()
                rr_config = base.model_copy(update={"subagent_model": sub.model})
            options["reflector"] = _reflector(
                reflector_cfg.model, mode, rr_config, reflector_cfg.model_settings()
            )
        options.setdefault("agent", Agent(agent.model, model_settings=agent.model_settings()))
        options.setdefault(
            "skill_manager", SkillManager(manager.model, model_settings=manager.model_settings())
        )
        return cls(agent.model, **options)

    @classmethod
    def from_setup(
        cls,
        *,
        config_dir: str | os.PathLike[str] | None = None,
        validate: bool = False,
        **options: Any,
    ) -> ACELiteLLM:
        """A runner configured by ``ace setup``: ``ace.toml`` (in ``config_dir``, else the
        working directory or a parent) and its ``.env`` (keys the environment lacks), under
        the one precedence: environment > ``.env`` > ``ace.toml`` > defaults. No
        ``ace.toml`` raises ``FileNotFoundError`` pointing at ``ace setup``."""
        from ace.config import find_config, resolve_config

        start = Path(config_dir) if config_dir is not None else None
        if start is not None and not (start / "ace.toml").is_file():
            raise FileNotFoundError(
                2, "no ace.toml here; run `ace setup` to create one", str(start)
            )
        if start is None and find_config() is None:
            raise FileNotFoundError(
                2, "no ace.toml in this directory or its parents; run `ace setup` to create one",
                str(Path.cwd()),
            )  # fmt: skip
        resolved = resolve_config(start=start)
        resolved.apply_dotenv()
        return cls.from_config(resolved.config, validate=validate, **options)

    # ----------------------------------------------------------------- answering
    def ask(self, question: str, context: str = "") -> str:
        """Answer with the current skillbook; remembers the exchange for feedback."""
        output = self.agent.generate(question=question, context=context, skillbook=self.view())
        self.last_interaction = (question, context, output)
        return str(output.final_answer)

    # ----------------------------------------------------------------- learning
    def learn(
        self,
        samples: Sequence[Sample],
        environment: TaskEnvironment | None = None,
        epochs: int = 1,
        *,
        wait: bool = True,
    ) -> list[SampleResult[ACEStepContext]]:
        """Answer, judge and learn from each sample; answering never waits for learning."""
        env = environment or self.environment or SimpleEnvironment()
        steps: list[StepProtocol[Any]] = [AgentStep(self.agent), EvaluateStep(env)]
        if self.is_learning:
            steps += self._tail(background=True)
        pipeline = Pipeline(steps, name="ACELiteLLM.learn")
        items = list(samples)
        return self.run_epochs(
            lambda epoch, total: item_contexts(items, self.skillbook, epoch, total),
            epochs,
            pipeline=pipeline,
            wait=wait,
        )

    def learn_from_feedback(self, feedback: str, ground_truth: str | None = None) -> bool:
        """Learn from the last ``ask``: reflect with ``feedback``, then update the skillbook.

        Returns False (and changes nothing) when learning is disabled.
        """
        if self.last_interaction is None:
            raise UsageError(
                "learn_from_feedback: call ask() first; there is nothing to learn from"
            )
        if not self.is_learning:
            return False
        question, context, output = self.last_interaction
        from ace.environments import EnvironmentResult

        ctx = ACEStepContext(
            sample=Sample(
                question=question, context=context, ground_truth=ground_truth, id="feedback"
            ),
            skillbook=self.view(),
            agent_output=output,
            environment_result=EnvironmentResult(feedback=feedback, ground_truth=ground_truth),
        )
        (result,) = Pipeline(self._tail(background=False), name="ACELiteLLM.feedback").run([ctx])
        if result.error is not None:
            raise result.error
        return True

    def learn_from_traces(
        self, traces: Any, epochs: int = 1, *, wait: bool = True
    ) -> list[SampleResult[ACEStepContext]]:
        """Learn from recorded traces (files or loaded data) without re-running them."""
        from ace.traces import load_traces

        loaded = load_traces(traces)
        pipeline = Pipeline(
            [LoadTracesStep(), *self._tail(background=False, from_trace=True)],
            name="ACELiteLLM.traces",
        )
        return self.run_epochs(
            lambda epoch, total: item_contexts(loaded, self.skillbook, epoch, total),
            epochs,
            pipeline=pipeline,
            wait=wait,
        )

    def build_steps(self, *, environment: TaskEnvironment | None = None) -> list[StepProtocol[Any]]:
        """The steps ``learn`` runs, for recomposition into your own pipeline."""
        env = environment or self.environment or SimpleEnvironment()
        return [AgentStep(self.agent), EvaluateStep(env), *self._tail(background=True)]

    def _tail(self, *, background: bool, from_trace: bool = False) -> list[StepProtocol[Any]]:
        return learning_tail(
            self.reflector,
            self.skill_manager,
            self.skillbook,
            self.dedup_manager,
            self.checkpoint_dir,
            dedup_interval=self.dedup_interval,
            checkpoint_interval=self.checkpoint_interval,
            from_trace=from_trace,
            background=background,
        )

    # ----------------------------------------------------------------- switches and files
    def enable_learning(self) -> None:
        """Let ``learn*`` calls change the skillbook again."""
        self.is_learning = True

    def disable_learning(self) -> None:
        """Keep answering with the current skills but stop changing them."""
        self.is_learning = False

    def get_strategies(self) -> str:
        """The learned skills as prompt text."""
        return self.skillbook.as_prompt()

    def load(self, path: str | os.PathLike[str]) -> None:
        """Replace the skillbook with the one saved at ``path`` (waits for learning first)."""
        self.wait_for_background()
        self.skillbook = Skillbook.load(path)

    def save_skillbook(self, path: str | os.PathLike[str]) -> Path:
        """The established name of ``save``."""
        return self.save(path)

    def load_skillbook(self, path: str | os.PathLike[str]) -> None:
        """The established name of ``load``."""
        self.load(path)

    @classmethod
    def from_file(
        cls, path: str | os.PathLike[str], model: str | LLMClient, **options: Any
    ) -> ACELiteLLM:
        """A runner whose skillbook is loaded from ``path``."""
        return cls(model, skillbook=Path(path), **options)


def _reflector(
    model: str | LLMClient,
    mode: ReflectorMode | str | None,
    rr_config: RRConfig | None,
    model_settings: Mapping[str, Any] | None,
) -> ReflectorLike:
    from ace.roles import Reflector, ReflectorMode

    chosen = _mode(mode)
    if chosen is ReflectorMode.RECURSIVE:
        from ace.rr import RRStep

        return RRStep(model, rr_config, model_settings=model_settings)
    if rr_config is not None:
        raise UsageError("rr_config applies to reflector_mode=ReflectorMode.RECURSIVE only")
    return Reflector(model, model_settings=model_settings)


def _validate_models(config: ACEModelConfig) -> None:
    from ace.config import ROLES, validate_connection
    from ace.errors import ModelValidationError

    for role in ROLES:
        model = config.for_role(role).model
        result = validate_connection(model)
        if not result.success:
            raise ModelValidationError(
                f"model {model!r} (for the {role}) failed validation: {result.error}", model=model
            )


def _mode(mode: ReflectorMode | str | None) -> ReflectorMode:
    from ace.roles import ReflectorMode

    try:
        return ReflectorMode(mode) if mode is not None else ReflectorMode.SIMPLE
    except ValueError:
        raise UsageError(
            f"reflector_mode must be one of {[m.value for m in ReflectorMode]}, got {mode!r}"
        ) from None
