"""``SampleResult``: what a pipeline run did with one input context."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from ace.errors import BranchError, RunCancelled
from ace.pipeline.context import StepContext

C = TypeVar("C", bound=StepContext)


@dataclass
class SampleResult(Generic[C]):
    """What happened to one input context.

    On success ``context`` is the final context; on failure it is the context the
    failing step received, ``error`` is the exception and ``failed_at`` the step's
    name (``failed_path`` adds the enclosing nested pipelines and branches, outermost
    first). A sample stopped by cancellation has a ``RunCancelled`` error and
    ``failed_at`` names the step that did not start. While ``pending`` is True the
    background tail has not finished and the fields may still change; after
    ``wait_for_background()`` returns True they are final.
    """

    sample: Any
    context: C
    error: Exception | None = None
    failed_at: str | None = None
    failed_path: tuple[str, ...] = ()
    index: int = 0
    """Position of the context in the input of ``run``."""
    pending: bool = False

    @property
    def ok(self) -> bool:
        """True when every step, including a finished background tail, succeeded."""
        return self.error is None and not self.pending

    @property
    def output(self) -> C | None:
        """The final context when the sample succeeded (tail included), else None.

        The established package's name; ``context`` is always set, also on failure.
        """
        return self.context if self.ok else None

    @property
    def cause(self) -> BaseException | None:
        """The exception at the root of a failure: for a ``BranchError`` the first failed
        branch's error, otherwise ``error`` itself; None when nothing failed."""
        if isinstance(self.error, BranchError) and self.error.failures:
            return next(iter(self.error.failures.values()))
        return self.error

    @property
    def cancelled(self) -> bool:
        """True when a cancellation (or closing the pipeline) stopped this sample."""
        return isinstance(self.error, RunCancelled)
