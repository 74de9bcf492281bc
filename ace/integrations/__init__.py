"""Integrations with agent frameworks, and the contract a new one implements.

``wrap_skillbook_context`` turns a skillbook into prompt text for any external agent;
``ace.integrations.base`` holds the contract (``Integration``) and the steps and runner
built on it; ``ace.integrations.mcp`` is the MCP server (``ace mcp`` / ``ace-mcp``, the
``mcp`` extra); ``langchain``, ``claude_code`` (the ``claude`` CLI and its session files,
``ace claude-code learn``) and ``browser_use`` (the ``browser-use`` extra) are the
frameworks. Framework modules import their framework lazily, so importing this
package needs none of them.
"""

from __future__ import annotations

from typing import Any

from ace import _lazy

_EXPORTS = {
    "wrap_skillbook_context": "ace.integrations._context",
    "Integration": "ace.integrations.base",
    "IntegrationRunner": "ace.integrations.base",
    "ExecuteStep": "ace.integrations.base",
    "ToTraceStep": "ace.integrations.base",
    "integration_steps": "ace.integrations.base",
    "ACETraceRecorder": "ace.integrations.langchain",
    "LangChainIntegration": "ace.integrations.langchain",
    "LangChainExecuteStep": "ace.integrations.langchain",
    "LangChainToTrace": "ace.integrations.langchain",
    "LangChainResult": "ace.integrations.langchain",
    "ClaudeCodeIntegration": "ace.integrations.claude_code",
    "ClaudeCodeExecuteStep": "ace.integrations.claude_code",
    "ClaudeCodeToTrace": "ace.integrations.claude_code",
    "BrowserUseIntegration": "ace.integrations.browser_use",
    "BrowserExecuteStep": "ace.integrations.browser_use",
    "BrowserToTrace": "ace.integrations.browser_use",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    return _lazy.load(__name__, _EXPORTS, globals(), name)


def __dir__() -> list[str]:
    return __all__
