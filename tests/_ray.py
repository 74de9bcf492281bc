"""A Ray cluster for the tests: a head and one worker node, on loopback, once per session.

Both nodes are processes of this machine (``ray.cluster_utils.Cluster``), bound to
127.0.0.1, one CPU and ~200 MB of object store each, dashboard off, usage stats off,
their files in a short temporary folder. Each offers two kernel slots (the
``ace_kernel`` resource). The worker node finds a ``bwrap`` on its PATH that always
fails: its sandboxes fall back to the weaker ``unshare`` walls, which is what a machine
without bubblewrap looks like, so ``require_isolation`` has a node to refuse.

The node processes get ``PYTHONPATH`` with the project and ``tests/`` (for
``_ray_models``). ``ray_cluster`` is the session fixture; under ``CI=true`` a missing
``ray`` fails instead of skipping (see ``conftest.py``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import skip_missing_system_package

# Before Ray is imported (it reads them once): Ray replaces a loopback node address by
# the machine's outward one unless clusters are "unsupported" (its macOS behaviour); with
# this, every node and the driver stay on 127.0.0.1. No usage statistics are sent.
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
SLOTS = 2


@dataclass
class RayTestCluster:
    """The session's cluster: its GCS ``address`` and the two node objects."""

    cluster: Any
    address: str
    head: Any
    worker: Any
    root: Path


def require_ray() -> Any:
    """The ray module, or a skip (a failure under CI=true) naming the extra."""
    try:
        import ray
    except ImportError:
        skip_missing_system_package("ray", "pip install 'ace-rr[ray]'; make test installs it")
    return ray


def start_cluster(slots: int = SLOTS, *, weak_worker: bool = True) -> RayTestCluster:
    """Start a head and a worker node on loopback (stop with ``stop_cluster``)."""
    require_ray()
    from ray.cluster_utils import Cluster

    root = Path(tempfile.mkdtemp(prefix="acer-", dir="/tmp"))
    shim = root / "bin"
    shim.mkdir()
    fake = shim / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: disabled on this test node' >&2\nexit 1\n")
    fake.chmod(0o755)
    python_path = os.pathsep.join(
        [str(ROOT), str(TESTS), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    common: dict[str, Any] = {
        "node_ip_address": "127.0.0.1",
        "num_cpus": 1,
        "object_store_memory": 200 * 1024 * 1024,
        "resources": {"ace_kernel": slots},
    }
    env = {"PYTHONPATH": python_path, "RAY_USAGE_STATS_ENABLED": "0"}
    # Ray writes the address of "the current cluster" under its default temp folder:
    # ours, so no other Ray user of this machine is pointed at the test cluster.
    os.environ["RAY_TMPDIR"] = str(root)
    cluster = Cluster(
        initialize_head=True,
        head_node_args={
            **common,
            "include_dashboard": False,
            "env_vars": env,
        },
    )
    worker_env = dict(env)
    if weak_worker:
        worker_env["PATH"] = f"{shim}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}"
    worker = cluster.add_node(**common, env_vars=worker_env)
    cluster.wait_for_nodes()
    return RayTestCluster(cluster, cluster.address, cluster.head_node, worker, root)


def stop_cluster(running: RayTestCluster) -> None:
    """Stop both nodes (their processes only) and remove the folder."""
    running.cluster.shutdown()
    shutil.rmtree(running.root, ignore_errors=True)


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[RayTestCluster]:
    """The session's two-node loopback cluster."""
    running = start_cluster()
    try:
        yield running
    finally:
        stop_cluster(running)
