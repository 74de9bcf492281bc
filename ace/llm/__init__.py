"""The single module through which every LLM call in ACE goes.

``LLMClient`` wraps litellm (imported on the first call, never at import time) with
retries, structured output, usage and cost, and a per-attempt observer hook for budgets.
"""

from __future__ import annotations

from ace.llm.client import LLMClient, Prompt, StructuredMode, get_client
from ace.llm.observer import CallObserver, RequestInfo
from ace.llm.response import LLMResponse, StructuredResult, Usage
from ace.llm.retry import NON_RETRYABLE_MARK, RetryPolicy
from ace.llm.structured import extract_json, parse_structured

__all__ = [
    "NON_RETRYABLE_MARK",
    "CallObserver",
    "LLMClient",
    "LLMResponse",
    "Prompt",
    "RequestInfo",
    "RetryPolicy",
    "StructuredMode",
    "StructuredResult",
    "Usage",
    "extract_json",
    "get_client",
    "parse_structured",
]
