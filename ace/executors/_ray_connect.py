"""Reaching a Ray cluster: importing Ray, connecting, the secrets handed to nodes, and
the wording of the errors a Ray run raises or records."""

from __future__ import annotations

import os
import socket
from typing import Any

from ace.errors import RunError, UsageError
from ace.executors._ray_actors import KERNEL_RESOURCE

INSTALL_HINT = "pip install 'ace-rr[ray]'"

SECRET_SUFFIXES = ("_API_KEY", "_API_BASE", "_BASE_URL", "_API_VERSION", "_ORGANIZATION")
"""Environment variables of the driver handed to every node by default (by name ending)."""
SECRET_NAMES = frozenset(
    {
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_REGION_NAME",
        "AWS_DEFAULT_REGION",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "VERTEXAI_PROJECT",
        "VERTEXAI_LOCATION",
    }
)
"""Environment variables of the driver handed to every node by default (exact names)."""


def import_ray() -> Any:
    """The ``ray`` module, or ``UsageError`` naming the extra to install."""
    try:
        import ray
    except ImportError as exc:
        raise UsageError(
            f"running on a Ray cluster needs Ray, which is not installed ({exc}): {INSTALL_HINT}"
        ) from None
    return ray


def default_secrets() -> list[str]:
    """Names of the driver's provider settings handed to the nodes (keys, bases)."""
    return sorted(
        name for name in os.environ if name in SECRET_NAMES or name.endswith(SECRET_SUFFIXES)
    )


def _connect(ray: Any, address: str, jobs: int | None) -> bool:
    """Connect this process to the cluster at ``address``; whether we made the
    connection (and so end it at close)."""
    if ray.is_initialized():
        return False
    if not isinstance(address, str) or not address.strip():
        raise UsageError(f"--ray: expected auto, local or a cluster address, got {address!r}")
    quiet = {"include_dashboard": False, "log_to_driver": False, "logging_level": "warning"}
    if address == "local":
        slots = jobs or os.cpu_count() or 1
        ray.init(
            num_cpus=1,
            resources={KERNEL_RESOURCE: slots},
            _node_ip_address="127.0.0.1",
            **quiet,
        )
        return True
    quiet.pop("include_dashboard")
    if address != "auto" and not address.startswith("ray://"):
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise UsageError(f"--ray {address}: expected auto, local, HOST:PORT or ray://HOST:PORT")
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
        except OSError as exc:
            raise UsageError(
                f"--ray {address}: no Ray cluster answers there ({exc.strerror or exc}); "
                "start one with `ray start --head` or give its address"
            ) from None
    try:
        ray.init(address=address, **quiet)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise UsageError(
            f"--ray {address}: cannot connect to a Ray cluster ({first_line(exc)}); start one "
            "with `ray start --head`, or use --ray local"
        ) from None
    return True


def _crash_error(exc: BaseException, attempts: int) -> RunError:
    return RunError(
        f"the Ray worker running this item died on each of {attempts} attempt"
        f"{'' if attempts == 1 else 's'} (--max-attempts {attempts}); last: "
        f"{type(exc).__name__}: {first_line(exc)}"
    )


def first_line(exc: BaseException) -> str:
    """The first non-empty line of an error's text."""
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    return lines[0].strip() if lines else ""


def _last_line(exc: BaseException) -> str:
    """The innermost error of a Ray error (its text ends with the remote traceback)."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__


def _usage_cause(exc: BaseException) -> UsageError | None:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, UsageError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _refuse_local_ledger(ledger: object) -> None:
    raise UsageError(
        "a RunLedger lives in one process and cannot be shared by Ray nodes: pass "
        "RayExecutor.share_budget(ledger) to the reflector instead"
    )


def _never_called(state: object) -> None:  # pragma: no cover - serializer raised
    raise UsageError("a RunLedger cannot cross to a Ray node")
