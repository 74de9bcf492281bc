"""Who decides whether two similar skills are duplicates: a threshold rule or an LLM judge."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from pydantic import BaseModel

from ace.errors import UsageError
from ace.prompting import render_file, render_prompt
from ace.skillbook import Skill

if TYPE_CHECKING:
    from ace.llm import LLMClient


class DedupVerdict(BaseModel):
    """A decision about one pair of similar skills (also the LLM judge's reply schema)."""

    decision: Literal["MERGE", "KEEP"]
    """MERGE: keep one skill, remove the other. KEEP: both stay; never proposed again."""
    keep_id: str | None = None
    """For MERGE, the id that survives; None lets the manager choose (see its docs)."""
    merged_content: str | None = None
    """For MERGE, the survivor's new content; None lets the manager choose."""
    reasoning: str = ""
    """Why; recorded with KEEP decisions and in the merge's justification."""


class PairJudge(Protocol):
    """Decides about a candidate pair; None means "no decision" (the pair is left alone)."""

    def decide(self, a: Skill, b: Skill, similarity: float) -> DedupVerdict | None:
        """Judge skills ``a`` and ``b`` whose similarity is ``similarity``."""
        ...


class ThresholdJudge:
    """The deterministic default: MERGE at or above ``merge_threshold``, else no decision.

    It never records KEEP: a rule would reach the same verdict again, and an edited
    skill deserves a fresh look.
    """

    def __init__(self, merge_threshold: float) -> None:
        self.merge_threshold = merge_threshold

    def decide(self, a: Skill, b: Skill, similarity: float) -> DedupVerdict | None:
        """MERGE when ``similarity >= merge_threshold``."""
        if similarity < self.merge_threshold:
            return None
        return DedupVerdict(
            decision="MERGE",
            reasoning=f"similarity {similarity:.3f} >= merge threshold {self.merge_threshold}",
        )


class LLMJudge:
    """Asks a model (e.g. the SkillManager's) through ``LLMClient.structured``.

    The prompt is ``prompts/dedup_judge.j2`` unless ``prompt_template`` names another
    file (same variables: ``similarity``, ``a_id``, ``a_section``, ``a_content`` and the
    ``b_`` ones). A MERGE naming an id outside the pair is refused as no decision.
    """

    def __init__(
        self, model: str | LLMClient, *, prompt_template: str | os.PathLike[str] | None = None
    ) -> None:
        from ace.llm import get_client

        self.client = get_client(model)
        self.prompt_template = prompt_template

    def decide(self, a: Skill, b: Skill, similarity: float) -> DedupVerdict | None:
        """One structured model call per pair; raises ``LLMError`` when the model fails."""
        variables = {
            "similarity": f"{similarity:.3f}",
            "a_id": a.id,
            "a_section": a.section,
            "a_content": a.content,
            "b_id": b.id,
            "b_section": b.section,
            "b_content": b.content,
        }
        prompt = (
            render_prompt("dedup_judge.j2", **variables)
            if self.prompt_template is None
            else render_file(Path(self.prompt_template), **variables)
        )
        verdict = self.client.structured(prompt, DedupVerdict).value
        if verdict.decision == "MERGE" and verdict.keep_id not in (None, a.id, b.id):
            return None
        return verdict


def judge_for(
    merge_threshold: float, judge_model: str | LLMClient | None, judge: PairJudge | None
) -> PairJudge:
    """The judge a manager uses: an explicit one, an LLM judge for a model, else the rule."""
    if judge is not None and judge_model is not None:
        raise UsageError("DeduplicationManager: give judge or judge_model, not both")
    if judge is not None:
        return judge
    if judge_model is not None:
        return LLMJudge(judge_model)
    return ThresholdJudge(merge_threshold)
