"""An isolated Python kernel for running untrusted code over untrusted data.

``with Sandbox(SandboxConfig(timeout_s=10)) as sb: print(sb.execute("print(1)").stdout)``;
``pool = SandboxPool(config, size=2)`` keeps kernels started ahead: ``pool.acquire()``.
``Kernel`` is the contract ``Sandbox`` implements, for hosts that accept other backends.
"""

from sandbox._contract import Kernel
from sandbox._pool import SandboxPool
from sandbox._sandbox import Sandbox
from sandbox.config import SandboxConfig
from sandbox.errors import (
    FetchError,
    IsolationError,
    IsolationWarning,
    SandboxClosedError,
    SandboxConfigError,
    SandboxError,
    SandboxRuntimeError,
    SandboxStartError,
    SandboxUsageError,
)
from sandbox.results import LAYERS, CellError, ExecutionResult, IsolationReport

__all__ = [
    "LAYERS",
    "CellError",
    "ExecutionResult",
    "FetchError",
    "IsolationError",
    "IsolationReport",
    "IsolationWarning",
    "Kernel",
    "Sandbox",
    "SandboxClosedError",
    "SandboxConfig",
    "SandboxConfigError",
    "SandboxError",
    "SandboxPool",
    "SandboxRuntimeError",
    "SandboxStartError",
    "SandboxUsageError",
]
