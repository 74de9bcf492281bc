"""The standard ACE steps, and ``learning_tail`` which strings the learning ones together.

A typical live-learning pipeline::

    Pipeline([AgentStep(agent), EvaluateStep(env),
              *learning_tail(reflector, skill_manager, skillbook, background=True,
                             dedup_manager=DeduplicationManager())])

``DeduplicateStep`` lives here; its manager is in ``ace.dedup``.
"""

from __future__ import annotations

from ace.steps.agent import AgentStep
from ace.steps.apply import ApplyStep
from ace.steps.attach_insight_sources import AttachInsightSourcesStep
from ace.steps.checkpoint import CheckpointStep
from ace.steps.deduplicate import DeduplicateStep
from ace.steps.evaluate import EvaluateStep
from ace.steps.export_markdown import ExportSkillbookMarkdownStep, skillbook_markdown
from ace.steps.load_traces import LoadTracesStep
from ace.steps.observability import ObservabilityStep
from ace.steps.persist import PersistStep
from ace.steps.reflect import ReflectStep
from ace.steps.tail import DedupManagerLike, learning_tail
from ace.steps.update import UpdateStep

__all__ = [
    "AgentStep",
    "ApplyStep",
    "AttachInsightSourcesStep",
    "CheckpointStep",
    "DedupManagerLike",
    "DeduplicateStep",
    "EvaluateStep",
    "ExportSkillbookMarkdownStep",
    "LoadTracesStep",
    "ObservabilityStep",
    "PersistStep",
    "ReflectStep",
    "UpdateStep",
    "learning_tail",
    "skillbook_markdown",
]
