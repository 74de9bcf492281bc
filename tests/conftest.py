"""Shared test configuration.

Under ``CI=true`` a test skipped because a system package or a kernel capability
is missing counts as a failure: CI installs every system package the suite needs
and runs where the sandbox's walls all hold (as the pids cgroup tests already
require everywhere), so such a skip means the set-up is broken, not that the test
may be ignored.
"""

from __future__ import annotations

import os

import pytest

# _postgres: the session's PostgreSQL cluster (`postgres_cluster`, `postgres_url`) for the
# service-store tests; _ray: the session's two-node loopback Ray cluster (`ray_cluster`).
pytest_plugins = ["ace.testing.pytest_plugin", "_postgres", "_ray"]

MISSING_SYSTEM_PACKAGE = "missing system package"
MISSING_CAPABILITY = "missing kernel capability"


def skip_missing_system_package(package: str, why: str = "") -> None:
    """Skip the current test because a Debian package is absent (a failure under CI=true)."""
    pytest.skip(f"{MISSING_SYSTEM_PACKAGE}: {package}" + (f" ({why})" if why else ""))


def skip_missing_capability(capability: str, why: str = "") -> None:
    """Skip the current test because this machine's kernel or its set-up lacks `capability`
    (e.g. a writable memory cgroup); a failure under CI=true."""
    pytest.skip(f"{MISSING_CAPABILITY}: {capability}" + (f" ({why})" if why else ""))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") == "true" and report.skipped and call.excinfo is not None:
        reason = str(call.excinfo.value)
        if MISSING_SYSTEM_PACKAGE in reason:
            report.outcome = "failed"
            report.longrepr = f"CI=true: {reason} (make test installs it; the set-up is broken)"
        elif MISSING_CAPABILITY in reason:
            report.outcome = "failed"
            report.longrepr = f"CI=true: {reason} (CI must run where every wall holds)"
