"""pytest plugin: no test reaches a real model provider or a non-loopback address.

Enable with ``pytest_plugins = ["ace.testing.pytest_plugin"]`` in the root conftest.
A refused request raises at once (``ModelRequestBlocked`` / ``NetworkBlockedError``) and
the test fails even if the code under test swallowed that error. Mark a test
``@pytest.mark.allow_model_requests`` to let it through (e.g. a deliberate live check).
The ``tripwire`` fixture gives tests of the tripwire itself ``tripwire.expect_block()``.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator

import pytest

from ace.testing._tripwire import Tripwire

_tripwire = Tripwire()


def pytest_configure(config: pytest.Config) -> None:
    """Install the tripwire for the whole session (before any test module is imported)."""
    config.addinivalue_line(
        "markers", "allow_model_requests: this test may call real model providers and the network"
    )
    # litellm silences this pydantic warning with a process-wide filter at import; pytest
    # resets filters around each test, so a test that first builds one of litellm's
    # response classes would see it (and fail under filterwarnings=error).
    config.addinivalue_line("filterwarnings", "ignore:.*`ReadOnly` qualifier.*")
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    _tripwire.install()


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove the tripwire."""
    _tripwire.uninstall()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    """Fail a test that triggered the tripwire, even if it caught the error."""
    _tripwire.guard_litellm_if_imported()
    allowed = item.get_closest_marker("allow_model_requests") is not None
    _tripwire.enabled = not allowed
    del _tripwire.violations[:]
    try:
        return (yield)
    finally:
        _tripwire.enabled = True
        violations = list(_tripwire.violations)
        del _tripwire.violations[:]
        if violations:
            pytest.fail("\n".join(violations), pytrace=False)


@pytest.fixture
def tripwire() -> Iterator[Tripwire]:
    """The session's tripwire, for tests that check it fires."""
    yield _tripwire
