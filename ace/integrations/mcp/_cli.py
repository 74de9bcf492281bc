"""``ace mcp`` and the ``ace-mcp`` script: serve ACE's tools over stdio or loopback HTTP."""

from __future__ import annotations

import argparse
import hmac
import os
import secrets
import sys
from collections.abc import Sequence
from typing import Any

LOOPBACK = "127.0.0.1"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The server's options (shared by ``ace mcp`` and ``ace-mcp``)."""
    p.add_argument(
        "--http", action="store_true", help="streamable HTTP on 127.0.0.1 instead of stdio"
    )
    p.add_argument("--port", type=int, default=8765, metavar="N", help="HTTP port (default 8765)")
    p.add_argument(
        "--token",
        metavar="T",
        help="bearer token HTTP clients must send (default: $ACE_MCP_TOKEN, else a new one, shown once)",
    )
    p.add_argument(
        "--model", metavar="M", help="model of every session (default: the configuration)"
    )
    p.add_argument(
        "--safe-mode",
        action="store_true",
        default=None,
        help="refuse every tool that changes a skillbook",
    )
    p.add_argument(
        "--root",
        action="append",
        metavar="DIR",
        help="a folder tools may read and write (repeatable; default: the working directory)",
    )


def add_mcp_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``ace mcp``."""
    p = commands.add_parser(
        "mcp",
        help="serve ACE as an MCP server (stdio, or --http on loopback)",
        description="Tools: ace.ask, ace.learn.sample, ace.learn.feedback, ace.skillbook.get/save/load, "
        "ace.rr.analyse. ACE_MCP_SAFE_MODE and ACE_MCP_ALLOW_SAVE_LOAD switch off changes.",
    )
    add_arguments(p)
    p.set_defaults(handler="ace.integrations.mcp._cli")


def run(args: argparse.Namespace) -> int:
    """Start the server and serve until the client (or Ctrl-C) ends it."""
    from ace.integrations.mcp.server import build_server, close_server
    from ace.integrations.mcp.settings import MCPSettings

    settings = MCPSettings.from_env(safe_mode=args.safe_mode, roots=args.root)
    model = _model(args.model or settings.model)
    from ace.llm import _litellm

    # Import litellm before the server's event loop starts: imported for the first time in
    # a tool's worker thread under uvicorn, the tool's reply was never delivered (seen with
    # mcp 1.30 / litellm 1.8x); importing it here costs the same seconds once.
    _litellm.load()
    if not args.http:
        server = build_server(settings, model=model)
        try:
            server.run("stdio")
        finally:
            close_server(server)
        return 0
    token = args.token or os.environ.get("ACE_MCP_TOKEN") or secrets.token_urlsafe(24)
    if not (args.token or os.environ.get("ACE_MCP_TOKEN")):
        print(f"ace mcp: bearer token for this run: {token}", file=sys.stderr, flush=True)
    server = build_server(settings, model=model, host=LOOPBACK, port=args.port)
    import uvicorn

    app = BearerToken(server.streamable_http_app(), token)
    print(f"ace mcp: serving on http://{LOOPBACK}:{args.port}/mcp", file=sys.stderr, flush=True)
    try:
        uvicorn.run(app, host=LOOPBACK, port=args.port, log_level="warning")
    finally:
        close_server(server)
    return 0


def _model(model: str | None) -> str | None:
    if model is None:
        return None
    from ace.cli._models import resolve

    return resolve(model, None).model  # scripted:/replay: register here; keys checked early


class BearerToken:
    """ASGI middleware: every HTTP request needs ``Authorization: Bearer <token>``."""

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self._expected = f"Bearer {token}".encode()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            given = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not hmac.compare_digest(given, self._expected):
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [
                            (b"content-type", b"text/plain"),
                            (b"www-authenticate", b"Bearer"),
                        ],
                    }
                )
                await send(
                    {"type": "http.response.body", "body": b"missing or wrong bearer token\n"}
                )
                return
        await self.app(scope, receive, send)


def main(argv: Sequence[str] | None = None) -> int:
    """The ``ace-mcp`` console script."""
    from ace.cli._main import run as run_cli

    return run_cli(["mcp", *(sys.argv[1:] if argv is None else argv)])
