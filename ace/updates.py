"""Skillbook update operations: the only way learning changes a skillbook."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

OperationType = Literal["ADD", "UPDATE", "TAG", "REMOVE"]


class UpdateOperation(BaseModel):
    """One change to a skillbook.

    ``ADD`` needs ``section`` and ``content``; ``UPDATE``, ``TAG`` and ``REMOVE`` need
    ``skill_id``. ``TAG`` reads its counts from ``metadata`` (e.g. ``{"helpful": 1}``).
    """

    type: OperationType
    section: str = ""
    content: str | None = None
    skill_id: str | None = None
    justification: str | None = None
    evidence: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("type", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


class UpdateBatch(BaseModel):
    """The operations of one SkillManager decision, with its reasoning."""

    reasoning: str = ""
    operations: list[UpdateOperation] = Field(default_factory=list)

    @classmethod
    def from_json(cls, payload: Mapping[str, Any] | str | bytes) -> UpdateBatch:
        """A batch from its JSON (text or parsed), as the established API reads it."""
        if isinstance(payload, str | bytes):
            return cls.model_validate_json(payload)
        return cls.model_validate(payload)

    def to_json(self) -> dict[str, Any]:
        """The batch as JSON data (unset optional fields left out)."""
        return self.model_dump(mode="json", exclude_none=True)


class UpdateReport(BaseModel):
    """What ``Skillbook.apply_update`` did: applied operations and the ones it skipped."""

    applied: list[UpdateOperation] = Field(default_factory=list)
    added_ids: list[str] = Field(default_factory=list)
    skipped: list[tuple[UpdateOperation, str]] = Field(default_factory=list)
    """Operations not applied, each with the reason (e.g. it names a missing skill)."""

    @property
    def missing_skill_ids(self) -> list[str]:
        """Skill ids named by operations whose skill does not exist."""
        return [op.skill_id for op, why in self.skipped if op.skill_id and "no skill" in why]
