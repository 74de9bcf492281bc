"""One turn's work on the kernel side: what the reply holds, running it, judging its FINAL.

``Cells`` extracts the code (or a direct JSON answer) from a main-model reply, runs it
in the kernel, records what came back on the transcript's ``Iteration``, and applies
the FINAL rules (``_final.decide``). It owns the host functions' state that lives for
one cell: the FINAL request, the sub-calls and the child sessions it started.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ace.rr import _prelude
from ace.rr._final import FinalCollector, decide
from ace.rr._prompts import join, kernel_note, note
from ace.rr._tracing import set_attributes, span
from ace.rr._variables import VariableTracker
from ace.rr.extract import extract

if TYPE_CHECKING:
    from ace.outputs import ReflectorOutput
    from ace.rr._recursion import ChildSessions
    from ace.rr.transcript import Iteration, SubCall
    from sandbox import ExecutionResult, Kernel


class Cells:
    """Runs the replies of one session in its kernel."""

    def __init__(self, *, timeout: float, progress: Callable[[str], None]) -> None:
        self.timeout = timeout
        """The per-cell limit the model is told about after a timeout."""
        self.progress = progress
        self.tasks = 1
        """Reflections a FINAL must hold (the tasks of a batch)."""
        self.final = FinalCollector()
        self.variables = VariableTracker()
        self.subcalls: list[SubCall] = []
        """Sub-calls of the running cell (the host functions append to it)."""
        self.children: ChildSessions | None = None
        """``rr_query``'s state, when the session may start children."""

    def handle(
        self, kernel: Kernel, iteration: Iteration, had_clean_cell: bool
    ) -> tuple[list[ReflectorOutput] | None, str | None]:
        """Run what the reply holds; return accepted reflections or a note for the model."""
        found = extract(iteration.reply)
        iteration.kind = found.kind
        if found.kind == "none":
            return None, note("no_code")
        if found.kind == "json":
            decision = decide(
                found.answer, cell_ok=True, had_clean_cell=had_clean_cell, tasks=self.tasks
            )
            iteration.final_accepted = decision.accepted is not None
            iteration.final_rejection = decision.rejection
            return decision.accepted, decision.rejection
        iteration.code = found.code
        result = self._execute(kernel, found.code, iteration)
        told = self._kernel_note(result)
        iteration.kernel_note = told
        if result.ok:
            self.variables.record(found.code, iteration.index)
        if not self.final.requested:
            return None, told
        value = self.final.value
        if self.final.var_name is not None and result.ok:
            value, problem = _fetch_variable(kernel, self.final.var_name)
            if problem:
                iteration.final_accepted, iteration.final_rejection = False, problem
                return None, join(told, problem)
        decision = decide(value, cell_ok=result.ok, had_clean_cell=had_clean_cell, tasks=self.tasks)
        iteration.final_accepted = decision.accepted is not None
        iteration.final_rejection = decision.rejection
        return decision.accepted, join(told, decision.rejection)

    def _execute(self, kernel: Kernel, code: str, iteration: Iteration) -> ExecutionResult:
        self.progress("kernel")
        self.final.reset()
        self.subcalls.clear()
        if self.children is not None:
            self.children.cell.clear()
        with span("rr kernel execution", **{"rr.code": code[:4000]}) as current:
            result = kernel.execute(code)
            set_attributes(
                current,
                **{
                    "rr.output": (result.stdout + result.stderr)[:4000],
                    "rr.error": str(result.error or ""),
                    "rr.timed_out": result.timed_out,
                },
            )
        iteration.stdout, iteration.stderr = result.stdout, result.stderr
        iteration.error = str(result.error) if result.error else None
        iteration.timed_out = result.timed_out
        iteration.duration_s = result.duration_s
        iteration.subcalls = list(self.subcalls)
        iteration.children = list(self.children.cell) if self.children is not None else []
        return result

    def _kernel_note(self, result: ExecutionResult) -> str | None:
        """After a timeout or a kernel death: tell the model what came back (the kernel
        has replayed the trace view, a host definition, into the new kernel)."""
        ours = _prelude.DEFINED_NAMES
        restored = [n for n in result.restored if n not in ours]
        lost = [n for n in result.lost if n not in ours]
        if result.restarted:
            self.variables.forget(lost)
        return kernel_note(result, self.timeout, restored, lost)


def repeated_cell(iteration: Iteration, earlier: list[Iteration]) -> Iteration | None:
    """The latest earlier iteration whose cell this one resends verbatim, if any."""
    code = iteration.code.strip()
    if not code:
        return None
    return next((p for p in reversed(earlier) if p.code.strip() == code), None)


def _fetch_variable(kernel: Kernel, name: str) -> tuple[Any, str | None]:
    from sandbox import FetchError

    try:
        return kernel.fetch(name), None
    except FetchError as exc:
        return None, note("final_var_unreadable", name=name, problem=exc)
