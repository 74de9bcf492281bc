"""The kernel contract: what a host needs from a backend that runs code over data.

``Sandbox`` is the one backend shipped (a local kernel behind OS walls and the code
policy); a remote kernel or a container could offer the same ten members and be used by
any host written against ``Kernel`` (the Recursive Reflector is). ``tests/test_kernel_contract.py``
runs one suite of behaviour against every implementation it knows.

The contract, member by member:

- ``start()`` starts the kernel if it is not running; calling it again does nothing.
  Every other operation starts the kernel on first use. After ``close()`` every
  operation raises ``SandboxClosedError``.
- ``execute(code)`` runs one cell in the session's namespace (names persist between
  cells) and returns an ``ExecutionResult``; a cell that raises, times out or kills its
  kernel is a result with ``error`` set, never an exception. A kernel replaced during a
  call says so with ``restarted`` and names what came back in ``restored`` and ``lost``.
- ``inject(name, value)`` places a copy of the JSON data ``value`` under ``name``;
  ``SandboxConfigError`` for a name that is not an identifier or a value that is not
  JSON data.
- ``define(source)`` runs host-written definitions in a namespace holding only injected
  data, host functions and earlier definitions (never names a cell bound), publishes the
  public names they bind, and keeps them through restarts. Returns the result like
  ``execute``.
- ``fetch(name, max_bytes=..., max_depth=...)`` returns a copy of a global's value as JSON
  data (values that are not JSON data become their ``str()``); ``FetchError`` (a
  ``ValueError``) when there is no such name or the value is over a limit.
- ``register_host_function(name, fn)`` makes ``name(...)`` callable from cells; ``fn``
  runs on the host with JSON arguments and returns JSON data. An exception in ``fn``
  fails the calling cell with an error naming the function, the exception type and its
  message. Time spent in host functions does not count against a cell's time limit,
  except what ``charge_cell_time(seconds)``, called from inside a host function, gives
  back to the cell (at most that call's own duration).
- ``restart()`` replaces the kernel with a fresh one: the cells' names are gone;
  injected data, host functions and definitions are back.
- ``close()`` ends the kernel and frees what it held; calling it again does nothing.
- ``isolation`` reports which walls hold around the kernel (``IsolationReport``); a
  backend without walls reports none active.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from sandbox.results import ExecutionResult, IsolationReport


@runtime_checkable
class Kernel(Protocol):
    """A backend that runs code over injected data for a host (see the module docstring)."""

    @property
    def isolation(self) -> IsolationReport:
        """Which walls hold around the kernel."""
        ...

    def start(self) -> None:
        """Start the kernel unless it runs."""
        ...

    def execute(self, code: str) -> ExecutionResult:
        """Run one cell; failures come back in the result."""
        ...

    def inject(self, name: str, value: Any) -> None:
        """Place a copy of JSON data under ``name``."""
        ...

    def define(self, source: str) -> ExecutionResult:
        """Run host-written definitions out of the cells' reach; kept through restarts."""
        ...

    def fetch(self, name: str, *, max_bytes: int = 1_000_000, max_depth: int = 100) -> Any:
        """A global's value as JSON data; ``FetchError`` when it cannot be returned."""
        ...

    def register_host_function(self, name: str, fn: Callable[..., Any]) -> None:
        """Make ``name(...)`` callable from cells; ``fn`` runs on the host, JSON in and out."""
        ...

    def charge_cell_time(self, seconds: float) -> None:
        """From inside a host function: count ``seconds`` against the running cell's limit."""
        ...

    def restart(self) -> None:
        """A fresh kernel with injected data, host functions and definitions only."""
        ...

    def close(self) -> None:
        """End the kernel; idempotent."""
        ...
