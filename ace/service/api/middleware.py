"""The ASGI layers in front of the routes, outermost first: metrics, CORS (only when
configured), the guard (API key, then rate limit) and the body limit.

The guard runs before any body is read, so an unauthenticated or rate-limited client never
gets its body read; the body limit refuses (413) a body whose ``Content-Length`` is over
the route's limit without reading it, and stops reading a body without one (chunked) as
soon as it passes the limit. Health routes (``/healthz``, ``/readyz``) need no key.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ace.service.api.metrics import Metrics
    from ace.service.api.settings import ServiceSettings
    from ace.service.keys import KeyRing

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

PUBLIC_PATHS = frozenset({"/healthz", "/readyz"})
"""Paths that need no API key and are not rate limited."""
PRINCIPAL = "ace_principal"
"""Where the guard leaves the caller's `Principal` (``scope["state"]``)."""


@dataclass(frozen=True)
class Principal:
    """Who is calling: a tenant, the key used (None: no keys are configured) and the
    playbook id prefixes that key is limited to (empty: any)."""

    tenant: str
    key_id: str | None
    prefixes: tuple[str, ...] = ()

    def allows(self, playbook_id: str) -> bool:
        """Whether this caller may use ``playbook_id``."""
        return not self.prefixes or playbook_id.startswith(self.prefixes)


async def send_json(
    send: Send, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> None:
    """Send a whole JSON response."""
    data = json.dumps(body).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": data})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


class RateLimiter:
    """A token bucket per key: ``limit`` requests per minute, in bursts of up to ``limit``.
    Buckets live in this process (each server replica counts on its own)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str, limit: int) -> float:
        """Take one request from ``key``'s bucket: 0.0 when allowed, else the seconds until
        the next request would be."""
        rate = limit / 60.0
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(limit), now))
            tokens = min(float(limit), tokens + (now - last) * rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / rate


class Guard:
    """API keys and rate limits. With no key ever created every caller is the default
    tenant, unlimited; once one exists every request but health needs
    ``Authorization: Bearer <token>`` of an active key (401 otherwise), and each key is
    held to its rate limit (429 with ``Retry-After``)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        keys: KeyRing,
        limiter: RateLimiter,
        settings: ServiceSettings,
        default_tenant: str,
    ) -> None:
        self.app = app
        self.keys = keys
        self.limiter = limiter
        self.settings = settings
        self.anonymous = Principal(default_tenant, None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Admit the request (setting its `Principal`) or answer 401/429/503."""
        if scope["type"] != "http" or scope["path"] in PUBLIC_PATHS:
            await self.app(scope, receive, send)
            return
        import anyio.to_thread

        authorization = _header(scope, b"authorization")
        try:
            configured = self.keys.known()
            if configured is None:
                configured = await anyio.to_thread.run_sync(self.keys.configured)
            info = None
            if authorization is not None:
                scheme, _, token = authorization.partition(" ")
                if scheme.lower() == "bearer" and token.strip():
                    info = await anyio.to_thread.run_sync(self.keys.authenticate, token.strip())
        except Exception as exc:
            await send_json(send, 503, {"detail": f"the key store is unavailable: {exc}"})
            return
        if authorization is None and not configured:
            principal = self.anonymous
        elif info is None:
            detail = (
                "this server needs an API key: send Authorization: Bearer <key>"
                if authorization is None
                else "invalid or revoked API key"
            )
            await send_json(
                send,
                401,
                {"detail": detail},
                {"WWW-Authenticate": 'Bearer realm="ace"'},
            )
            return
        else:
            principal = Principal(info.tenant, info.id, info.prefixes)
            limit = info.rate_limit or self.settings.rate_limit
            wait = self.limiter.take(info.id, limit)
            if wait > 0:
                retry = max(1, math.ceil(wait))
                await send_json(
                    send,
                    429,
                    {
                        "detail": f"rate limit of {limit} requests per minute exceeded for "
                        f"key {info.id}; retry after {retry} s"
                    },
                    {"Retry-After": str(retry)},
                )
                return
        scope.setdefault("state", {})[PRINCIPAL] = principal
        await self.app(scope, receive, send)


class BodyLimit:
    """Refuse (413) a body over its route's limit (``ServiceSettings.body_limit``), before
    parsing: by ``Content-Length`` without reading, else while reading."""

    def __init__(self, app: ASGIApp, *, settings: ServiceSettings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Read the body up to the limit, then hand it to the routes in one message."""
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "DELETE", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = self.settings.body_limit(scope["path"])
        declared = _header(scope, b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                await send_json(send, 400, {"detail": "Content-Length is not a number"})
                return
            if size > limit:
                await self._refuse(send, limit, size)
                return
        chunks: list[bytes] = []
        total = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            total += len(chunk)
            if total > limit:
                await self._refuse(send, limit, None)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send, limit: int, size: int | None) -> None:
        told = f" ({size} bytes)" if size is not None else ""
        await send_json(
            send,
            413,
            {"detail": f"request body too large{told}: this route accepts at most {limit} bytes"},
            {"Connection": "close"},
        )


class Metered:
    """Count every request (whatever answered it) with its route template and latency."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics, routes: Any) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Time the request and record its status."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            self.metrics.observe_request(
                scope["method"], self._route(scope), status, time.perf_counter() - started
            )

    def _route(self, scope: Scope) -> str:
        route = scope.get("route")
        if route is None:  # answered before routing (401, 413, 429): match it here
            from starlette.routing import Match

            for candidate in self.routes():
                if candidate.matches(scope)[0] is not Match.NONE:
                    route = candidate
                    break
        return str(getattr(route, "path", "(unmatched)"))


__all__ = ["PRINCIPAL", "PUBLIC_PATHS", "BodyLimit", "Guard", "Metered", "Principal", "RateLimiter"]
