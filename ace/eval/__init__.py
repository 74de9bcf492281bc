"""Evaluation of failure attribution on labelled traces (the Who&When format).

``evaluate(labelled_traces, reflector)`` runs a :class:`TraceReflector` over each trace
and scores its attribution: agent accuracy (case-insensitive name match), exact-step
accuracy and step accuracy within ``±k``, with calls, tokens, cost and time per trace.
``RandomReflector(seed)`` is the uniform-guess baseline that checks the scorer.
Labels kept in a file of their own (``{trajectory_id, failures}`` entries) are read by
``load_label_file`` and matched to the traces by ``apply_label_file``.
"""

from __future__ import annotations

from ace.eval.labels import apply_label_file, load_label_file
from ace.eval.reflectors import (
    Analysis,
    RandomReflector,
    RRReflector,
    SimpleReflector,
    TraceReflector,
    analysis_of,
)
from ace.eval.report import format_report
from ace.eval.runner import EvalReport, SkippedFile, evaluate, evaluate_one
from ace.eval.scoring import (
    DEFAULT_TOLERANCES,
    EvalSummary,
    TraceResult,
    same_agent,
    score,
    step_distance,
    summarise,
)

__all__ = [
    "DEFAULT_TOLERANCES",
    "Analysis",
    "EvalReport",
    "EvalSummary",
    "RRReflector",
    "RandomReflector",
    "SimpleReflector",
    "SkippedFile",
    "TraceReflector",
    "TraceResult",
    "analysis_of",
    "apply_label_file",
    "evaluate",
    "evaluate_one",
    "format_report",
    "load_label_file",
    "same_agent",
    "score",
    "step_distance",
    "summarise",
]
