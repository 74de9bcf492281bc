"""RRConfig: every knob of a Recursive Reflector session, with its default."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ace.errors import ConfigurationError


class RRConfig(BaseModel):
    """Limits and models for one RR session. ``None`` means "no limit"."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_iterations: int = Field(default=12, ge=1)
    """Model turns (prompt → code → run) before the session must end."""
    max_llm_calls: int = Field(default=30, ge=1)
    """Hard cap on every model call of the session: main turns, sub-calls, retries, synthesis."""
    max_tokens: int | None = Field(default=None, ge=1)
    """Cap on prompt + completion tokens of all calls; each call reserves before it is sent."""
    max_cost_usd: float | None = Field(default=None, gt=0)
    """Cap on the session's cost; needs models litellm can price."""
    timeout: float = Field(default=30.0, gt=0, le=600)
    """Wall-clock seconds per cell (paused while a host call such as a sub-LLM call runs)."""
    max_output_chars: int = Field(default=4_000, ge=200)
    """Cell output fed back to the model is cut to this size, with a marker."""
    max_context_chars: int = Field(default=120_000, ge=4_000)
    """The conversation sent to the main model stays under this size; old turns are summarised."""
    main_max_tokens: int = Field(default=2_048, ge=64)
    """Completion-token cap of each main-model turn (used for the ledger's reservations)."""
    subagent_model: str | None = None
    """Cheaper model for ``ask_llm``/``llm_query``/``llm_batch``; None = the main model."""
    subagent_max_tokens: int = Field(default=1_024, ge=16)
    subagent_temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    subagent_concurrency: int = Field(default=8, ge=1, le=64)
    """How many batched sub-calls run at once."""
    max_subcall_prompt_chars: int = Field(default=60_000, ge=1_000)
    """A sub-call prompt longer than this is refused (the kernel is told to slice its data)."""
    enable_subagent: bool = True
    """Offer ``ask_llm``/``llm_query``/``llm_batch``/``parallel_map`` to kernel code."""
    enable_llm_query: bool = True
    """Offer the raw-prompt sub-calls ``llm_query``, its batch form ``llm_batch`` and
    ``parallel_map`` (built on ``llm_batch``). False leaves ``ask_llm`` as the only sub-call
    (when ``enable_subagent`` is on): the others are not defined in the kernel and the
    system prompt does not mention them."""
    subagent_system_prompt: str | None = None
    """System message sent with every sub-call (``ask_llm``, ``llm_query``, ``llm_batch``,
    ``parallel_map``), ahead of the prompt. None sends the shipped prompts unchanged (no
    system message; ``ask_llm`` wraps its question in ``prompts/rr/ask_llm.j2`` either way).
    Must not be blank."""
    subagent_max_requests: int | None = Field(default=None, ge=1)
    """At most this many sub-agent requests (each attempt sent to the sub-model, retries
    included, children's sub-calls included) in one session. A sub-call past it is refused
    inside the kernel with a message, like other budget refusals, and is not charged.
    None = no cap beyond ``max_llm_calls``."""
    enable_fallback_synthesis: bool = True
    """Reserve one call to synthesise a reflection from the transcript when limits are hit."""
    max_depth: int = Field(default=0, ge=0, le=3)
    """How deep ``rr_query`` may recurse: 0 = no child sessions (the function is absent)."""
    child_budget_share: float = Field(default=0.5, gt=0.0, le=1.0)
    """Share of the calls, tokens and cost left that one child session may spend."""
    max_children_per_cell: int = Field(default=2, ge=1)
    """``rr_query`` calls one cell may make (each starts a session and a kernel)."""
    max_children: int = Field(default=6, ge=1)
    """``rr_query`` calls in a whole session, children of children not counted here (each
    child has its own limits, and every call they make is charged to this budget)."""
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    """Temperature of the main model."""
    warm_kernels: int = Field(default=1, ge=0, le=8)
    """Kernels an ``RRStep`` keeps started ahead from its second session on (a step used
    once leaves nothing running), so later sessions and ``rr_query`` children start in
    milliseconds. Each kernel serves one session and is destroyed after it. 0 = start
    every kernel cold."""
    warm_idle_s: float | None = Field(default=30.0, gt=0)
    """Seconds without a session after which an ``RRStep``'s warm kernels are stopped
    (~80 MB each); the next session starts cold and warms them again. None = never."""
    max_repeated_cells: int | None = Field(default=2, ge=1)
    """How many times the model may resend an earlier cell verbatim before the session stops
    exploring and synthesises its reflection: the same code on the same data shows nothing
    new, and weak models loop on one cell, each turn costing a full model call. The first
    resend is answered with a note. None = never stop for this."""
    preview_chars: int = Field(default=300, ge=40)
    """Size of each step preview shown in the first prompt."""

    def __init__(self, **data: Any) -> None:
        # pydantic turns every ValueError of a validator (ConfigurationError is one) into a
        # ValidationError; a field validator's ConfigurationError is raised as itself.
        try:
            super().__init__(**data)
        except ValidationError as exc:
            for error in exc.errors():
                cause = (error.get("ctx") or {}).get("error")
                if isinstance(cause, ConfigurationError) and error["loc"]:
                    raise cause from None
            raise

    @field_validator("subagent_system_prompt")
    @classmethod
    def _prompt_not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ConfigurationError(
                "RRConfig: subagent_system_prompt must not be empty or blank; "
                "leave it None to keep the shipped sub-call prompts"
            )
        return value

    @model_validator(mode="after")
    def _budget_leaves_room(self) -> RRConfig:
        if self.enable_fallback_synthesis and self.max_llm_calls < 2:
            raise ConfigurationError(
                "RRConfig: max_llm_calls must be >= 2 when enable_fallback_synthesis is on "
                "(one call is reserved for the synthesis)"
            )
        return self
