"""Errors of the local-model feature, placed in ACE's error tree (see ``ace.errors``).

::

    ConfigurationError
    └── LocalModelNotInstalled   the llama.cpp extra or the model file is missing
    RunError
    └── LocalModelError          pulling, building or serving a local model failed
        ├── ModelIntegrityError  the assembled file is not the pinned model (it was deleted)
        └── LocalServerError     the llama.cpp server did not start or died (also an LLMError)
            └── LocalLibraryError   the installed llama.cpp does not run on this CPU
"""

from __future__ import annotations

from ace.errors import ConfigurationError, LLMError, RunError


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


class LocalServerError(LocalModelError, LLMError):
    """The llama.cpp server could not be started, or died; the message names how (exit
    status or signal, when) and quotes its log.

    Also an ``LLMError``: to a caller the model call failed, and code that handles failed
    model calls (the RR session, the pipeline) handles this one without knowing about it.
    """


class LocalLibraryError(LocalServerError):
    """The installed llama.cpp crashed (or hung) in a one-token test completion: it was
    built for CPU features this machine lacks. The message gives the rebuild command."""
