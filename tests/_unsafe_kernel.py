"""UNSAFE: a ``sandbox.Kernel`` that runs cells with ``exec`` in the test process itself.

There are no walls and no code policy: a cell can do anything the test process can. It
exists only so ``tests/test_kernel_contract.py`` can show that the ``Kernel`` contract is
small enough for a second backend, and so tests can run an RR session without starting
a kernel process. It lives under ``tests/``, which is not part of the ``ace`` package:
nothing in ``ace`` or ``sandbox`` can import it (a contract test checks). Never give it
code or data you do not trust.
"""

from __future__ import annotations

import builtins
import contextlib
import io
import json
import keyword
import sys
import time
import traceback
from collections.abc import Callable
from types import FrameType
from typing import Any

from sandbox import (
    LAYERS,
    CellError,
    ExecutionResult,
    FetchError,
    IsolationReport,
    SandboxClosedError,
    SandboxConfigError,
)

_CELL = "<cell>"
"""The file name cells are compiled under; only frames of it are timed."""


class HostFunctionError(Exception):
    """A host function refused the call or raised (the name the real kernel uses too)."""


class _CellTimeout(BaseException):
    """Raised into a cell at its deadline; a BaseException so ``except Exception`` in the
    cell cannot swallow it."""


def _check_name(name: object, what: str) -> str:
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
        raise SandboxConfigError(f"{what} name must be a Python identifier: {name!r}")
    return name


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


class UnsafeInProcessKernel:
    """UNSAFE in-process kernel for contract tests (see the module docstring)."""

    unsafe = True
    """Marks this backend as one without walls."""

    def __init__(self, *, timeout_s: float | None = 10.0) -> None:
        self.timeout_s = timeout_s
        self._started = False
        self._closed = False
        self._injected: dict[str, str] = {}
        self._functions: dict[str, Callable[..., Any]] = {}
        self._defines: list[str] = []
        self._host: dict[str, Any] = {}
        """What the host put in: injected data, host-function stubs, defined names."""
        self._namespace: dict[str, Any] = {}
        self._cell_started: float | None = None
        self._paused = 0.0
        self._charged = 0.0
        self._in_host = False
        self._host_calls = 0

    # -- the contract -------------------------------------------------------------------
    @property
    def isolation(self) -> IsolationReport:
        """No wall holds: every layer is reported missing."""
        flags = {name: False for name in LAYERS}
        flags.update(process_limit="none", memory_limit="none", cpu_limit="none")
        details = {name: "in-process kernel: no walls" for name in LAYERS}
        return IsolationReport(launcher="none", details=details, **flags)

    def start(self) -> None:
        """Start (a fresh namespace) unless started."""
        self._check_open()
        if not self._started:
            self._fresh()
            self._started = True

    def execute(self, code: str) -> ExecutionResult:
        """Run one cell in the session namespace; failures come back in the result."""
        if not isinstance(code, str):
            raise SandboxConfigError(f"code must be a str, got {type(code).__name__}")
        self.start()
        return self._run(code, self._namespace)

    def inject(self, name: str, value: Any) -> None:
        """Place a copy of JSON data under ``name``."""
        _check_name(name, "injected value")
        try:
            text = json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise SandboxConfigError(f"inject({name!r}): value is not JSON data: {exc}") from None
        self._injected[name] = text
        if self._started:
            self._namespace[name] = self._host[name] = json.loads(text)

    def define(self, source: str) -> ExecutionResult:
        """Run definitions in a namespace of host-put names only; publish what they bind."""
        if not isinstance(source, str):
            raise SandboxConfigError(f"source must be a str, got {type(source).__name__}")
        self.start()
        result = self._define(source)
        if result.ok:
            self._defines.append(source)
        return result

    def fetch(self, name: str, *, max_bytes: int = 1_000_000, max_depth: int = 100) -> Any:
        """A copy of global ``name`` as JSON data (non-JSON leaves as their ``str()``)."""
        if not isinstance(name, str) or not name.isidentifier():
            raise SandboxConfigError(f"fetch: not a variable name: {name!r}")
        self.start()
        if name not in self._namespace:
            raise FetchError(f"{name!r} could not be fetched: NameError: not defined")
        text = json.dumps(self._namespace[name], default=str)
        if len(text.encode()) > max_bytes:
            raise FetchError(f"{name!r} is over the {max_bytes}-byte limit")
        value = json.loads(text)
        if _depth(value) > max_depth:
            raise FetchError(f"{name!r} is nested more than {max_depth} levels deep")
        return value

    def register_host_function(self, name: str, fn: Callable[..., Any]) -> None:
        """Make ``name(...)`` callable from cells; JSON in, JSON out."""
        _check_name(name, "host function")
        if not callable(fn):
            raise SandboxConfigError(f"host function {name!r} must be callable, got {fn!r}")
        self._check_open()
        self._functions[name] = fn
        if self._started:
            self._namespace[name] = self._host[name] = self._stub(name)

    def charge_cell_time(self, seconds: float) -> None:
        """Count ``seconds`` of the running host call (at most all of it) against the cell."""
        self._charged += max(0.0, seconds)

    def restart(self) -> None:
        """A fresh namespace holding injected data, host functions and definitions."""
        self._check_open()
        self._fresh()
        self._started = True

    def close(self) -> None:
        """Forget everything; idempotent."""
        self._closed = True
        self._namespace.clear()
        self._host.clear()

    # -- internals ----------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise SandboxClosedError("the kernel is closed")

    def _fresh(self) -> None:
        self._host = {name: json.loads(text) for name, text in self._injected.items()}
        self._host.update({name: self._stub(name) for name in self._functions})
        self._namespace = {"__name__": "__kernel__", "__builtins__": builtins, **self._host}
        for source in self._defines:
            self._define(source)

    def _define(self, source: str) -> ExecutionResult:
        clean: dict[str, Any] = {"__name__": "__kernel__", "__builtins__": builtins}
        clean.update(self._host)
        before = set(clean)
        result = self._run(source, clean)
        if result.ok:
            made = {k: v for k, v in clean.items() if k not in before and not k.startswith("_")}
            self._host.update(made)
            self._namespace.update(made)
        return result

    def _stub(self, name: str) -> Callable[..., Any]:
        def stub(*args: Any, **kwargs: Any) -> Any:
            try:
                arguments = json.loads(json.dumps([args, kwargs], allow_nan=False))
            except (TypeError, ValueError) as exc:
                raise TypeError(
                    f"arguments of host function {name!r} must be JSON data: {exc}"
                ) from None
            self._host_calls += 1
            entered, self._charged = time.perf_counter(), 0.0
            self._in_host = True
            try:
                value = self._functions[name](*arguments[0], **arguments[1])
            except Exception as exc:
                raise HostFunctionError(
                    f"host function {name!r}: {type(exc).__name__}: {exc}"
                ) from None
            finally:
                self._in_host = False
                spent = time.perf_counter() - entered
                self._paused += spent - min(self._charged, spent)
            try:
                return json.loads(json.dumps(value, allow_nan=False))
            except (TypeError, ValueError) as exc:
                raise HostFunctionError(
                    f"host function {name!r}: BadResult: returned non-JSON data: {exc}"
                ) from None

        stub.__name__ = name
        return stub

    def _tracer(self, frame: FrameType, event: str, arg: Any) -> Any:
        if self._in_host or frame.f_code.co_filename != _CELL:
            return None  # only the cell's own code is timed (host code never is)
        started = self._cell_started
        if self.timeout_s is not None and started is not None:
            spent = time.perf_counter() - started - self._paused
            if spent > self.timeout_s:
                raise _CellTimeout
        return self._tracer

    def _run(self, code: str, namespace: dict[str, Any]) -> ExecutionResult:
        stdout, stderr = io.StringIO(), io.StringIO()
        error: CellError | None = None
        timed_out = False
        self._cell_started, self._paused, self._host_calls = time.perf_counter(), 0.0, 0
        previous = sys.gettrace()
        try:
            compiled = compile(code, _CELL, "exec")
            with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
                sys.settrace(self._tracer)
                try:
                    exec(compiled, namespace)
                finally:
                    sys.settrace(previous)
        except _CellTimeout:
            timed_out = True
            error = CellError(
                "SandboxTimeout",
                f"the cell exceeded its {self.timeout_s} s wall-clock limit and was interrupted",
            )
        except Exception as exc:
            error = CellError(type(exc).__name__, str(exc), traceback.format_exc(limit=-3))
        duration = time.perf_counter() - self._cell_started
        self._cell_started = None
        return ExecutionResult(
            stdout=stdout.getvalue(),
            stderr=stderr.getvalue(),
            error=error,
            duration_s=duration,
            timed_out=timed_out,
            host_calls=self._host_calls,
            host_call_s=self._paused,
        )
