"""What the three roles return: pydantic models shared by every part of ACE.

Field names follow the established ACE API so code written against it keeps working.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ace.updates import UpdateBatch

TagName = Literal["helpful", "harmful", "neutral"]


class AgentOutput(BaseModel):
    """The Agent's answer and the skills it cited while reaching it."""

    reasoning: str = ""
    final_answer: str = ""
    skill_ids: list[str] = Field(default_factory=list)
    """Ids of skillbook entries the Agent cited (only ids that exist in the skillbook)."""
    raw: dict[str, Any] = Field(default_factory=dict)
    """Whatever the model returned, for debugging; never used for decisions."""


class ExtractedLearning(BaseModel):
    """One reusable lesson drawn from a trace."""

    learning: str
    atomicity_score: float = Field(default=0.5, ge=0.0, le=1.0)
    """1.0 = a single, self-contained idea; low scores mark lessons to split or drop."""
    evidence: str = ""
    justification: str = ""


class SkillTag(BaseModel):
    """The Reflector's verdict on one cited skill."""

    id: str
    tag: TagName


MAX_STEP = 10**9
"""Steps at or above this are no step: a number of thousands of digits is not an index."""


def step_number(value: object) -> object:
    """A model's step as an index: ``"5"`` and ``"step 5"`` give 5 (ASCII digits only:
    ``"٥"`` is a digit to ``int``; at most nine), an integer outside ``0..MAX_STEP`` gives
    None, anything else is left for validation."""
    if isinstance(value, str):
        digits = "".join(ch for ch in value if ch in "0123456789")
        return int(digits) if 0 < len(digits) <= 9 else None
    if isinstance(value, int) and not isinstance(value, bool) and not 0 <= value < MAX_STEP:
        return None
    return value


class Attribution(BaseModel):
    """Who made the decisive error, and when: used to score failure attribution."""

    agent: str | None = None
    step: int | None = None
    """Index into the normalised trace's ``steps`` (for Who&When: the ``history`` index)."""
    reason: str | None = None

    @field_validator("step", mode="before")
    @classmethod
    def _step(cls, value: object) -> object:
        return step_number(value)


class ReflectorOutput(BaseModel):
    """The Reflector's analysis of one attempt: what went wrong and what to learn."""

    model_config = ConfigDict(extra="ignore")

    reasoning: str = ""
    error_identification: str = ""
    root_cause_analysis: str = ""
    correct_approach: str = ""
    key_insight: str = ""
    extracted_learnings: list[ExtractedLearning] = Field(default_factory=list)
    skill_tags: list[SkillTag] = Field(default_factory=list)
    attribution: Attribution | None = None
    raw: dict[str, Any] = Field(default_factory=dict)
    """Diagnostics (the RR puts its transcript summary under ``raw["rr_trace"]``)."""


class ConsolidationOp(BaseModel):
    """One decision of a deduplication run about a pair of similar skills.

    ``MERGE``: ``removed_id`` was merged into ``kept_id`` (the survivor, whose content
    is now ``merged_content``). ``KEEP``: a judge decided both skills stay; the pair is
    never proposed again. ``skill_ids`` is the pair as compared, in both cases.
    """

    type: Literal["MERGE", "KEEP"]
    skill_ids: list[str] = Field(default_factory=list)
    kept_id: str | None = None
    """MERGE: the surviving skill (None for KEEP)."""
    removed_id: str | None = None
    """MERGE: the skill that was removed (None for KEEP)."""
    merged_content: str | None = None
    """MERGE: the survivor's content after the merge."""
    similarity: float = 0.0
    """The pair's similarity when it was decided (embedding cosine or lexical ratio)."""
    reasoning: str = ""


class SkillManagerOutput(BaseModel):
    """The SkillManager's decision: the operations to apply to the skillbook.

    ``consolidation_ops`` is never asked of the model (the SkillManager role requests
    only an ``UpdateBatch``); ``DeduplicateStep`` fills it, on the context's copy of
    this output, with the merges and keeps of the run that sample triggered.
    """

    update: UpdateBatch
    raw: dict[str, Any] = Field(default_factory=dict)
    consolidation_ops: list[ConsolidationOp] = Field(default_factory=list)
    """Deduplication operations, if enabled (set by ``DeduplicateStep``, not the model)."""
