"""Host functions: the registry and the validation of every call that comes from the kernel.

A call arrives as the prompt of a Jupyter input request: a JSON string
``{"sandbox_call": name, "args": [...], "kwargs": {...}}``. It is untrusted: its size is
checked before parsing, it is parsed as JSON only (never unpickled), its shape is checked,
and only registered names run. The reply is ``{"result": ...}`` or
``{"error": {"type": ..., "message": ...}}``, refused when over the reply cap.
"""

from __future__ import annotations

import json
import keyword
import time
from collections.abc import Callable
from typing import Any

from sandbox._text import clean_json
from sandbox.errors import SandboxConfigError

RESERVED_NAMES = frozenset({"HostFunctionError"})
MAX_ERROR_MESSAGE = 2000


def _error(kind: str, message: str) -> str:
    return json.dumps({"error": {"type": kind, "message": message[:MAX_ERROR_MESSAGE]}})


class HostFunctions:
    """Functions kernel code may call by name; each runs on the host with JSON in and out."""

    def __init__(self, max_request_bytes: int, max_reply_bytes: int) -> None:
        self._functions: dict[str, Callable[..., Any]] = {}
        self.max_request_bytes = max_request_bytes
        self.max_reply_bytes = max_reply_bytes
        self._charged = 0.0

    def register(self, name: str, fn: Callable[..., Any]) -> None:
        """Add `fn` under `name`: a public identifier, since restricted code refuses `_x`."""
        if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
            raise SandboxConfigError(f"host function name must be a Python identifier: {name!r}")
        if name.startswith("_") or name in RESERVED_NAMES:
            raise SandboxConfigError(
                f"host function name {name!r} is not allowed: names starting with '_' are "
                "refused by the code policy, and HostFunctionError is reserved"
            )
        if not callable(fn):
            raise SandboxConfigError(f"host function {name!r} must be callable, got {fn!r}")
        self._functions[name] = fn

    def names(self) -> list[str]:
        """Registered names, in registration order."""
        return list(self._functions)

    def handle(self, prompt: object) -> tuple[str, float]:
        """Run one call from the kernel; return the JSON reply and the seconds that pause
        the cell's clock (the call's duration minus what it `charge`d to the cell)."""
        started = time.monotonic()
        self._charged = 0.0
        reply = self._handle(prompt)
        spent = time.monotonic() - started
        return reply, max(0.0, spent - min(self._charged, spent))

    def charge(self, seconds: float) -> None:
        """Count `seconds` of the host call now running against the cell's wall clock
        (host calls pause it by default: a slow model is not the cell's fault, but work a
        cell can repeat cheaply, such as starting kernels, must not stretch its limit)."""
        self._charged += max(0.0, seconds)

    def _handle(self, prompt: object) -> str:
        if not isinstance(prompt, str):
            return _error("BadRequest", "a host call must be a JSON string")
        size = len(prompt.encode("utf-8", "surrogatepass"))
        if size > self.max_request_bytes:
            return _error(
                "RequestTooLarge",
                f"call of {size} bytes is over the {self.max_request_bytes}-byte limit",
            )
        try:
            call = json.loads(prompt)
        except (ValueError, RecursionError) as exc:
            return _error("BadRequest", f"a host call must be JSON: {exc}")
        if not isinstance(call, dict) or not isinstance(call.get("sandbox_call"), str):
            return _error("BadRequest", "input requests are reserved for host-function calls")
        call = clean_json(call)  # no lone surrogate reaches the host's functions
        name, args, kwargs = call["sandbox_call"], call.get("args", []), call.get("kwargs", {})
        if not isinstance(args, list) or not isinstance(kwargs, dict):
            return _error("BadRequest", "args must be a list and kwargs an object")
        fn = self._functions.get(name)
        if fn is None:
            return _error("UnknownFunction", f"no host function named {name!r}")
        try:
            result = fn(*args, **kwargs)
        except Exception as exc:
            return _error(type(exc).__name__, str(exc))
        try:
            reply = json.dumps({"result": result}, allow_nan=False, separators=(",", ":"))
        except (TypeError, ValueError, RecursionError) as exc:
            return _error("BadResult", f"host function {name!r} returned non-JSON data: {exc}")
        size = len(reply.encode("utf-8", "surrogatepass"))
        if size > self.max_reply_bytes:
            return _error(
                "ReplyTooLarge",
                f"reply of {size} bytes is over the {self.max_reply_bytes}-byte limit; "
                "ask for less data per call",
            )
        return reply
