"""The pipeline engine: steps with requires/provides contracts composed into pipelines.

See ``ace.pipeline.pipeline`` for the run semantics (per-sample isolation, concurrent
samples, ``run_async``, cancellation, the background learning tail),
``ace.pipeline.branch`` for parallel branches and ``ace.steps`` for the standard steps.
"""

from __future__ import annotations

from ace.errors import (
    BranchError,
    PipelineCancelled,
    PipelineConfigError,
    PipelineContractError,
    PipelineOrderError,
)
from ace.pipeline.branch import Branch, MergeStrategy
from ace.pipeline.cancel import CancellationToken, cancel_token_var
from ace.pipeline.context import ACEStepContext, SkillbookView, StepContext
from ace.pipeline.pipeline import Pipeline
from ace.pipeline.protocol import (
    AgentLike,
    PipelineHook,
    ReflectorLike,
    SkillbookReader,
    SkillManagerLike,
    StepProtocol,
)
from ace.pipeline.result import SampleResult

__all__ = [
    "ACEStepContext",
    "AgentLike",
    "Branch",
    "BranchError",
    "CancellationToken",
    "MergeStrategy",
    "Pipeline",
    "PipelineCancelled",
    "PipelineConfigError",
    "PipelineContractError",
    "PipelineHook",
    "PipelineOrderError",
    "ReflectorLike",
    "SampleResult",
    "SkillManagerLike",
    "SkillbookReader",
    "SkillbookView",
    "StepContext",
    "StepProtocol",
    "cancel_token_var",
]
