"""What a session is given besides the trace: the task and the skillbook, as structures.

The session never reads a skillbook object or re-parses rendered text: ``SkillbookInfo``
carries the text the kernel holds (``skillbook``) and the number of skills the task
message names; ``TaskInfo`` carries the fields of the attempt the model is told about.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ace.prompting import render_prompt

if TYPE_CHECKING:
    from ace.traces import Trace


@dataclass(frozen=True)
class TaskInfo:
    """What the session tells the model about the attempt besides the trace."""

    question: str
    final_answer: str = ""
    ground_truth: str | None = None
    feedback: str | None = None

    @classmethod
    def from_trace(
        cls,
        trace: Trace,
        *,
        question: str | None = None,
        final_answer: str | None = None,
        ground_truth: str | None = None,
        feedback: str | None = None,
    ) -> TaskInfo:
        """The task of ``trace``; each field given (and not empty) wins over the trace's own
        (a ground truth wins whenever it is not None)."""
        return cls(
            question=question or trace.question or "",
            final_answer=final_answer or trace.final_answer or "",
            ground_truth=ground_truth if ground_truth is not None else trace.ground_truth,
            feedback=feedback or trace.feedback,
        )


@dataclass(frozen=True)
class SkillbookInfo:
    """The skillbook as a session uses it: its prompt text and how many skills it holds."""

    text: str
    """What ``skillbook`` holds in the kernel and the task message previews."""
    skill_count: int = 0

    @classmethod
    def of(cls, skillbook: Any) -> SkillbookInfo:
        """Read a ``Skillbook`` or ``SkillbookView`` (or anything with ``as_prompt()``) once;
        None is the absence of a skillbook."""
        if skillbook is None:
            return cls(render_prompt("rr/kernel_names.j2", part="no_skillbook"))
        text = skillbook.as_prompt()
        skills = getattr(skillbook, "skills", None)
        if callable(skills):
            return cls(text, len(skills()))
        # An object offering only as_prompt(): count its skill lines (``- [id] ...``).
        return cls(text, sum(1 for line in text.splitlines() if line.startswith("- [")))

    @classmethod
    def for_child(cls) -> SkillbookInfo:
        """A child session's skillbook: a pointer to the parent's, with no skills of its own."""
        return cls(render_prompt("rr/rr_query.j2", part="parent_skillbook"))
