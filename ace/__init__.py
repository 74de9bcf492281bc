"""ACE: agents that learn from their own execution traces.

Public names are imported lazily, so ``import ace`` stays cheap (no litellm, logfire
or jupyter_client until they are used).
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

# logfire registers a pydantic plugin whose import costs ~0.7 s at the first model
# definition; ACE's own tracing does not need it. Setting the variable yourself (even
# to "") keeps your choice.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "logfire-plugin")

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    # core types
    "AgentOutput": "ace.outputs",
    "Attribution": "ace.outputs",
    "ExtractedLearning": "ace.outputs",
    "ReflectorOutput": "ace.outputs",
    "SkillManagerOutput": "ace.outputs",
    "SkillTag": "ace.outputs",
    "UpdateBatch": "ace.updates",
    "UpdateOperation": "ace.updates",
    "UpdateReport": "ace.updates",
    "Skill": "ace.skillbook",
    "SkillSource": "ace.skillbook",
    "Skillbook": "ace.skillbook",
    "Sample": "ace.environments",
    "EnvironmentResult": "ace.environments",
    "SimpleEnvironment": "ace.environments",
    "TaskEnvironment": "ace.environments",
    # errors
    "ACEError": "ace.errors",
    "BudgetExceededError": "ace.errors",
    "ConfigurationError": "ace.errors",
    "InputError": "ace.errors",
    "LLMError": "ace.errors",
    "SkillbookFileError": "ace.errors",
    "TraceFormatError": "ace.errors",
    "Agent": "ace.roles",
    "Reflector": "ace.roles",
    "SkillManager": "ace.roles",
    "Pipeline": "ace.pipeline",
    "StepContext": "ace.pipeline",
    "ACEStepContext": "ace.pipeline",
    "SkillbookView": "ace.pipeline",
    "SampleResult": "ace.pipeline",
    "StepProtocol": "ace.pipeline",
    "AgentStep": "ace.steps",
    "EvaluateStep": "ace.steps",
    "ReflectStep": "ace.steps",
    "UpdateStep": "ace.steps",
    "ApplyStep": "ace.steps",
    "CheckpointStep": "ace.steps",
    "LoadTracesStep": "ace.steps",
    "ExportSkillbookMarkdownStep": "ace.steps",
    "learning_tail": "ace.steps",
    "ACE": "ace.runners",
    "ACELiteLLM": "ace.runners",
    "ACERunner": "ace.runners",
    "TraceAnalyser": "ace.runners",
    "PipelineContractError": "ace.errors",
    "UsageError": "ace.errors",
    "Branch": "ace.pipeline",
    "MergeStrategy": "ace.pipeline",
    "CancellationToken": "ace.pipeline",
    "DeduplicateStep": "ace.steps",
    "DeduplicationManager": "ace.dedup",
    "DeduplicationConfig": "ace.dedup",
    "BranchError": "ace.errors",
    "MergeConflictError": "ace.errors",
    "RunCancelled": "ace.errors",
    "RRStep": "ace.rr",
    "RRConfig": "ace.rr",
    "ObservabilityStep": "ace.steps",
    "PersistStep": "ace.steps",
    "AttachInsightSourcesStep": "ace.steps",
    "PipelineHook": "ace.pipeline",
    "PipelineConfigError": "ace.errors",
    "PipelineOrderError": "ace.errors",
    "PipelineCancelled": "ace.errors",
    "cancel_token_var": "ace.pipeline",
    "ReflectorMode": "ace.roles",
    "InsightSource": "ace.skillbook",
    "ModelConfig": "ace.config",
    "ACEModelConfig": "ace.config",
    "ModelValidationError": "ace.errors",
    "wrap_skillbook_context": "ace.integrations",
    "LangChain": "ace.runners.langchain",
}

__all__ = [
    "ACE",
    "ACEError",
    "ACELiteLLM",
    "ACEModelConfig",
    "ACERunner",
    "ACEStepContext",
    "Agent",
    "AgentOutput",
    "AgentStep",
    "ApplyStep",
    "AttachInsightSourcesStep",
    "Attribution",
    "Branch",
    "BranchError",
    "BudgetExceededError",
    "CancellationToken",
    "CheckpointStep",
    "ConfigurationError",
    "DeduplicateStep",
    "DeduplicationConfig",
    "DeduplicationManager",
    "EnvironmentResult",
    "EvaluateStep",
    "ExportSkillbookMarkdownStep",
    "ExtractedLearning",
    "InputError",
    "InsightSource",
    "LLMError",
    "LangChain",
    "LoadTracesStep",
    "MergeConflictError",
    "MergeStrategy",
    "ModelConfig",
    "ModelValidationError",
    "ObservabilityStep",
    "PersistStep",
    "Pipeline",
    "PipelineCancelled",
    "PipelineConfigError",
    "PipelineContractError",
    "PipelineHook",
    "PipelineOrderError",
    "RRConfig",
    "RRStep",
    "ReflectStep",
    "Reflector",
    "ReflectorMode",
    "ReflectorOutput",
    "RunCancelled",
    "Sample",
    "SampleResult",
    "SimpleEnvironment",
    "Skill",
    "SkillManager",
    "SkillManagerOutput",
    "SkillSource",
    "SkillTag",
    "Skillbook",
    "SkillbookFileError",
    "SkillbookView",
    "StepContext",
    "StepProtocol",
    "TaskEnvironment",
    "TraceAnalyser",
    "TraceFormatError",
    "UpdateBatch",
    "UpdateOperation",
    "UpdateReport",
    "UpdateStep",
    "UsageError",
    "__version__",
    "cancel_token_var",
    "learning_tail",
    "wrap_skillbook_context",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ace' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:
    from ace.config import ACEModelConfig, ModelConfig
    from ace.dedup import DeduplicationConfig, DeduplicationManager
    from ace.environments import EnvironmentResult, Sample, SimpleEnvironment, TaskEnvironment
    from ace.errors import (
        ACEError,
        BranchError,
        BudgetExceededError,
        ConfigurationError,
        InputError,
        LLMError,
        MergeConflictError,
        ModelValidationError,
        PipelineCancelled,
        PipelineConfigError,
        PipelineContractError,
        PipelineOrderError,
        RunCancelled,
        SkillbookFileError,
        TraceFormatError,
        UsageError,
    )
    from ace.integrations import wrap_skillbook_context
    from ace.outputs import (
        AgentOutput,
        Attribution,
        ExtractedLearning,
        ReflectorOutput,
        SkillManagerOutput,
        SkillTag,
    )
    from ace.pipeline import (
        ACEStepContext,
        Branch,
        CancellationToken,
        MergeStrategy,
        Pipeline,
        PipelineHook,
        SampleResult,
        SkillbookView,
        StepContext,
        StepProtocol,
        cancel_token_var,
    )
    from ace.roles import Agent, Reflector, ReflectorMode, SkillManager
    from ace.rr import RRConfig, RRStep
    from ace.runners import ACE, ACELiteLLM, ACERunner, TraceAnalyser
    from ace.skillbook import InsightSource, Skill, Skillbook, SkillSource
    from ace.steps import (
        AgentStep,
        ApplyStep,
        AttachInsightSourcesStep,
        CheckpointStep,
        DeduplicateStep,
        EvaluateStep,
        ExportSkillbookMarkdownStep,
        LoadTracesStep,
        ObservabilityStep,
        PersistStep,
        ReflectStep,
        UpdateStep,
        learning_tail,
    )
    from ace.updates import UpdateBatch, UpdateOperation, UpdateReport
