"""Errors raised by the sandbox.

A cell that fails (raises, times out, exhausts memory, kills its kernel) is not an error of
the sandbox: it comes back as `ExecutionResult.error`. Exceptions are for the calling
developer's mistakes and for a sandbox that cannot do its job::

    SandboxError
    ├── SandboxUsageError          the caller's mistake; fix the call
    │   ├── SandboxConfigError     a SandboxConfig value is out of range
    │   └── SandboxClosedError     the sandbox was used after close()
    ├── FetchError                 Sandbox.fetch could not return the value; says why
    └── SandboxRuntimeError        the sandbox failed while running
        ├── SandboxStartError      the kernel did not start (keeps the kernel's own log)
        └── IsolationError         require_isolation=True and a layer is missing

    IsolationWarning (UserWarning) a layer is missing and require_isolation=False
"""

from __future__ import annotations


class SandboxError(Exception):
    """Base of every exception raised by `sandbox`."""


class SandboxUsageError(SandboxError):
    """The calling code used the sandbox wrongly."""


class SandboxConfigError(SandboxUsageError, ValueError):
    """A `SandboxConfig` field, or an argument such as an injected name, is invalid."""


class SandboxClosedError(SandboxUsageError):
    """The sandbox was used after `close()`."""


class FetchError(SandboxError, ValueError):
    """`Sandbox.fetch` could not return the value: no such name, not JSON data, over the
    size or depth limit, or the kernel failed while serialising it."""


class SandboxRuntimeError(SandboxError):
    """The sandbox could not do its job."""


class SandboxStartError(SandboxRuntimeError):
    """The kernel did not start or did not answer in time."""

    def __init__(self, message: str, *, kernel_log: str = "") -> None:
        super().__init__(
            message + (f"\nkernel log (last part):\n{kernel_log}" if kernel_log else "")
        )
        self.kernel_log = kernel_log
        """What the kernel process wrote to its own stdout/stderr (capped)."""


class IsolationError(SandboxRuntimeError):
    """`require_isolation=True` and the probes found isolation layers missing."""

    def __init__(self, missing: tuple[str, ...], details: str) -> None:
        super().__init__(
            f"isolation layers missing: {', '.join(missing)} ({details}); install bubblewrap "
            "('apt-get install bubblewrap') or set SandboxConfig(require_isolation=False)"
        )
        self.missing = missing
        """Names of the layers the probes found missing."""


class IsolationWarning(UserWarning):
    """Some isolation layers are missing; `Sandbox.isolation` says which."""
