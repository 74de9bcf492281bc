"""Test helpers: scripted models behind litellm's provider interface, and a tripwire.

``ScriptedModel([...])`` / ``FunctionModel(fn)`` give a model string (``.name``) that runs
through the real litellm call path. Add ``pytest_plugins = ["ace.testing.pytest_plugin"]``
to a conftest to make any request to a real provider fail the test.
Importing this package does not import litellm.
"""

from __future__ import annotations

from ace.testing.models import (
    PROVIDER,
    Fail,
    FunctionModel,
    RecordedRequest,
    Reply,
    ScriptedModel,
    ScriptError,
    ScriptExhausted,
    ScriptItem,
)
from ace.testing.rr import code_reply, explore_then_final, final_code, reflection

__all__ = [
    "PROVIDER",
    "Fail",
    "FunctionModel",
    "RecordedRequest",
    "Reply",
    "ScriptError",
    "ScriptExhausted",
    "ScriptItem",
    "ScriptedModel",
    "code_reply",
    "explore_then_final",
    "final_code",
    "reflection",
]
