"""``Branch``: run several pipelines on the same context in parallel, then merge their outputs.

Each branch starts from the same (immutable) context. What a branch *changed* is the
set of fields whose value is not the very object it received, plus the metadata keys
it added or replaced; the merge strategy decides what happens when two branches
changed the same field. If any branch fails, the Branch fails with a ``BranchError``
that carries every failed branch's error, not only the first.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, ThreadPoolExecutor
from enum import Enum
from types import MappingProxyType
from typing import Any, TypeVar, cast

from ace.errors import BranchError, MergeConflictError, PipelineContractError, RunCancelled
from ace.pipeline._contracts import check_initial, step_name
from ace.pipeline._engine import NEVER_CANCELLED, Fork, StepFailure, Walk, drive, is_composite
from ace.pipeline.cancel import CancellationToken
from ace.pipeline.context import StepContext
from ace.pipeline.pipeline import Pipeline
from ace.pipeline.protocol import StepProtocol

NAMESPACE_KEY = "branches"
"""The metadata key under which ``MergeStrategy.NAMESPACED`` stores each branch's changes."""

MergeFunction = Callable[[Any, Mapping[str, Any]], Any]
"""A custom merge: ``fn(input_context, {branch name: output context})`` -> merged context."""

C = TypeVar("C", bound=StepContext)
_Key = tuple[str, str]  # ("field", name) or ("metadata", key)


class MergeStrategy(Enum):
    """How a ``Branch`` combines its branches' outputs."""

    RAISE_ON_CONFLICT = "raise_on_conflict"
    """Fields changed by several branches must agree, else ``MergeConflictError`` (default)."""
    LAST_WRITE_WINS = "last_write_wins"
    """A field changed by several branches takes the value of the last of them."""
    LAST = "last_write_wins"
    """Another name for ``LAST_WRITE_WINS`` (used in the established documentation)."""
    NAMESPACED = "namespaced"
    """Fields changed by one branch are merged; every branch's changes are also kept under
    ``metadata["branches"][branch name]``, and fields several branches may set are read
    from there only (so ``provides`` lists just the fields one branch provides)."""


class Branch:
    """Runs ``branches`` (pipelines or single steps) in parallel and merges the results.

    A step itself (``requires``/``provides`` are the unions over branches; see
    ``MergeStrategy.NAMESPACED`` for its ``provides``), so it nests in a ``Pipeline``.
    Under ``Pipeline.run`` branches run on this Branch's thread pool (``max_workers``,
    default Python's); under ``run_async`` they are gathered on the event loop.
    ``merge`` is a ``MergeStrategy`` or a ``MergeFunction``. Branches may also be given
    as a list, ``Branch([a, b], merge=...)``: every list or tuple argument contributes
    its elements as branches (give a multi-step branch as a ``Pipeline``).
    """

    _ace_composite = True

    def __init__(
        self,
        *given: StepProtocol[Any] | list[StepProtocol[Any]] | tuple[StepProtocol[Any], ...],
        merge: MergeStrategy | MergeFunction = MergeStrategy.RAISE_ON_CONFLICT,
        name: str | None = None,
        max_workers: int | None = None,
    ) -> None:
        self.name = name or "Branch"
        branches: tuple[StepProtocol[Any], ...] = tuple(
            item for arg in given for item in (arg if isinstance(arg, list | tuple) else (arg,))
        )
        if not branches:
            raise PipelineContractError(f"branch {self.name!r} has no branches")
        if not isinstance(merge, MergeStrategy) and not callable(merge):
            raise PipelineContractError(
                f"branch {self.name!r}: merge must be a MergeStrategy or a function, got {merge!r}"
            )
        self.merge = merge
        self._branches = tuple(_as_pipeline(b) for b in branches)
        self.names = _unique_names(branches)
        self._max_workers = max_workers
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self._needed: dict[str, str] = {}
        for label, pipe in zip(self.names, self._branches, strict=True):
            for field in sorted(pipe.requires):
                self._needed.setdefault(field, label)
        self.requires: frozenset[str] = frozenset(self._needed)
        self.provides: frozenset[str] = _provides(self._branches, merge)

    def __repr__(self) -> str:
        return f"Branch(name={self.name!r}, branches={list(self.names)}, merge={self.merge!r})"

    @property
    def branches(self) -> tuple[Pipeline, ...]:
        """The branches, each as a pipeline (a single step is wrapped in one)."""
        return self._branches

    def __call__(self, ctx: C) -> C:
        """Run the branches and merge; re-raise the ``BranchError`` or conflict."""
        check_initial(ctx, self._needed, f"branch {self.name!r}", "the context")
        try:
            return cast(C, drive(self.walk(ctx, NEVER_CANCELLED)))
        except StepFailure as failure:
            cause = failure.cause
        raise cause

    def walk(self, ctx: StepContext, token: CancellationToken) -> Walk:
        """The engine's walk: fork into the branches, then merge (see ``_engine``)."""
        outcomes = yield Fork(self._branches, ctx, token, self._executor())
        failures = {
            label: outcome
            for label, outcome in zip(self.names, outcomes, strict=True)
            if isinstance(outcome, StepFailure)
        }
        if failures:
            raise _branch_error(self.name, len(self.names), failures)
        return self._merge(ctx, dict(zip(self.names, outcomes, strict=True)))

    def _executor(self) -> Executor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    self._max_workers, thread_name_prefix=f"ace-branch-{self.name}"
                )
            return self._pool

    def _merge(self, base: StepContext, outputs: dict[str, StepContext]) -> StepContext:
        if not isinstance(self.merge, MergeStrategy):
            merged = self.merge(base, MappingProxyType(outputs))
            if not isinstance(merged, StepContext):
                raise PipelineContractError(
                    f"branch {self.name!r}: the merge function returned "
                    f"{type(merged).__name__}, not a context"
                )
            return merged
        changes = {label: _changes(base, out) for label, out in outputs.items()}
        writers: dict[_Key, list[str]] = {}
        for label, changed in changes.items():
            for key in changed:
                writers.setdefault(key, []).append(label)
        fields: dict[str, Any] = {}
        metadata = dict(base.metadata)
        for key, labels in writers.items():
            values = [changes[label][key] for label in labels]
            if self.merge is MergeStrategy.RAISE_ON_CONFLICT and not _all_same(values):
                raise _conflict(self.name, key, labels, values)
            if self.merge is MergeStrategy.NAMESPACED and len(labels) > 1:
                continue
            target = fields if key[0] == "field" else metadata
            target[key[1]] = values[-1]
        if self.merge is MergeStrategy.NAMESPACED:
            spaces = dict(metadata.get(NAMESPACE_KEY) or {})
            for label, changed in changes.items():
                spaces[label] = MappingProxyType({_label(k): v for k, v in changed.items()})
            metadata[NAMESPACE_KEY] = MappingProxyType(spaces)
        return base.replace(**fields, metadata=metadata)


def _as_pipeline(step: StepProtocol[Any]) -> Pipeline:
    if isinstance(step, Pipeline):
        return step
    return Pipeline([step], name=step_name(step) if not is_composite(step) else None)


def _unique_names(branches: tuple[StepProtocol[Any], ...]) -> tuple[str, ...]:
    names: list[str] = []
    for step in branches:
        base = step_name(step)
        name, n = base, 1
        while name in names:
            n += 1
            name = f"{base}#{n}"
        names.append(name)
    return tuple(names)


def _provides(
    branches: tuple[Pipeline, ...], merge: MergeStrategy | MergeFunction
) -> frozenset[str]:
    union: frozenset[str] = frozenset().union(*(b.provides for b in branches))
    if merge is not MergeStrategy.NAMESPACED:
        return union
    return frozenset(f for f in union if sum(f in b.provides for b in branches) == 1)


def _changes(base: StepContext, out: StepContext) -> dict[_Key, Any]:
    changed: dict[_Key, Any] = {
        ("field", name): getattr(out, name)
        for name in out.field_names()
        if name != "metadata" and getattr(out, name) is not getattr(base, name, None)
    }
    for key, value in out.metadata.items():
        if key not in base.metadata or base.metadata[key] is not value:
            changed[("metadata", key)] = value
    return changed


def _all_same(values: list[Any]) -> bool:
    first = values[0]
    for value in values[1:]:
        if value is first:
            continue
        try:
            if not bool(value == first):
                return False
        except Exception:  # e.g. arrays whose == is elementwise
            return False
    return True


def _label(key: _Key) -> str:
    return key[1] if key[0] == "field" else f"metadata[{key[1]!r}]"


def _conflict(branch: str, key: _Key, labels: list[str], values: list[Any]) -> MergeConflictError:
    shown = ", ".join(
        f"{label!r} -> {value!r:.60}" for label, value in zip(labels, values, strict=True)
    )
    return MergeConflictError(
        f"branch {branch!r}: branches {', '.join(map(repr, labels))} set {_label(key)!r} to "
        f"different values ({shown}); use merge=MergeStrategy.LAST_WRITE_WINS or NAMESPACED, "
        "or pass a merge function",
        field=_label(key),
        branches=tuple(labels),
    )


def _branch_error(name: str, total: int, failures: dict[str, StepFailure]) -> Exception:
    causes = {label: f.cause for label, f in failures.items()}
    if all(isinstance(c, RunCancelled) for c in causes.values()):
        return next(iter(causes.values()))
    detail = "; ".join(
        f"{label!r} at {' > '.join(f.path)}: {type(f.cause).__name__}: {f.cause}"
        for label, f in failures.items()
    )
    return BranchError(
        f"branch {name!r}: {len(failures)} of {total} branches failed: {detail}",
        failures=causes,
        paths={label: f.path for label, f in failures.items()},
    )
