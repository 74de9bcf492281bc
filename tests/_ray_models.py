"""Scripted models for Ray tests and the scale benchmark, re-creatable in any process.

A scripted model lives in its process's registry, so a Ray node actor registers its own
copy through ``RayExecutor(setup=register)``; the replies depend only on the request, so
every process answers alike (a deterministic reflector: its scores equal a local run's).
``register`` also installs the test tripwire in the worker: no real provider is reached
from a node either.
"""

from __future__ import annotations

import os

from ace.testing import FunctionModel, RecordedRequest, code_reply

REFLECTOR = "ray-rr"
"""Explores once, then names the middle step's agent (computed in the kernel)."""
SLOW_REFLECTOR = "ray-rr-slow"
"""The same, each reply 200 ms late (the scale benchmark's model)."""
ENV_PROBE = "ACE_RAY_TEST_API_KEY"
"""A fake provider key the secrets tests hand to the nodes."""

EXPLORE = "print(len(trace), trace.agents())"
FINAL = (
    "_i = len(trace) // 2\n"
    "FINAL({'reasoning': 'r', 'error_identification': 'e', 'key_insight': 'k', "
    "'attribution': {'agent': trace.steps[_i]['agent'], 'step': _i, 'reason': 'middle'}})"
)


def reply(request: RecordedRequest) -> str:
    """Turn one explores, every later turn ends with FINAL."""
    turns = sum(1 for m in request.messages if m.get("role") == "assistant")
    return code_reply(EXPLORE if turns == 0 else FINAL)


_registered: list[FunctionModel] = []
_tripwire: list[object] = []


def register() -> None:
    """Register the scripted models in this process (once)."""
    if not _registered:
        _registered.append(FunctionModel(reply, name=REFLECTOR))
        _registered.append(FunctionModel(reply, name=SLOW_REFLECTOR, delay_s=0.2))


def node_setup() -> None:
    """``RayExecutor(setup=...)`` for tests: the models, and the tripwire armed on the node
    (no real provider, no non-loopback address from there either)."""
    from ace.testing._tripwire import Tripwire

    register()
    if not _tripwire:
        tripwire = Tripwire()
        tripwire.install()
        _tripwire.append(tripwire)


def read_env(name: str) -> str | None:
    """An item function: the value of an environment variable on the node."""
    return os.environ.get(name)


def runtime_env(_: object) -> dict[str, object]:
    """An item function: the job's runtime environment as this worker sees it."""
    import ray

    return dict(ray.get_runtime_context().runtime_env or {})
