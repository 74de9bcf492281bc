"""What runs on the nodes of a Ray cluster: the node actor, the slot task, shipped steps.

- ``NodeActor``: one per node, for the whole run. It takes the run's secrets as
  constructor arguments (never the job's runtime environment, which the dashboard shows)
  and sets them in its own process environment, runs the caller's ``setup``, probes the
  node's sandbox isolation (a node failing them is refused under ``require_isolation``),
  and keeps a warm ``SandboxPool`` per sandbox configuration, ``slots`` kernels each.
  Sessions run in its threads, each with a kernel from that pool.
- ``session_slot``: a Ray task asking for one ``ace_kernel`` resource. Ray places it on a
  node with a free kernel slot (no scheduler of ours); it hands its item to that node's
  actor and holds the slot until the session ends.
- What the items carry (steps, pipelines, skillbooks, shared-storage traces) is
  shipped by the rules of ``_ray_shipping``.

Only the standard library is imported at module level: slot tasks import this module
and stay small processes.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ace.executors._ray_shipping import register_serializers, resolve

if TYPE_CHECKING:
    from sandbox import Kernel, SandboxConfig, SandboxPool

KERNEL_RESOURCE = "ace_kernel"
"""The custom Ray resource counting a node's kernel slots (``ray start --resources``)."""


def node_actor_name(run_id: str, node_id: str) -> str:
    """The name of the run's actor on node ``node_id``."""
    return f"ace-node-{run_id}-{node_id[:16]}"


@dataclass(frozen=True)
class NodeStatus:
    """A node actor's account of itself, taken when it started (and again on demand)."""

    node_id: str
    address: str
    pid: int
    slots: int
    accepted: bool
    reason: str = ""
    """Why the node was refused ("" when accepted)."""
    launcher: str = ""
    missing_layers: tuple[str, ...] = ()
    secrets: tuple[str, ...] = ()
    """Names (never values) of the environment variables the run handed to this node."""
    sessions: int = 0
    running: int = 0
    """Sessions running on the node at the time of the status."""
    peak_rss_mb: float = 0.0
    """Peak resident memory of the node's Ray process tree (raylet, workers, kernels)."""


@dataclass
class _NodeState:
    """The process-wide state of a node actor (its pools), reached by rebuilt steps."""

    slots: int
    pools: dict[str, SandboxPool] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def acquire(self, config: SandboxConfig) -> Kernel:
        """A started kernel of ``config`` from this node's warm pool."""
        return self.pool(config).acquire()

    def pool(self, config: SandboxConfig) -> SandboxPool:
        """The node's pool of ``config`` (made on first use)."""
        from sandbox import SandboxPool

        key = repr(config)  # a frozen dataclass: its repr names every field
        with self.lock:
            found = self.pools.get(key)
            if found is None:
                found = self.pools[key] = SandboxPool(config, size=self.slots, idle_shutdown_s=None)
            return found


_NODE: _NodeState | None = None
_ADDRESS = "?"


def node_state() -> _NodeState | None:
    """This process's node state when it is a node actor, else None."""
    return _NODE


def node_address() -> str:
    """This node's address when this process is a node actor, else "?"."""
    return _ADDRESS


class NodeActor:
    """One node's part of a run (see the module docstring); a threaded Ray actor."""

    def __init__(
        self,
        run_id: str,
        slots: int,
        secrets: dict[str, str],
        setup: Callable[[], object] | None,
        require_isolation: bool,
        sandbox_config: SandboxConfig | None,
        measure_memory: bool,
    ) -> None:
        global _NODE, _ADDRESS
        import ray

        os.environ.update(secrets)
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        self._run_id = run_id
        self._slots = slots
        self._secrets = tuple(sorted(secrets))
        self._node_id = ray.get_runtime_context().get_node_id()
        self._address = _ADDRESS = ray.util.get_node_ip_address()  # before setup()
        self._functions: dict[str, Callable[[Any], Any]] = {}
        self._lock = threading.Lock()
        self._sessions = 0
        self._running = 0
        self._peak_rss = 0
        self._stop = threading.Event()
        _NODE = _NodeState(slots)
        register_serializers()  # results carry skillbooks back
        if measure_memory:
            threading.Thread(target=self._sample_memory, daemon=True).start()
        if setup is not None:
            setup()
        self._status = self._probe(require_isolation, sandbox_config)
        if self._status.accepted and sandbox_config is not None:
            _NODE.pool(sandbox_config)  # warm from the start

    def _probe(self, require_isolation: bool, config: SandboxConfig | None) -> NodeStatus:
        from sandbox import Sandbox, SandboxConfig, SandboxError

        probe_config = dataclasses.replace(config or SandboxConfig(), require_isolation=False)
        common: dict[str, Any] = {
            "node_id": self._node_id,
            "address": self._address,
            "pid": os.getpid(),
            "slots": self._slots,
            "secrets": self._secrets,
        }
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with Sandbox(probe_config) as sandbox:
                    report = sandbox.isolation
        except SandboxError as exc:
            return NodeStatus(
                **common,
                accepted=False,
                reason=f"no kernel starts here: {type(exc).__name__}: {exc}",
            )
        missing = tuple(report.missing)
        reason = ""
        if missing and require_isolation:
            reason = (
                f"isolation layers missing: {', '.join(missing)} (launcher {report.launcher}); "
                "install bubblewrap there and allow unprivileged user namespaces"
            )
        return NodeStatus(
            **common,
            accepted=not reason,
            reason=reason,
            launcher=report.launcher,
            missing_layers=missing,
        )

    def status(self) -> NodeStatus:
        """The node's status with its session count and peak memory so far."""
        from dataclasses import replace

        with self._lock:
            return replace(
                self._status,
                sessions=self._sessions,
                running=self._running,
                peak_rss_mb=self._peak_rss / 2**20,
            )

    def run(self, fn_box: list[Any], payload: Any, key: int) -> bytes:
        """Run one item; its value or error, pickled (errors are the item's, never ours)."""
        started = time.perf_counter()
        with self._lock:
            self._sessions += 1
            self._running += 1
        value: Any = None
        error: BaseException | None = None
        try:
            fn = self._function(fn_box[0])
            value = fn(resolve(payload))
        except BaseException as exc:  # the item's failure, handed to the driver
            error = exc
        finally:
            with self._lock:
                self._running -= 1
        return pack(key, value, error, time.perf_counter() - started)

    def shutdown(self) -> None:
        """Close the node's warm kernels (the run is over; the actor is killed next)."""
        self._stop.set()
        if _NODE is not None:
            with _NODE.lock:
                pools = list(_NODE.pools.values())
                _NODE.pools.clear()
            for pool in pools:
                pool.close()

    def _function(self, ref: Any) -> Callable[[Any], Any]:
        import ray

        name = ref.hex()
        with self._lock:
            found = self._functions.get(name)
        if found is None:
            found = ray.get(ref)  # rebuilt once per run and node: its steps stay warm
            with self._lock:
                found = self._functions.setdefault(name, found)
        return found

    def _sample_memory(self) -> None:
        root = os.getppid()  # the raylet: the node's workers and their kernels hang below it
        while not self._stop.wait(0.25):
            total = tree_rss(root)
            with self._lock:
                self._peak_rss = max(self._peak_rss, total)


class KernelSlotHolder:
    """Holds a refused node's kernel slots for the run, so Ray places no session there."""

    def ready(self) -> bool:
        """Placed."""
        return True


_actors: dict[str, Any] = {}


RESTART_WAIT_S = 120.0
"""How long a re-launched item waits for its node's actor to come back after a crash."""


def session_slot(
    run_id: str, fn_box: list[Any], payload_box: list[Any], key: int, again: bool = False
) -> bytes:
    """The slot task: run the item on this node's actor while holding one kernel slot.

    ``again`` (a re-launch after a crash): wait until the node's actor answers, so an
    item placed on a node whose actor is restarting does not spend an attempt on it.
    """
    import ray
    from ray.exceptions import ActorUnavailableError

    node_id = ray.get_runtime_context().get_node_id()
    name = node_actor_name(run_id, node_id)
    actor = _actors.get(name)
    if actor is None:
        actor = _actors[name] = ray.get_actor(name)
    deadline = time.monotonic() + RESTART_WAIT_S
    while again:
        try:
            ray.get(actor.status.remote(), timeout=RESTART_WAIT_S)
            break
        except ActorUnavailableError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    result: bytes = ray.get(actor.run.remote(fn_box, payload_box[0], key))
    return result


# ---------------------------------------------------------------------- results
def pack(key: int, value: Any, error: BaseException | None, duration_s: float) -> bytes:
    """An item's outcome as bytes; an unpicklable error or value becomes a RuntimeError
    naming it, so the driver always learns what happened."""
    from ray import cloudpickle

    try:
        return bytes(cloudpickle.dumps((key, value, error, duration_s)))
    except Exception as exc:
        if error is not None:
            text = str(error).strip().splitlines()
            cause = f"{type(error).__name__}: {text[0] if text else ''}"
        else:
            cause = f"the result ({type(value).__name__}) could not be pickled: {exc}"
        return bytes(cloudpickle.dumps((key, None, RuntimeError(cause), duration_s)))


# ---------------------------------------------------------------------- memory
def tree_rss(root: int) -> int:
    """Resident bytes of ``root`` and every process below it (Linux ``/proc``)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
            statm = Path(entry.path, "statm").read_text().split()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        pid = int(entry.name)
        children.setdefault(int(fields[1]), []).append(pid)
        rss[pid] = int(statm[1]) * page
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, ()))
    return total
