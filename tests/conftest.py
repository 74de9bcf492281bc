"""Shared test configuration.

Under ``CI=true`` a test skipped because a system package is missing counts as a
failure: CI installs every system package the suite needs, so such a skip means
the set-up is broken, not that the test may be ignored.
"""

from __future__ import annotations

import os

import pytest

pytest_plugins = ["ace.testing.pytest_plugin"]

MISSING_SYSTEM_PACKAGE = "missing system package"


def skip_missing_system_package(package: str, why: str = "") -> None:
    """Skip the current test because a Debian package is absent (a failure under CI=true)."""
    pytest.skip(f"{MISSING_SYSTEM_PACKAGE}: {package}" + (f" ({why})" if why else ""))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") == "true" and report.skipped and call.excinfo is not None:
        reason = str(call.excinfo.value)
        if MISSING_SYSTEM_PACKAGE in reason:
            report.outcome = "failed"
            report.longrepr = f"CI=true: {reason} (make test installs it; the set-up is broken)"
