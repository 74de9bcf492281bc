"""``RayExecutor``: the work items of a batch on a Ray cluster (the ``ray`` extra).

Ray does the placing: every item is a task asking for one ``ace_kernel`` resource (a
node offers as many as it has kernel slots: ``ray start --resources
'{"ace_kernel": 4}'``), so it lands on a node with a free slot; there it runs in that
node's ``NodeActor``, which keeps the warm kernels (see ``_ray_actors``). The driver
keeps at most ``jobs`` (the accepted nodes' slots) items in flight and re-submits an
item whose task died with its worker or node, up to ``max_attempts`` launches; the
other items are not run again. The run's budget, when there is one, is an actor too
(``share_budget``, ``_ray_ledger``).

Caller mistakes (no ``ray`` installed, an address that does not answer, a cluster
without kernel slots, every node refused) raise before any item runs.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ace.errors import ConfigurationError, UsageError
from ace.executors._contract import Completed
from ace.executors._ray_actors import KERNEL_RESOURCE, NodeStatus
from ace.executors._ray_connect import (
    _connect,
    _crash_error,
    _last_line,
    _never_called,
    _refuse_local_ledger,
    _usage_cause,
    default_secrets,
    first_line,
    import_ray,
)

if TYPE_CHECKING:
    from ace.executors._contract import Executor
    from ace.rr.run_ledger import RunLedger
    from sandbox import SandboxConfig


@dataclass
class _Item:
    fn_ref: Any
    payload_ref: Any
    attempts: int = 0
    launched: float = 0.0


class RayExecutor:
    """Runs work items on the kernel slots of a Ray cluster (an ``Executor``).

    ``address``: ``"auto"`` (the cluster this machine belongs to, or ``RAY_ADDRESS``), a
    cluster address (``"10.0.0.5:6379"``, ``"ray://head:10001"``), or ``"local"``: start a
    one-node cluster here with ``jobs`` kernel slots (dashboard off). When this process is
    already connected (``ray.init`` was called), that connection is used as it is.

    - ``jobs``: at most this many items at once (default: every accepted slot).
    - ``max_attempts``: launches of one item when its worker or node dies (>= 1).
    - ``require_isolation``: refuse nodes whose sandbox probes find a wall missing.
    - ``shared_storage``: folders every node mounts at the same path; labelled traces
      from files under them are read on the node (size and SHA-256 checked against the
      driver's copy) instead of travelling through the object store.
    - ``secrets``: names of environment variables handed to the node actors as
      constructor arguments (default ``default_secrets()``); never put in the job's
      runtime environment, which the dashboard shows.
    - ``setup``: a picklable function run in each node actor when it starts (register
      models, configure logging).
    - ``sandbox_config``: the sandbox configuration to probe and keep warm from the start
      (an RR step's own configuration is kept warm from its first session anyway).
    - ``measure_memory``: node actors sample their node's Ray process tree's memory.

    The function and payload of each item must be picklable. ``RRStep`` objects travel
    as their settings and use the node's warm pool there; a run budget must be made
    shareable first with ``share_budget``.
    """

    def __init__(
        self,
        address: str = "auto",
        *,
        jobs: int | None = None,
        max_attempts: int = 3,
        require_isolation: bool = False,
        shared_storage: Sequence[str | os.PathLike[str]] = (),
        secrets: Sequence[str] | None = None,
        setup: Callable[[], object] | None = None,
        sandbox_config: SandboxConfig | None = None,
        measure_memory: bool = False,
        start_timeout_s: float = 180.0,
    ) -> None:
        if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1):
            raise UsageError(f"RayExecutor jobs must be a whole number >= 1 or None, got {jobs!r}")
        if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
            raise UsageError(f"RayExecutor max_attempts must be >= 1, got {max_attempts!r}")
        roots = []
        for folder in shared_storage:
            path = Path(folder).resolve()
            if not path.is_dir():
                raise UsageError(f"--shared-storage {folder}: not a folder on this machine")
            roots.append(path)
        self._roots = tuple(roots)
        self._max_attempts = max_attempts
        if address == "local" and "ray" not in sys.modules:
            # A one-node cluster for this process: keep it on 127.0.0.1 (Ray would bind
            # the machine's outward address), read by Ray once, at import.
            os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        ray = import_ray()
        self._ray = ray
        self._owns_connection = _connect(ray, address, jobs)
        self._run_id = uuid.uuid4().hex[:12]
        self._actors: list[Any] = []  # every actor this run started, killed at close
        try:
            self.nodes = self._start_nodes(
                secrets=default_secrets() if secrets is None else list(secrets),
                setup=setup,
                require_isolation=require_isolation,
                sandbox_config=sandbox_config,
                measure_memory=measure_memory,
                timeout_s=start_timeout_s,
            )
        except BaseException:
            self._release()
            raise
        """Each node's status when the run started (accepted or refused, and why)."""
        slots = sum(n.slots for n in self.nodes if n.accepted)
        self._jobs = min(jobs, slots) if jobs is not None and address != "local" else slots
        self._register_serializers()
        self._slot = ray.remote(_session_slot()).options(
            resources={KERNEL_RESOURCE: 1}, num_cpus=0, max_retries=0
        )
        self._lock = threading.Lock()
        self._items: dict[int, _Item] = {}
        self._queue: deque[int] = deque()
        self._running: dict[Any, int] = {}
        self._functions: dict[int, tuple[Callable[[Any], Any], Any]] = {}
        self._closed = False
        self.attempts: dict[int, int] = {}
        """How many times each key was launched (more than once after a crash)."""
        self.overheads_s: list[float] = []
        """Per finished item: time from launch to result minus the item's own run time."""

    # ------------------------------------------------------------------ set-up
    def _start_nodes(
        self,
        *,
        secrets: list[str],
        setup: Callable[[], object] | None,
        require_isolation: bool,
        sandbox_config: SandboxConfig | None,
        measure_memory: bool,
        timeout_s: float,
    ) -> list[NodeStatus]:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        from ace.executors._ray_actors import KernelSlotHolder, NodeActor, node_actor_name

        ray = self._ray
        nodes = [
            n
            for n in ray.nodes()
            if n.get("Alive") and n.get("Resources", {}).get(KERNEL_RESOURCE, 0) >= 1
        ]
        if not nodes:
            raise ConfigurationError(
                "no node of the Ray cluster offers kernel slots: start each node with "
                f"--resources '{{\"{KERNEL_RESOURCE}\": N}}' (N kernels at once), or use "
                "--ray local"
            )
        values = {name: os.environ[name] for name in secrets if name in os.environ}
        actor_class = ray.remote(NodeActor)
        handles = []
        for node in nodes:
            slots = int(node["Resources"][KERNEL_RESOURCE])
            handle = actor_class.options(
                name=node_actor_name(self._run_id, node["NodeID"]),
                num_cpus=0,
                max_concurrency=slots + 4,
                max_restarts=-1,
                max_task_retries=0,
                scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False),
            ).remote(
                self._run_id,
                slots,
                values,
                setup,
                require_isolation,
                sandbox_config,
                measure_memory,
            )
            self._actors.append(handle)
            handles.append((node, handle))
        statuses: list[NodeStatus] = []
        for node, handle in handles:
            try:
                statuses.append(ray.get(handle.status.remote(), timeout=timeout_s))
            except Exception as exc:
                raise ConfigurationError(
                    f"Ray node {node.get('NodeManagerAddress')}: the ace node actor did not "
                    f"start ({_last_line(exc)}); every node needs the "
                    "same ace-rr, bubblewrap and Python"
                ) from None
        self._accepted = [h for (_n, h), s in zip(handles, statuses, strict=True) if s.accepted]
        refused = [s for s in statuses if not s.accepted]
        if not self._accepted:
            reasons = "; ".join(f"{s.address}: {s.reason}" for s in refused)
            raise ConfigurationError(f"every Ray node was refused: {reasons}")
        holder_class = ray.remote(KernelSlotHolder)
        holders = []
        for status in refused:
            holder = holder_class.options(
                num_cpus=0,
                resources={KERNEL_RESOURCE: status.slots},
                scheduling_strategy=NodeAffinitySchedulingStrategy(status.node_id, soft=False),
            ).remote()
            self._actors.append(holder)
            holders.append(holder.ready.remote())
        ray.get(holders, timeout=timeout_s)
        return statuses

    def _register_serializers(self) -> None:
        from ace.executors._ray_shipping import register_serializers

        register_serializers()
        from ace.rr.run_ledger import RunLedger

        # Ray matches these by exact class: RayRunLedger pickles itself (its __reduce__).
        self._ray.util.register_serializer(
            RunLedger, serializer=_refuse_local_ledger, deserializer=_never_called
        )

    # ------------------------------------------------------------------ the contract
    @property
    def jobs(self) -> int:
        """How many items run at once: the accepted nodes' kernel slots (or fewer)."""
        return self._jobs

    @property
    def refused(self) -> list[NodeStatus]:
        """The nodes refused at start, with the reason."""
        return [n for n in self.nodes if not n.accepted]

    def submit(self, key: int, fn: Callable[[Any], Any], payload: Any) -> None:
        """Queue ``fn(payload)`` under ``key``; launched when a slot of ours is free."""
        from ace.executors._ray_shipping import ship

        with self._lock:
            if self._closed:
                raise UsageError("RayExecutor is closed; create a new one")
        fn_ref = self._function_ref(fn)
        payload_ref = self._ray.put(ship(payload, self._roots))
        with self._lock:
            self._items[key] = _Item(fn_ref, payload_ref)
            self._queue.append(key)
            self._launch()

    def next_completed(self, timeout: float | None = None) -> Completed | None:
        """The next finished item; a crashed one is launched again (``max_attempts``)."""
        from ray import cloudpickle
        from ray.exceptions import RayError

        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                self._launch()
                running = list(self._running)
            if not running:
                return None
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _ = self._ray.wait(running, num_returns=1, timeout=remaining)
            if not ready:
                return None
            ref = ready[0]
            with self._lock:
                key = self._running.pop(ref)
                item = self._items[key]
            try:
                data = self._ray.get(ref)
            except RayError as exc:
                with self._lock:
                    if item.attempts < self._max_attempts and not self._closed:
                        self._queue.appendleft(key)  # first in line: it waited longest
                        continue
                    del self._items[key]
                return Completed(key, error=_crash_error(exc, item.attempts))
            with self._lock:
                del self._items[key]
                elapsed = time.perf_counter() - item.launched
            _key, value, error, duration = cloudpickle.loads(data)
            with self._lock:
                self.overheads_s.append(max(0.0, elapsed - duration))
            return Completed(key, value, error, duration)

    def cancel(self) -> list[int]:
        """Drop the items not launched yet; their keys."""
        with self._lock:
            dropped = list(self._queue)
            self._queue.clear()
            for key in dropped:
                del self._items[key]
            return dropped

    def close(self, *, wait: bool = True) -> None:
        """Cancel the queue, let running items end (``wait``), stop this run's actors and,
        when this executor connected, disconnect. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self.cancel()
        if wait:
            with self._lock:
                running = list(self._running)
            if running:
                self._ray.wait(running, num_returns=len(running))
        self._release()

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close(wait=exc_type is None)

    # ------------------------------------------------------------------ the run's budget
    def share_budget(self, budget: RunLedger | None) -> RunLedger | None:
        """``budget`` as a ledger actor every node charges (limits and what it counted
        so far carried over); use the returned ledger from now on. None stays None."""
        from ace.executors._ray_ledger import RayRunLedger, start_ledger_actor

        if budget is None or isinstance(budget, RayRunLedger):
            return budget
        shared = start_ledger_actor(budget)
        self._actors.append(shared.handle)
        return shared

    def node_status(self) -> list[NodeStatus]:
        """The accepted nodes' status now: sessions run, peak memory."""
        statuses: list[NodeStatus] = self._ray.get([a.status.remote() for a in self._accepted])
        return statuses

    # ------------------------------------------------------------------ internals
    def _function_ref(self, fn: Callable[[Any], Any]) -> Any:
        """One object-store copy of each function (nodes rebuild it once and keep it)."""
        with self._lock:
            found = self._functions.get(id(fn))
        if found is not None and found[0] is fn:
            return found[1]
        try:
            ref = self._ray.put(fn)
        except Exception as exc:
            usage = _usage_cause(exc)
            if usage is not None:
                raise usage from None
            raise UsageError(
                f"RayExecutor: the work function cannot be sent to the nodes "
                f"({type(exc).__name__}: {first_line(exc)}); it and what it holds must "
                "be picklable"
            ) from exc
        with self._lock:
            self._functions[id(fn)] = (fn, ref)  # holds fn: its id stays unique
        return ref

    def _launch(self) -> None:
        """Start queued items while fewer than ``jobs`` run (caller holds the lock)."""
        while self._queue and len(self._running) < self._jobs:
            key = self._queue.popleft()
            item = self._items[key]
            item.attempts += 1
            item.launched = time.perf_counter()
            self.attempts[key] = item.attempts
            ref = self._slot.remote(
                self._run_id, [item.fn_ref], [item.payload_ref], key, item.attempts > 1
            )
            self._running[ref] = key

    def _release(self) -> None:
        accepted = getattr(self, "_accepted", [])
        if accepted:
            with contextlib.suppress(Exception):  # a dead node has nothing left to close
                self._ray.get([a.shutdown.remote() for a in accepted], timeout=30)
        for actor in self._actors:
            with contextlib.suppress(Exception):  # already gone
                self._ray.kill(actor)
        self._actors.clear()
        if self._owns_connection:
            self._ray.shutdown()


def _session_slot() -> Callable[..., bytes]:
    from ace.executors._ray_actors import session_slot

    return session_slot


def executor_for(
    ray: str | None,
    jobs: int = 1,
    *,
    max_attempts: int = 3,
    require_isolation: bool = False,
    shared_storage: Sequence[str | os.PathLike[str]] = (),
) -> Executor:
    """The CLI's executor: ``LocalExecutor(jobs)`` without ``--ray``, else a
    ``RayExecutor`` at that address (``--jobs`` gives ``--ray local`` its kernel slots;
    on a cluster every node's ``ace_kernel`` slots are used)."""
    if ray is None:
        from ace.executors._local import LocalExecutor

        return LocalExecutor(jobs)
    return RayExecutor(
        ray,
        jobs=jobs if ray == "local" else None,
        max_attempts=max_attempts,
        require_isolation=require_isolation,
        shared_storage=shared_storage,
    )


def share_budget(executor: Executor, budget: RunLedger | None) -> RunLedger | None:
    """``budget`` as the executor needs it: shared through a ledger actor on a Ray
    cluster, unchanged otherwise."""
    if isinstance(executor, RayExecutor):
        return executor.share_budget(budget)
    return budget
