"""Last host-side step before the kernel: join the cgroups, set rlimits, exec the walls.

Run as a script (``python -I -S _launcher.py SPEC_JSON``) so that it imports only the
standard library and starts in a few milliseconds. Applying the limits here, in the process
that becomes bwrap (or unshare) and then the kernel, means every process of the sandbox
inherits them and nothing of the sandbox ever runs unlimited: no ``preexec_fn`` (not
thread-safe in the host) and no race between starting the kernel and limiting it.

SPEC_JSON: {"cgroups": [path, ...], "rlimits": {"RLIMIT_AS": [soft, hard], ...},
"argv": [...]}; -1 means unlimited.
"""

from __future__ import annotations

import json
import os
import resource
import sys


def apply_and_exec(spec: dict[str, object]) -> None:
    """Join the cgroups, lower the rlimits, then replace this process with spec["argv"]."""
    cgroups = spec.get("cgroups", [])
    assert isinstance(cgroups, list)
    for cgroup in cgroups:
        with open(os.path.join(cgroup, "cgroup.procs"), "w") as procs:
            procs.write("0")
    rlimits = spec.get("rlimits", {})
    assert isinstance(rlimits, dict)
    for name, (soft, hard) in rlimits.items():
        resource.setrlimit(getattr(resource, name), (int(soft), int(hard)))
    argv = spec["argv"]
    assert isinstance(argv, list)
    os.execv(argv[0], argv)


if __name__ == "__main__":
    apply_and_exec(json.loads(sys.argv[1]))
