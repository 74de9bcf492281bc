"""The normalised trace schema every loader produces (pydantic v2, JSON-serialisable).

A :class:`Trace` is the reflector's view of one attempt: the task (question, context,
ground truth, feedback, outcome), the ordered steps, and the source record kept as
``raw``. It has no field for evaluation labels, and its validator refuses a ``raw`` that
still holds a label key, so a ``Trace`` cannot carry them; labels travel beside it in a
:class:`LabelledTrace`.

``steps[i].index == i`` always holds, and every element of the source's step list
(``history``, ``messages``, ``steps``, ...) becomes exactly one step, so an index into
the source (Who&When's ``mistake_step``) is an index into ``steps``.
"""

from __future__ import annotations

from typing import Any, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, JsonValue, model_validator

from ace.traces._json import content_hash
from ace.traces.labels import DEFAULT_LABEL_KEYS, TraceLabels, find_label_key


class ToolCall(BaseModel):
    """A tool or function the agent asked to run."""

    model_config = ConfigDict(extra="forbid")

    name: str
    arguments: JsonValue = None
    """Arguments as given; a JSON-encoded object string (OpenAI) is decoded when it parses."""
    id: str | None = None


class ToolResult(BaseModel):
    """What a tool returned."""

    model_config = ConfigDict(extra="forbid")

    output: str
    """The result as text (non-text results are kept as compact JSON)."""
    name: str | None = None
    call_id: str | None = None
    """The ``ToolCall.id`` this answers, when the source says."""


class TraceStep(BaseModel):
    """One element of the trace: a message, an action with its observation, or a log entry."""

    model_config = ConfigDict(extra="forbid")

    index: int
    """Position in ``Trace.steps`` and in the source's step list."""
    content: str = ""
    """What the agent said or thought; tool outputs live in ``tool_results``."""
    role: str | None = None
    """The role as the source spelled it, e.g. ``assistant`` or ``Orchestrator (thought)``."""
    agent: str | None = None
    """Who acted: the message's ``name``, else its role without a trailing ``(...)``."""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    tool_results: list[ToolResult] = Field(default_factory=list)
    timestamp: str | None = None
    """When the step happened, as the source wrote it (ISO 8601 text, or epoch seconds)."""


class TraceSource(BaseModel):
    """Where a trace came from, for error messages and for skills' provenance."""

    model_config = ConfigDict(extra="forbid")

    path: str | None = None
    line: int | None = None
    """1-based line of a JSONL file."""
    index: int | None = None
    """0-based position inside a batch (a list or ``{"tasks": [...]}``)."""

    def describe(self) -> str:
        """Human wording, e.g. ``trace file runs.jsonl line 3`` or ``trace item 2``."""
        parts = [f"trace file {self.path}" if self.path is not None else "trace"]
        if self.line is not None:
            parts.append(f"line {self.line}")
        if self.index is not None:
            parts.append(f"item {self.index}")
        return " ".join(parts)


class Trace(BaseModel):
    """One normalised trace, label-free: the only trace object a reflector receives."""

    model_config = ConfigDict(extra="forbid")

    id: str
    """Stable id: the record's own id, else file name and position, else a content hash."""
    format: str
    """The source shape it was read from (see ``ace.traces.FORMATS``)."""
    source: TraceSource | None = None
    question: str | None = None
    context: str | None = None
    ground_truth: str | None = None
    feedback: str | None = None
    final_answer: str | None = None
    is_correct: bool | None = None
    """Whether the attempt was right, when the source says (feedback, not a label)."""
    steps: list[TraceStep] = Field(default_factory=list)
    raw: JsonValue = None
    """The source record, with every evaluation label removed."""

    @model_validator(mode="after")
    def _check_invariants(self) -> Self:
        for position, step in enumerate(self.steps):
            if step.index != position:
                raise ValueError(f"steps[{position}] has index {step.index}; expected {position}")
        key = find_label_key(self.raw, DEFAULT_LABEL_KEYS)
        if key is not None:
            raise ValueError(f"raw holds the evaluation label {key!r}; load it with load_trace")
        return self

    def to_json(self) -> str:
        """The trace as JSON text (``Trace.model_validate_json`` reads it back)."""
        return self.model_dump_json()

    def render(self, max_chars: int = 20_000, *, include_task: bool = True) -> str:
        """The trace as text for a prompt, at most ``max_chars`` long.

        A long trace keeps its first and last steps; each cut is marked in the text with
        how much was removed (characters, and which steps), never dropped silently.
        ``include_task=False`` leaves out question, context, ground truth and feedback
        (for prompts that show them elsewhere).
        """
        from ace.traces._render import render_trace

        return render_trace(self, max_chars, include_task=include_task)

    @classmethod
    def from_task(
        cls,
        *,
        question: str,
        reasoning: str = "",
        final_answer: str = "",
        ground_truth: str | None = None,
        feedback: str | None = None,
        context: str | None = None,
        trace_id: str | None = None,
    ) -> Trace:
        """A one-step trace from a reflector's arguments (the agent's reasoning and answer)."""
        raw: dict[str, JsonValue] = {"question": question, "reasoning": reasoning}
        raw["final_answer"] = final_answer
        for key, value in (
            ("ground_truth", ground_truth),
            ("feedback", feedback),
            ("context", context),
        ):
            if value is not None:
                raw[key] = value
        return cls(
            id=trace_id or content_hash(raw),
            format="ace",
            question=question,
            context=context,
            ground_truth=ground_truth,
            feedback=feedback,
            final_answer=final_answer or None,
            steps=reasoning_steps(reasoning),
            raw=raw,
        )


def reasoning_steps(reasoning: str) -> list[TraceStep]:
    """The steps of a trace known only by the agent's reasoning: one, or none when empty."""
    if not reasoning:
        return []
    return [TraceStep(index=0, role="assistant", agent="agent", content=reasoning)]


_Model = TypeVar("_Model", bound=BaseModel)
_new = object.__new__  # what cls.__new__ is for a model, without looking it up
# What object.__setattr__ finds for these names, called without the lookup (a third
# cheaper): BaseModel's __dict__ and its slots, shared by every model.
_set_dict = BaseModel.__dict__["__dict__"].__set__
_set_fields_set = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__


def built(cls: type[_Model], values: dict[str, Any]) -> _Model:
    """``cls(**values)`` for ``values`` known to be valid, giving every field of ``cls`` in
    order, in fresh lists: the instance validation would make (as pydantic's
    ``model_construct`` makes it, without its work per field), for the trace readers that
    make one per step. ``values`` becomes its ``__dict__``."""
    made = _new(cls)
    _set_dict(made, values)
    _set_fields_set(made, set(values))
    _set_extra(made, None)
    _set_private(made, None)
    return made


class LabelledTrace(BaseModel):
    """A trace and its evaluation labels, held apart: pass only ``.trace`` to a reflector."""

    model_config = ConfigDict(extra="forbid")

    trace: Trace
    labels: TraceLabels = Field(default_factory=TraceLabels)
