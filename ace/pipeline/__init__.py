"""The pipeline engine: steps with requires/provides contracts composed into pipelines.

See ``ace.pipeline.pipeline`` for the run semantics (per-sample isolation, the
background learning tail) and ``ace.steps`` for the standard ACE steps.
"""

from __future__ import annotations

from ace.pipeline.context import ACEStepContext, SkillbookView, StepContext
from ace.pipeline.pipeline import Pipeline, SampleResult
from ace.pipeline.protocol import (
    AgentLike,
    ReflectorLike,
    SkillbookReader,
    SkillManagerLike,
    StepProtocol,
)

__all__ = [
    "ACEStepContext",
    "AgentLike",
    "Pipeline",
    "ReflectorLike",
    "SampleResult",
    "SkillManagerLike",
    "SkillbookReader",
    "SkillbookView",
    "StepContext",
    "StepProtocol",
]
