"""Errors of the local-model feature, placed in ACE's error tree (see ``ace.errors``).

::

    ConfigurationError
    └── LocalModelNotInstalled   the llama.cpp extra or the model file is missing
    RunError
    └── LocalModelError          pulling or serving a local model failed
        ├── ModelIntegrityError  the assembled file is not the pinned model (it was deleted)
        └── LocalServerError     the llama.cpp server did not start or died
"""

from __future__ import annotations

from ace.errors import ConfigurationError, RunError


class LocalModelNotInstalled(ConfigurationError):
    """``--model local`` was asked for, but the extra or the model file is missing.

    The message is one line naming the command that installs what is missing.
    """


class LocalModelError(RunError):
    """Pulling or serving a local model failed."""


class ModelIntegrityError(LocalModelError):
    """The downloaded parts did not assemble into the pinned file; nothing was kept."""

    def __init__(self, message: str, *, expected: str, actual: str) -> None:
        super().__init__(message)
        self.expected = expected
        self.actual = actual


class LocalServerError(LocalModelError):
    """The llama.cpp server could not be started, or stopped answering."""
