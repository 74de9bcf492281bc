"""Runners: ready-made pipelines around a skillbook."""

from ace.runners.ace import ACE
from ace.runners.base import ACERunner
from ace.runners.litellm import ACELiteLLM
from ace.runners.trace_analyser import TraceAnalyser

__all__ = ["ACE", "ACELiteLLM", "ACERunner", "TraceAnalyser"]
