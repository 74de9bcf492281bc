"""Every error ACE raises, as one small tree.

::

    ACEError
    ├── UsageError                 the calling developer's mistake; fix the call or the config
    │   ├── ConfigurationError     an invalid setting (unknown model, impossible limit, ...)
    │   ├── PromptTemplateError    a template is missing or a variable was not supplied
    │   └── PipelineContractError  a pipeline is wired wrongly (alias: PipelineConfigError)
    │       └── PipelineOrderError a step requires a field only a later step provides
    ├── InputError                 bad data handed to us; the message names the file/line/index
    │   ├── TraceFormatError       a trace that no loader understands
    │   └── SkillbookFileError     a skillbook file that cannot be read (never overwritten)
    └── RunError                   something failed while running; usually worth reporting
        ├── LLMError               a model call failed after its retries
        │   ├── ModelValidationError    a model failed its setup check (also a ConnectionError)
        │   ├── StructuredOutputError   the reply never validated into the requested model
        │   └── NonRetryableError       retrying cannot help (e.g. a scripted model ran out)
        ├── BudgetExceededError    a call would pass a limit; carries what was spent and the limit
        ├── BranchError            parallel branches failed; carries every branch's error
        ├── MergeConflictError     branches set one field to different values; names both
        └── RunCancelled           a cancellation token stopped the sample (alias: PipelineCancelled)

``UsageError`` and ``InputError`` are also ``ValueError`` so generic callers can catch them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


class ACEError(Exception):
    """Root of every error raised by ACE."""


class UsageError(ACEError, ValueError):
    """The caller used the API wrongly: bad arguments or configuration."""


class ConfigurationError(UsageError):
    """An invalid setting, e.g. a cost limit with a model that cannot be priced."""


class PromptTemplateError(UsageError):
    """A prompt template is missing, or rendering referenced an undefined variable."""


class PipelineContractError(UsageError):
    """A pipeline is wired wrongly: a step lacks a contract, or needs a field nobody provides."""


PipelineConfigError = PipelineContractError
"""The established package's name for invalid pipeline wiring."""


class PipelineOrderError(PipelineContractError):
    """A step requires a field that only a later step provides (the established name)."""


class InputError(ACEError, ValueError):
    """Input data is malformed; the message names where and what was expected."""


class TraceFormatError(InputError):
    """A trace could not be parsed into the normalised schema."""


class SkillbookFileError(InputError):
    """A skillbook file is unreadable or corrupt. Saving over it is refused unless asked."""


class RunError(ACEError):
    """A failure during a run (model, budget, kernel), as opposed to a caller mistake."""


class LLMError(RunError):
    """A model call failed after the retries it was allowed."""

    def __init__(self, message: str, *, model: str | None = None, attempts: int = 0) -> None:
        super().__init__(message)
        self.model = model
        self.attempts = attempts


class ModelValidationError(LLMError, ConnectionError):
    """A model failed its check call (``from_config(validate=True)``); also a ConnectionError
    as in the established package."""


class StructuredOutputError(LLMError):
    """The model's reply never validated into the requested schema."""

    def __init__(
        self,
        message: str,
        *,
        model: str | None = None,
        attempts: int = 0,
        last_text: str | None = None,
    ) -> None:
        super().__init__(message, model=model, attempts=attempts)
        self.last_text = last_text


class NonRetryableError(LLMError):
    """A failure that retrying cannot fix; retry loops must re-raise it at once."""


class BudgetExceededError(RunError):
    """A call was refused because it would pass a budget limit."""

    def __init__(self, message: str, *, resource: str, spent: Any, limit: Any) -> None:
        super().__init__(message)
        self.resource = resource
        self.spent = spent
        self.limit = limit


class BranchError(RunError):
    """One or more parallel branches failed; ``failures`` maps each failed branch to its error.

    ``paths`` gives, per failed branch, the steps leading to the failure (outermost first).
    As in the established package it can also be built from a list of exceptions alone,
    ``BranchError([e1, e2])``; the branches are then named ``"0"``, ``"1"``, ...
    """

    def __init__(
        self,
        message: str | Sequence[BaseException] | None = None,
        *,
        failures: Mapping[str, BaseException] | Sequence[BaseException] | None = None,
        paths: Mapping[str, tuple[str, ...]] | None = None,
    ) -> None:
        if message is not None and not isinstance(message, str):
            failures, message = message, None
        if failures is None:
            failures = {}
        if not isinstance(failures, Mapping):
            failures = {str(i): exc for i, exc in enumerate(failures)}
        if message is None:
            kinds = "; ".join(type(e).__name__ for e in failures.values())
            message = f"{len(failures)} branch(es) failed" + (f": {kinds}" if kinds else "")
        super().__init__(message)
        self.failures: dict[str, BaseException] = dict(failures)
        self.paths = dict(paths or {})

    @property
    def errors(self) -> list[BaseException]:
        """The failed branches' exceptions, in branch order."""
        return list(self.failures.values())


class MergeConflictError(RunError):
    """Parallel branches set the same context field to different values."""

    def __init__(self, message: str, *, field: str, branches: tuple[str, ...]) -> None:
        super().__init__(message)
        self.field = field
        self.branches = branches


class RunCancelled(RunError):
    """A pipeline's cancellation token was set before this sample's next step started."""

    def __init__(self, message: str = "cancelled", *, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason


PipelineCancelled = RunCancelled
"""The established package's name for a sample stopped by cancellation."""
