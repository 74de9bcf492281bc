"""Driving the real browser-use offline: a local page, a scripted OpenAI-compatible server
for browser-use's own LLM client, and the environment that keeps browser-use quiet.

Everything listens on 127.0.0.1. browser-use reads its switches from the environment on
use (``browser_use.config``): ``ANONYMIZED_TELEMETRY`` (posthog), ``BROWSER_USE_CLOUD_SYNC``,
``BROWSER_USE_VERSION_CHECK`` (PyPI), ``BROWSER_USE_DISABLE_EXTENSIONS`` (downloads from
the Chrome Web Store at start-up), and ``BROWSER_USE_CONFIG_DIR``/``XDG_*`` (where it and
chromium write). Chromium is Debian's (``/usr/bin/chromium``), never a downloaded one.
"""

from __future__ import annotations

import json
import shlex
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

PAGE = (
    b"<!doctype html><html><head><title>Widget shop</title><link rel='icon' href='data:,'>"
    b"</head><body><h1>Price list</h1><p id='price'>The widget costs 42 euros.</p>"
    b"<a href='/basket'>Basket</a></body></html>"
)


CLOSED_URL = "http://127.0.0.1:9/"
"""A loopback address nothing listens on (the discard port)."""


def quiet_env(folder: Path) -> dict[str, str]:
    """The variables that switch off browser-use's telemetry, cloud sync, version check and
    extension downloads, and keep its files (and chromium's) under ``folder``."""
    return {
        "ANONYMIZED_TELEMETRY": "false",
        "BROWSER_USE_CLOUD_SYNC": "false",
        "BROWSER_USE_VERSION_CHECK": "false",
        "BROWSER_USE_DISABLE_EXTENSIONS": "true",
        "BROWSER_USE_SETUP_LOGGING": "false",
        "BROWSER_USE_CONFIG_DIR": str(folder / "browseruse"),
        "XDG_CONFIG_HOME": str(folder / "config"),
        "XDG_CACHE_HOME": str(folder / "cache"),
        "OPENAI_API_KEY": "sk-test",
    }


LOOPBACK_ONLY = "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"
"""A chromium flag under which no host name resolves: only IP addresses (the tests use
127.0.0.1) are reachable, whatever the browser or a page tries to load."""


def loopback_chromium(folder: Path, chromium: str) -> Path:
    """A launcher for Debian's ``chromium`` that adds ``LOOPBACK_ONLY``, at the place
    browser-use looks first (``$PLAYWRIGHT_BROWSERS_PATH/chromium-*/chrome-linux/chrome``),
    for a run whose ``BrowserProfile`` the test does not build; returns the folder to set
    ``PLAYWRIGHT_BROWSERS_PATH`` to (a file ``launched`` appears in it once used). Nothing
    is downloaded."""
    root = folder / "ms-playwright"
    launcher = root / "chromium-0" / "chrome-linux" / "chrome"
    launcher.parent.mkdir(parents=True, exist_ok=True)
    launcher.write_text(
        f"#!/bin/sh\ntouch {shlex.quote(str(root / 'launched'))}\n"
        f'exec {shlex.quote(chromium)} {shlex.quote(LOOPBACK_ONLY)} "$@"\n'
    )
    launcher.chmod(0o755)
    return root


class _Server:
    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> Any:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class PageServer(_Server):
    """Serves ``PAGE`` for every GET."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(PAGE)))
                self.end_headers()
                self.wfile.write(PAGE)

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(Handler)


class ScriptedBrowserLLM(_Server):
    """An OpenAI chat-completions endpoint answering with ``replies`` in order (each a
    browser-use ``AgentOutput`` dict, sent as JSON text; the last one repeats); every
    request body is kept in ``requests``."""

    def __init__(self, replies: list[dict[str, Any]] | Callable[[int], dict[str, Any]]) -> None:
        self.requests: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append(body)
                n = len(outer.requests) - 1
                reply = replies(n) if callable(replies) else replies[min(n, len(replies) - 1)]
                payload = {
                    "id": f"chatcmpl-{n}",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": body.get("model", "scripted"),
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": json.dumps(reply)},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
                }
                data = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(Handler)

    @property
    def api_base(self) -> str:
        """The base URL for browser-use's ``ChatOpenAI(base_url=...)``."""
        return f"{self.url}/v1"


def turn(goal: str, *actions: dict[str, Any], memory: str = "") -> dict[str, Any]:
    """One scripted browser-agent reply."""
    return {
        "evaluation_previous_goal": "on track",
        "memory": memory or goal,
        "next_goal": goal,
        "action": list(actions),
    }


def shop_script(page_url: str) -> list[dict[str, Any]]:
    """Open a page nobody serves (an error), then the shop's page, then answer."""
    return [
        turn("open the shop", {"navigate": {"url": CLOSED_URL, "new_tab": False}}),
        turn("open the shop's real address", {"navigate": {"url": page_url, "new_tab": False}}),
        turn(
            "answer",
            {"done": {"text": "The widget costs 42 euros.", "success": True}},
            memory="price seen: 42 euros",
        ),
    ]
