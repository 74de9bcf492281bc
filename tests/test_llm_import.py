"""Importing ace, ace.llm and ace.testing must not import litellm (it costs seconds)."""

from __future__ import annotations

import inspect
import subprocess
import sys

import ace.llm
import ace.testing


def test_import_does_not_load_litellm_or_logfire() -> None:
    code = (
        "import sys, ace, ace.llm, ace.testing, ace.testing.pytest_plugin; "
        "loaded = [m for m in ('litellm', 'logfire') if m in sys.modules]; "
        "assert not loaded, loaded"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_public_names_are_exported_and_documented() -> None:
    for package in (ace.llm, ace.testing):
        for name in package.__all__:
            value = getattr(package, name)
            if isinstance(value, type) or inspect.isfunction(value):
                assert value.__doc__, f"{package.__name__}.{name} has no docstring"
