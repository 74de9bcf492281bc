"""What a worker does with one learn job: reflect on the run, then curate the playbook.

The Reflector (single-pass, or the Recursive Reflector ``ace.rr.RRStep`` with
``reflector="rr"``) analyses the trajectory; the skills the run was shown are read from
its ``**PLAYBOOK_BEGIN**``/``**PLAYBOOK_END**`` blocks (``ace.service.markers``) and given
to the Reflector as the cited skills, so its helpful/harmful verdicts become TAG
operations; the SkillManager (the curator) turns the reflection into an ``UpdateBatch``.
Applying the batch is the store's part (``Store.finish_job``).

Additional instructions of a request are appended to the role's prompt (to the system
message of the RR's conversation) under a heading that says where they come from.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from ace.errors import (
    BudgetExceededError,
    ConfigurationError,
    InputError,
    LLMError,
    NonRetryableError,
    RunError,
    StructuredOutputError,
    UsageError,
)
from ace.llm.client import LLMClient, Prompt
from ace.outputs import AgentOutput, ReflectorOutput
from ace.service.markers import embedded_skill_ids, strip_blocks
from ace.service.requests import LearnRequest
from ace.updates import UpdateBatch

if TYPE_CHECKING:
    from ace.config import ResolvedConfig
    from ace.llm.response import LLMResponse, StructuredResult
    from ace.roles import Reflector, SkillManager
    from ace.rr import RRConfig, RRStep
    from ace.skillbook import Skillbook

T = TypeVar("T")
ReflectorKind = Literal["simple", "rr"]
REFLECTOR_KINDS: tuple[ReflectorKind, ...] = ("simple", "rr")
"""``simple``: the single-pass Reflector; ``rr``: the Recursive Reflector."""
NOT_RECORDED = "(not recorded separately: see the execution trace)"


class ReflectionFailed(RunError):
    """The Recursive Reflector could not analyse the run; ``cause`` says why."""

    def __init__(self, cause: str, *, retryable: bool) -> None:
        super().__init__(cause)
        self.cause = cause
        self.retryable = retryable


@dataclass(frozen=True)
class LearnerConfig:
    """Which models reflect and curate, and how.

    ``reflector_settings`` / ``skill_manager_settings`` are model settings
    (``temperature``, ``max_tokens``, ``max_retries``, ``api_base``, ...; see
    ``ace.llm.settings.client_from_settings``). ``subagent_model`` and ``rr_config`` are
    for ``reflector="rr"`` only.
    """

    reflector_model: str
    skill_manager_model: str
    reflector: ReflectorKind = "simple"
    reflector_settings: Mapping[str, Any] = field(default_factory=dict)
    skill_manager_settings: Mapping[str, Any] = field(default_factory=dict)
    subagent_model: str | None = None
    rr_config: RRConfig | None = None

    def __post_init__(self) -> None:
        for name in ("reflector_model", "skill_manager_model"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise UsageError(f"LearnerConfig: {name} must be a model string, got {value!r}")
        if self.reflector not in REFLECTOR_KINDS:
            raise UsageError(
                f"LearnerConfig: reflector must be one of {', '.join(REFLECTOR_KINDS)}, "
                f"got {self.reflector!r}"
            )
        if self.reflector != "rr" and (self.subagent_model or self.rr_config is not None):
            raise UsageError("LearnerConfig: subagent_model and rr_config need reflector='rr'")
        # Settings are checked now (a bad key is the caller's mistake, not a failed job).
        from ace.llm.settings import client_from_settings

        client_from_settings(self.reflector_model, self.reflector_settings)
        client_from_settings(self.skill_manager_model, self.skill_manager_settings)

    @classmethod
    def from_config(
        cls,
        resolved: ResolvedConfig | None = None,
        *,
        reflector: ReflectorKind = "simple",
        rr_config: RRConfig | None = None,
    ) -> LearnerConfig:
        """The models of ``ace.toml`` / the environment (``ace.config.resolve_config``):
        the reflector's and the skill manager's, with their settings, and the sub-agent's
        for the RR when it has its own."""
        from ace.config import resolve_config

        resolved = resolved or resolve_config()
        reflector_config = resolved.config.for_role("reflector")
        manager_config = resolved.config.for_role("skill_manager")
        subagent = None
        if reflector == "rr":
            setting = next(s for s in resolved.settings if s.name == "subagent")
            if not setting.source.startswith("same as"):
                subagent = resolved.model_for("subagent")
        return cls(
            reflector_model=reflector_config.model,
            skill_manager_model=manager_config.model,
            reflector=reflector,
            reflector_settings=reflector_config.model_settings(),
            skill_manager_settings=manager_config.model_settings(),
            subagent_model=subagent,
            rr_config=rr_config,
        )


@dataclass(frozen=True)
class LearnOutcome:
    """What one job produced before it is applied."""

    batch: UpdateBatch
    reflection: ReflectorOutput
    cited_skill_ids: list[str]
    question: str
    timings: dict[str, float]

    def summary(self) -> dict[str, Any]:
        """The job's result fields (the store adds version and operation counts)."""
        return {
            "cited_skill_ids": self.cited_skill_ids,
            "key_insight": self.reflection.key_insight,
            **{k: round(v, 3) for k, v in self.timings.items()},
        }


def instructions_note(instructions: str) -> str:
    """A request's additional instructions as they are added to a role's prompt, under
    their heading (``prompts/service/instructions.j2``)."""
    from ace.prompting import render_prompt

    return render_prompt("service/instructions.j2", instructions=instructions.strip()).strip()


class _InstructedClient(LLMClient):
    """An ``LLMClient`` that adds a request's additional instructions to every prompt."""

    instructions: str

    @classmethod
    def wrap(cls, client: LLMClient, instructions: str) -> LLMClient:
        clone = object.__new__(cls)
        clone.__dict__.update(client.__dict__)
        clone.instructions = instructions
        return clone

    def _add(self, prompt: Prompt) -> Prompt:
        note = instructions_note(self.instructions)
        if isinstance(prompt, str):
            return f"{prompt}\n\n{note}"
        messages = [dict(m) for m in prompt]
        for message in messages:
            if message.get("role") == "system" and isinstance(message.get("content"), str):
                message["content"] = f"{message['content']}\n\n{note}"
                return messages
        return [{"role": "system", "content": note}, *messages]

    def with_observers(self, *observers: Any) -> LLMClient:
        """A copy that also reports to ``observers`` and still adds the instructions."""
        return _InstructedClient.wrap(super().with_observers(*observers), self.instructions)

    def complete(
        self,
        prompt: Prompt,
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        response_format: Mapping[str, Any] | None = None,
    ) -> LLMResponse:
        """``LLMClient.complete`` with the instructions added."""
        return super().complete(
            self._add(prompt),
            max_tokens=max_tokens,
            temperature=temperature,
            response_format=response_format,
        )

    async def acomplete(
        self,
        prompt: Prompt,
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        response_format: Mapping[str, Any] | None = None,
    ) -> LLMResponse:
        """``LLMClient.acomplete`` with the instructions added."""
        return await super().acomplete(
            self._add(prompt),
            max_tokens=max_tokens,
            temperature=temperature,
            response_format=response_format,
        )

    def structured(
        self,
        prompt: Prompt,
        output_type: type[T],
        *,
        max_validation_retries: int = 2,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> StructuredResult[T]:
        """``LLMClient.structured`` with the instructions added."""
        return super().structured(
            self._add(prompt),
            output_type,
            max_validation_retries=max_validation_retries,
            max_tokens=max_tokens,
            temperature=temperature,
        )

    async def astructured(
        self,
        prompt: Prompt,
        output_type: type[T],
        *,
        max_validation_retries: int = 2,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> StructuredResult[T]:
        """``LLMClient.astructured`` with the instructions added."""
        return await super().astructured(
            self._add(prompt),
            output_type,
            max_validation_retries=max_validation_retries,
            max_tokens=max_tokens,
            temperature=temperature,
        )


def _instructed(client: LLMClient, instructions: str | None) -> LLMClient:
    return (
        _InstructedClient.wrap(client, instructions)
        if instructions and instructions.strip()
        else client
    )


class _Roles:
    def __init__(
        self,
        reflector: Reflector | RRStep,
        skill_manager: SkillManager,
    ) -> None:
        self.reflector = reflector
        self.skill_manager = skill_manager
        self.reflector_client: LLMClient = (
            reflector.main if _is_rr(reflector) else reflector.client  # type: ignore[union-attr]
        )
        self.skill_manager_client = skill_manager.client


def _is_rr(reflector: object) -> bool:
    return hasattr(reflector, "analyse")


class Learner:
    """Runs the learning of one job at a time per thread; roles are built per thread.

    ``close()`` stops the Recursive Reflector's warm kernels, if any.
    """

    def __init__(self, config: LearnerConfig) -> None:
        self.config = config
        self._local = threading.local()
        self._rr_steps: list[RRStep] = []
        self._lock = threading.Lock()

    def missing_keys(self) -> list[str]:
        """One line per model whose API key the environment lacks (``ace.config.keys``;
        settings with an ``api_key`` need none)."""
        from ace.config.keys import missing_key

        config = self.config
        models = [
            (config.reflector_model, config.reflector_settings),
            (config.skill_manager_model, config.skill_manager_settings),
        ]
        if config.subagent_model:
            models.append((config.subagent_model, {}))
        problems: dict[str, None] = {}
        for model, settings in models:
            absent = None if settings.get("api_key") else missing_key(model)
            if absent is not None:
                problems.setdefault(
                    f"model {model!r} needs {absent} in the environment "
                    f"(e.g. export {absent.split(' or ')[0]}=...)"
                )
        return list(problems)

    def check(self) -> None:
        """Raise ``ConfigurationError`` when a model's API key is missing (before any job)."""
        problems = self.missing_keys()
        if problems:
            raise ConfigurationError("; ".join(problems))

    def _roles(self) -> _Roles:
        roles: _Roles | None = getattr(self._local, "roles", None)
        if roles is not None:
            return roles
        from ace.roles import Reflector, SkillManager

        config = self.config
        reflector: Reflector | RRStep
        if config.reflector == "rr":
            from ace.rr import RRConfig, RRStep

            rr_config = config.rr_config or RRConfig()
            if config.subagent_model:
                rr_config = rr_config.model_copy(update={"subagent_model": config.subagent_model})
            reflector = RRStep(
                config.reflector_model, rr_config, model_settings=config.reflector_settings
            )
            with self._lock:
                self._rr_steps.append(reflector)
        else:
            reflector = Reflector(config.reflector_model, model_settings=config.reflector_settings)
        manager = SkillManager(
            config.skill_manager_model, model_settings=config.skill_manager_settings
        )
        roles = _Roles(reflector, manager)
        self._local.roles = roles
        return roles

    def learn(
        self, request: LearnRequest, skillbook: Skillbook, *, job_id: str | None = None
    ) -> LearnOutcome:
        """Reflect on ``request`` against ``skillbook`` and return the proposed batch.

        Raises what the roles raise (``LLMError`` and its kinds, ``TraceFormatError``), and
        ``ReflectionFailed`` when the Recursive Reflector names a cause for failing.
        """
        problems = self.missing_keys()
        if problems:  # fail the job now with the cause; no call, no retry
            raise NonRetryableError("; ".join(problems))
        roles = self._roles()
        known = {s.id for s in skillbook.skills(include_inactive=True)}
        cited = embedded_skill_ids(request.user_message, request.trajectory, known=known)
        question = strip_blocks(request.user_message) or request.user_message
        agent_output = AgentOutput(
            reasoning=NOT_RECORDED, final_answer=NOT_RECORDED, skill_ids=cited
        )
        started = time.perf_counter()
        reflector = roles.reflector
        instructed = _instructed(roles.reflector_client, request.reflector_additional_instructions)
        if _is_rr(reflector):
            reflector.main = instructed  # type: ignore[union-attr]
        else:
            reflector.client = instructed  # type: ignore[union-attr]
        reflection = reflector.reflect(
            question=question,
            agent_output=agent_output,
            skillbook=skillbook,
            ground_truth=request.ground_truth,
            feedback=request.evaluation,
            trace=request.trajectory,
        )
        if _is_rr(reflector):
            _check_rr(reflector)
        reflected = time.perf_counter()
        manager = roles.skill_manager
        manager.client = _instructed(
            roles.skill_manager_client, request.curator_additional_instructions
        )
        decision = manager.update_skills(
            reflections=reflection,
            skillbook=skillbook,
            question_context=question,
            progress=f"learn job {job_id}" if job_id else "",
        )
        curated = time.perf_counter()
        return LearnOutcome(
            batch=decision.update,
            reflection=reflection,
            cited_skill_ids=cited,
            question=question,
            timings={"reflect_s": reflected - started, "curate_s": curated - reflected},
        )

    def close(self) -> None:
        """Close every Recursive Reflector this learner started (their warm kernels)."""
        with self._lock:
            steps, self._rr_steps = self._rr_steps, []
        for step in steps:
            step.close()


def _check_rr(step: Any) -> None:
    result = step.last_result
    if result is None:
        return
    transcript = result.transcript
    if transcript.cause and transcript.outcome in ("error", "timeout", "interrupted"):
        cause = f"the Recursive Reflector failed: {transcript.cause}"
        raise ReflectionFailed(cause, retryable=transcript.cause.startswith("LLMError:"))


def classify_failure(exc: BaseException) -> tuple[str, bool]:
    """``(cause, retryable)`` for a failed attempt: only failures a later try can fix
    (rate limits, timeouts, server errors, i.e. ``LLMError`` after the client's own
    retries; a lost database connection) are retried. A missing key, failed
    authentication, an unknown model, a reply that never validated, a bad trajectory or
    a bug fail the job at once."""
    if isinstance(exc, ReflectionFailed):
        return exc.cause, exc.retryable
    text = " ".join(str(exc).split())[:2000]
    cause = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    if isinstance(exc, NonRetryableError | StructuredOutputError | BudgetExceededError):
        return cause, False
    if isinstance(exc, LLMError):
        return cause, True
    if isinstance(exc, UsageError | InputError):
        return cause, False
    if _is_connection_error(exc):
        return f"database: {cause}", True
    return f"internal error: {cause}", False


def _is_connection_error(exc: BaseException) -> bool:
    try:
        from sqlalchemy.exc import DBAPIError, OperationalError
    except ImportError:  # pragma: no cover - the store needs sqlalchemy anyway
        return False
    if isinstance(exc, OperationalError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def source_for(job_id: str, question: str) -> dict[str, Any]:
    """The provenance record a job's ADD and UPDATE operations carry."""
    return {
        "source_system": "ace-service",
        "trace_id": job_id,
        "display_name": f"learn job {job_id}",
        "sample_question": question[:300] or None,
    }


__all__: Sequence[str] = [
    "REFLECTOR_KINDS",
    "LearnOutcome",
    "Learner",
    "LearnerConfig",
    "ReflectionFailed",
    "ReflectorKind",
    "classify_failure",
    "instructions_note",
    "source_for",
]
