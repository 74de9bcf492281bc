"""How work crosses to the nodes: what holds locks travels as its data, traces on shared
storage travel as references.

- ``RRStep`` objects travel as their settings (``step_state``) and are rebuilt on the
  node with the node's warm pool as their kernel source (``step_rebuild``);
  ``Pipeline``, ``Skillbook`` and ``SkillbookView`` as their data.
- Labelled traces from files under ``--shared-storage`` travel as ``SharedTrace``
  references, read on the node after checking size and SHA-256 against the driver's
  copy (``ship`` on the driver, ``resolve`` on the node).

Only the standard library is imported at module level.
"""

from __future__ import annotations

import functools
import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ace.pipeline import Pipeline
    from ace.rr import RRStep
    from sandbox import SandboxConfig


_registered = False


def register_serializers() -> None:
    """Teach Ray's pickler in this process how to ship what holds locks and threads:
    ``RRStep``, ``Pipeline``, ``Skillbook`` and ``SkillbookView`` travel as their data
    and are rebuilt on the other side. Run by the driver and by every node actor (whose
    results carry skillbooks back)."""
    global _registered
    if _registered:
        return
    import ray

    from ace.pipeline import Pipeline
    from ace.pipeline.context import SkillbookView
    from ace.rr import RRStep
    from ace.skillbook import Skillbook

    register = ray.util.register_serializer
    register(RRStep, serializer=step_state, deserializer=step_rebuild)
    register(Pipeline, serializer=pipeline_state, deserializer=pipeline_rebuild)
    register(Skillbook, serializer=skillbook_state, deserializer=skillbook_rebuild)
    register(SkillbookView, serializer=skillbook_state, deserializer=view_rebuild)
    _registered = True


def skillbook_state(book: Any) -> dict[str, Any]:
    """A ``Skillbook`` or ``SkillbookView`` as its dict."""
    state: dict[str, Any] = book.to_dict()
    return state


def skillbook_rebuild(state: dict[str, Any]) -> Any:
    """The skillbook again (a copy: what a node changes stays on the node)."""
    from ace.skillbook import Skillbook

    return Skillbook.from_dict(state)


def view_rebuild(state: dict[str, Any]) -> Any:
    """A read-only view over a copy of the skillbook."""
    from ace.pipeline.context import SkillbookView

    return SkillbookView(skillbook_rebuild(state))


def session_sandbox_config(step: RRStep) -> SandboxConfig:
    """The sandbox configuration of ``step``'s sessions (``RRStep._make_kernel``'s rule)."""
    from sandbox import SandboxConfig

    return step.sandbox_config or SandboxConfig(
        timeout_s=step.config.timeout,
        max_output_chars=max(step.config.max_output_chars * 4, 20_000),
    )


def step_state(step: RRStep) -> dict[str, Any]:
    """An ``RRStep``'s settings, picklable (its warm pool and locks stay behind)."""
    return {
        "main": step.main,
        "config": step.config,
        "prompt_template": step.prompt_template,
        "sandbox_config": step.sandbox_config,
        "kernel_factory": step.kernel_factory,
        "main_temperature": step._main_temperature,
        "main_max_tokens": step._main_max_tokens,
    }


def step_rebuild(state: dict[str, Any]) -> RRStep:
    """The step again; inside a node actor its kernels come from the node's warm pool."""
    from ace.rr import RRStep

    factory = state["kernel_factory"]
    step = RRStep(
        state["main"],
        state["config"],
        state["prompt_template"],
        sandbox_config=state["sandbox_config"],
        kernel_factory=factory,
    )
    step._main_temperature = state["main_temperature"]
    step._main_max_tokens = state["main_max_tokens"]
    from ace.executors import _ray_actors

    node = _ray_actors.node_state()
    if factory is None and node is not None:
        step.kernel_factory = functools.partial(node.acquire, session_sandbox_config(step))
    return step


def pipeline_state(pipeline: Pipeline) -> dict[str, Any]:
    """A ``Pipeline``'s steps, hooks and name (its background worker stays behind)."""
    return {"steps": pipeline.steps, "hooks": pipeline.hooks, "name": pipeline.name}


def pipeline_rebuild(state: dict[str, Any]) -> Pipeline:
    """The pipeline again, on the node (``TraceAnalyser.run(executor=)``'s reflecting head)."""
    from ace.pipeline import Pipeline

    return Pipeline(state["steps"], state["hooks"], name=state["name"])


# ---------------------------------------------------------------------- shared storage
@dataclass(frozen=True)
class SharedTrace:
    """A labelled trace in a file every node sees: read on the node, not shipped."""

    path: str
    size: int
    sha256: str
    trace_id: str
    line: int | None
    index: int | None
    labels: Any


_digests: dict[tuple[str, int, int], str] = {}
_digest_lock = threading.Lock()


def file_digest(path: Path) -> tuple[int, str]:
    """(size, SHA-256) of ``path``, cached per modification time and size."""
    stat = path.stat()
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    with _digest_lock:
        found = _digests.get(key)
    if found is None:
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        found = digest.hexdigest()
        with _digest_lock:
            _digests[key] = found
    return stat.st_size, found


def ship(payload: Any, roots: tuple[Path, ...]) -> Any:
    """``payload``, or a ``SharedTrace`` when it is a labelled trace from under ``roots``."""
    if not roots:
        return payload
    from ace.traces import LabelledTrace

    if not isinstance(payload, LabelledTrace) or payload.trace.source is None:
        return payload
    source = payload.trace.source
    if source.path is None:
        return payload
    path = Path(source.path).resolve()
    if not any(path.is_relative_to(root) for root in roots):
        return payload
    size, sha256 = file_digest(path)
    return SharedTrace(
        str(path), size, sha256, payload.trace.id, source.line, source.index, payload.labels
    )


def resolve(payload: Any) -> Any:
    """The payload itself, or the labelled trace a ``SharedTrace`` names, read here."""
    if not isinstance(payload, SharedTrace):
        return payload
    from ace.errors import InputError
    from ace.traces import LabelledTrace
    from ace.traces.load import iter_labelled_traces

    path = Path(payload.path)
    where = _here()
    try:
        size, sha256 = file_digest(path)
    except OSError as exc:
        raise InputError(
            f"trace file {path} cannot be read on node {where} ({exc.strerror or exc}); "
            "is the folder given to --shared-storage mounted on every node?"
        ) from None
    if (size, sha256) != (payload.size, payload.sha256):
        raise InputError(
            f"trace file {path} on node {where} differs from the driver's copy (size {size} "
            f"vs {payload.size}, sha256 {sha256[:12]} vs {payload.sha256[:12]}): is the folder "
            "given to --shared-storage the same storage on every node?"
        )
    for item in iter_labelled_traces(path):
        source = item.trace.source
        if (
            item.trace.id == payload.trace_id
            and source is not None
            and (source.line, source.index) == (payload.line, payload.index)
        ):
            return LabelledTrace(trace=item.trace, labels=payload.labels)
    raise InputError(f"trace file {path} on node {where}: no trace {payload.trace_id!r} in it")


def _here() -> str:
    from ace.executors import _ray_actors

    return _ray_actors.node_address()
