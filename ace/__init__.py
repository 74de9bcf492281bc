"""ACE: agents that learn from their own execution traces.

Public names are imported lazily, so ``import ace`` stays cheap (no litellm, logfire
or jupyter_client until they are used).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ace import _lazy

# logfire registers a pydantic plugin whose import costs ~0.7 s at the first model
# definition; ACE's own tracing does not need it. Setting the variable yourself (even
# to "") keeps your choice.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "logfire-plugin")

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    # public name -> the module it is imported from, on first use
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
    "LangChain": "ace.runners.langchain",
    "ClaudeCode": "ace.runners.claude_code",
    "BrowserUse": "ace.runners.browser_use",
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
    "LearningLoop": "ace.learning_loop",
}

__all__ = sorted([*_EXPORTS, "__version__"])
"""Every public name: the keys of ``_EXPORTS`` (the one list) and ``__version__``."""


def __getattr__(name: str) -> Any:
    return _lazy.load(__name__, _EXPORTS, globals(), name)


def __dir__() -> list[str]:
    return __all__


# For type checkers only (names are imported lazily at run time). Each name is re-exported
# explicitly ("X as X"), so strict type checkers see it; tests/test_exports.py checks this
# block against _EXPORTS. isort would split every aliased name onto its own statement.
if TYPE_CHECKING:
    # isort: off
    from ace.config import (
        ACEModelConfig as ACEModelConfig,
        ModelConfig as ModelConfig,
    )
    from ace.dedup import (
        DeduplicationConfig as DeduplicationConfig,
        DeduplicationManager as DeduplicationManager,
    )
    from ace.environments import (
        EnvironmentResult as EnvironmentResult,
        Sample as Sample,
        SimpleEnvironment as SimpleEnvironment,
        TaskEnvironment as TaskEnvironment,
    )
    from ace.errors import (
        ACEError as ACEError,
        BranchError as BranchError,
        BudgetExceededError as BudgetExceededError,
        ConfigurationError as ConfigurationError,
        InputError as InputError,
        LLMError as LLMError,
        MergeConflictError as MergeConflictError,
        ModelValidationError as ModelValidationError,
        PipelineCancelled as PipelineCancelled,
        PipelineConfigError as PipelineConfigError,
        PipelineContractError as PipelineContractError,
        PipelineOrderError as PipelineOrderError,
        RunCancelled as RunCancelled,
        SkillbookFileError as SkillbookFileError,
        TraceFormatError as TraceFormatError,
        UsageError as UsageError,
    )
    from ace.integrations import wrap_skillbook_context as wrap_skillbook_context
    from ace.learning_loop import LearningLoop as LearningLoop
    from ace.outputs import (
        AgentOutput as AgentOutput,
        Attribution as Attribution,
        ExtractedLearning as ExtractedLearning,
        ReflectorOutput as ReflectorOutput,
        SkillManagerOutput as SkillManagerOutput,
        SkillTag as SkillTag,
    )
    from ace.pipeline import (
        ACEStepContext as ACEStepContext,
        Branch as Branch,
        CancellationToken as CancellationToken,
        MergeStrategy as MergeStrategy,
        Pipeline as Pipeline,
        PipelineHook as PipelineHook,
        SampleResult as SampleResult,
        SkillbookView as SkillbookView,
        StepContext as StepContext,
        StepProtocol as StepProtocol,
        cancel_token_var as cancel_token_var,
    )
    from ace.roles import (
        Agent as Agent,
        Reflector as Reflector,
        ReflectorMode as ReflectorMode,
        SkillManager as SkillManager,
    )
    from ace.rr import (
        RRConfig as RRConfig,
        RRStep as RRStep,
    )
    from ace.runners import (
        ACE as ACE,
        ACELiteLLM as ACELiteLLM,
        ACERunner as ACERunner,
        TraceAnalyser as TraceAnalyser,
    )
    from ace.runners.browser_use import BrowserUse as BrowserUse
    from ace.runners.claude_code import ClaudeCode as ClaudeCode
    from ace.runners.langchain import LangChain as LangChain
    from ace.skillbook import (
        InsightSource as InsightSource,
        Skill as Skill,
        SkillSource as SkillSource,
        Skillbook as Skillbook,
    )
    from ace.steps import (
        AgentStep as AgentStep,
        ApplyStep as ApplyStep,
        AttachInsightSourcesStep as AttachInsightSourcesStep,
        CheckpointStep as CheckpointStep,
        DeduplicateStep as DeduplicateStep,
        EvaluateStep as EvaluateStep,
        ExportSkillbookMarkdownStep as ExportSkillbookMarkdownStep,
        LoadTracesStep as LoadTracesStep,
        ObservabilityStep as ObservabilityStep,
        PersistStep as PersistStep,
        ReflectStep as ReflectStep,
        UpdateStep as UpdateStep,
        learning_tail as learning_tail,
    )
    from ace.updates import (
        UpdateBatch as UpdateBatch,
        UpdateOperation as UpdateOperation,
        UpdateReport as UpdateReport,
    )
    # isort: on
