"""The ACE MCP server (``ace mcp``, ``ace-mcp``; needs the ``mcp`` extra).

Importing this package is cheap; the SDK loads when the server is built.
"""

from __future__ import annotations

from ace.integrations.mcp._cli import main

__all__ = ["main"]
