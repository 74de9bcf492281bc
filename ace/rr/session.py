"""One Recursive Reflector session: the loop of prompt → model → code → kernel → feedback.

A session owns one kernel (any ``sandbox.Kernel``; the ``Sandbox`` by default) holding
the trace as data, talks to the main model through a ledger-charged client, and ends
with a validated ``ReflectorOutput``: from ``FINAL``/``FINAL_VAR``, a direct JSON answer,
a fallback synthesis, or a timeout reflection. Model and kernel failures never escape
``run``; they end up in the result. What a turn does in the kernel is in ``_cells``; the
texts the model reads are rendered by ``_prompts``; the endings without a FINAL are in
``_endings``; ``rr_query`` is in ``_recursion``.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from ace.errors import BudgetExceededError, LLMError
from ace.outputs import ReflectorOutput
from ace.rr import _prelude
from ace.rr._cells import Cells, repeated_cell
from ace.rr._conversation import Conversation
from ace.rr._endings import Endings, failure_reflection, record_cause
from ace.rr._final import share_across
from ace.rr._inputs import SkillbookInfo, TaskInfo
from ace.rr._prompts import (
    SessionPrompts,
    agents_of,
    digest,
    join,
    reason,
    repeat_note,
)
from ace.rr._recursion import ChildSessions
from ace.rr._subcalls import SubCaller
from ace.rr._tracing import set_attributes, span
from ace.rr.config import RRConfig
from ace.rr.ledger import Ledger
from ace.rr.transcript import Iteration, Transcript

if TYPE_CHECKING:
    from pathlib import Path

    from ace.llm import LLMClient, LLMResponse
    from ace.traces import Trace
    from sandbox import Kernel


@dataclass(frozen=True)
class ProgressEvent:
    """Where a session is, for live displays."""

    iteration: int
    max_iterations: int
    calls_used: int
    max_calls: int
    elapsed_s: float
    phase: str
    """``starting``, ``model``, ``kernel``, ``synthesis`` or ``done``."""


@dataclass(frozen=True)
class RRResult:
    """A finished session: the reflection(s) and the full transcript."""

    reflections: list[ReflectorOutput]
    """One per task, in order (a single analysis has one)."""
    transcript: Transcript

    @property
    def reflection(self) -> ReflectorOutput:
        """The first task's reflection (the only one for a single analysis)."""
        return self.reflections[0]


class RRSession:
    """Runs one analysis; create one per trace (or batch)."""

    def __init__(
        self,
        *,
        main: LLMClient,
        sub: LLMClient,
        synthesis: LLMClient,
        config: RRConfig,
        ledger: Ledger,
        kernel_factory: Callable[[], Kernel],
        prompt_template: str | Path | None = None,
        on_progress: Callable[[ProgressEvent], None] | None = None,
        depth: int = 0,
        spawn_child: Callable[[Ledger, int], RRSession] | None = None,
        main_temperature: float | None = None,
        main_max_tokens: int | None = None,
    ) -> None:
        self.main, self.sub = main, sub
        self.main_temperature = config.temperature if main_temperature is None else main_temperature
        """Temperature of main turns and the synthesis (``RRStep`` model_settings, else config)."""
        self.main_max_tokens = (
            config.main_max_tokens if main_max_tokens is None else main_max_tokens
        )
        """Completion cap of main turns and the synthesis (model_settings, else config)."""
        self.depth = depth
        self.spawn_child = spawn_child
        self.config = config
        self.ledger = ledger
        self.kernel_factory = kernel_factory
        self.on_progress = on_progress
        self.marker = f"<<<DATA-{secrets.token_hex(8)}>>>"
        self.prompts = SessionPrompts(config, self.marker, prompt_template)
        self.cells = Cells(timeout=config.timeout, progress=self._progress)
        self.conversation = Conversation(max_chars=config.max_context_chars)
        self.endings = Endings(
            client=synthesis,
            conversation=self.conversation,
            prompts=self.prompts,
            enabled=config.enable_fallback_synthesis,
            max_tokens=self.main_max_tokens,
            temperature=self.main_temperature,
            progress=self._progress,
        )
        self.kernel_start_s = 0.0
        """How long starting this session's kernel took."""
        self._tasks = 1
        self._scope: tuple[str, int] | None = None
        """The agents and step count of a single trace, named in the synthesis request."""
        self._started = time.monotonic()
        self._iteration = 0

    # ------------------------------------------------------------------ entry point
    def run(
        self,
        traces: list[Trace],
        tasks: list[TaskInfo],
        skillbook: SkillbookInfo,
        *,
        batch: bool = False,
    ) -> RRResult:
        """Analyse ``traces`` (one, or a batch); always returns a result, errors included."""
        if len(traces) != len(tasks) or not traces or (len(traces) > 1 and not batch):
            raise ValueError(
                "RRSession.run: one TaskInfo per trace; several traces need batch=True"
            )
        self._tasks = self.cells.tasks = len(traces)
        transcript = Transcript(
            session_id=uuid.uuid4().hex,
            model=self.main.model,
            subagent_model=self.sub.model if self.config.enable_subagent else None,
            config=self.config.model_dump(),
            trace_id=traces[0].id,
            task_ids=[t.id for t in traces],
            depth=self.depth,
        )
        attrs = {
            "rr.trace_id": traces[0].id,
            "rr.model": self.main.model,
            "rr.tasks": len(traces),
            "rr.depth": self.depth,
        }
        with span("rr session {rr.trace_id}", **attrs) as current:
            try:
                reflections = self._run(traces, tasks, skillbook, transcript, batch)
            except KeyboardInterrupt as interrupt:
                # Ctrl-C (or SIGTERM turned into it) stops the session, but what exists is
                # kept: the transcript so far travels with the interrupt to the caller.
                transcript.outcome = "interrupted"
                transcript.notes.append(f"interrupted at iteration {self._iteration}")
                self._close_transcript(transcript)
                interrupt.transcript = transcript  # type: ignore[attr-defined]
                raise
            except Exception as exc:  # the one rule: a run never raises, it names the cause
                transcript.outcome = "error"
                transcript.notes.append(f"the session failed: {type(exc).__name__}: {exc}")
                record_cause(transcript, exc)
                why = reason("session_failed", error_type=type(exc).__name__, error=exc)
                reflections = self._shared(failure_reflection(why))
            set_attributes(
                current, **{"rr.outcome": transcript.outcome, "rr.calls": self.ledger.calls_used}
            )
        self._close_transcript(transcript)
        transcript.final = (
            reflections[0].model_dump(exclude={"raw"})
            if len(reflections) == 1
            else {"tasks": [r.model_dump(exclude={"raw"}) for r in reflections]}
        )
        summary = transcript.summary()
        for reflection in reflections:
            reflection.raw["rr_trace"] = summary
            reflection.raw["usage"] = transcript.usage
        self._progress("done")
        return RRResult(reflections=reflections, transcript=transcript)

    def _close_transcript(self, transcript: Transcript) -> None:
        transcript.messages = list(self.conversation.log)
        transcript.usage = self.ledger.snapshot()
        transcript.duration_s = time.monotonic() - self._started
        transcript.finished_at = datetime.now(UTC).isoformat()

    def _run(
        self,
        traces: list[Trace],
        tasks: list[TaskInfo],
        skillbook: SkillbookInfo,
        transcript: Transcript,
        batch: bool,
    ) -> list[ReflectorOutput]:
        self._progress("starting")
        kernel_started = time.monotonic()
        try:
            kernel = self.kernel_factory()
            kernel.start()
        except Exception as exc:
            transcript.outcome = "error"
            transcript.notes.append(f"sandbox failed to start: {exc}")
            record_cause(transcript, exc)
            why = reason("no_sandbox", error_type=type(exc).__name__, error=exc)
            return self._shared(failure_reflection(why))
        finally:
            self.kernel_start_s = time.monotonic() - kernel_started
        try:
            transcript.isolation = _isolation(kernel)
            data: Any = (
                [t.model_dump(mode="json") for t in traces]
                if batch
                else traces[0].model_dump(mode="json")
            )
            try:
                problem = self._prepare_kernel(kernel, data, skillbook)
            except Exception as exc:
                problem = reason("not_prepared", error_type=type(exc).__name__, error=exc)
                record_cause(transcript, exc)
            if problem:
                transcript.outcome = "error"
                transcript.notes.append(problem)
                return self._shared(failure_reflection(problem))
            if batch:
                task_prompt = self.prompts.batch(traces, tasks, skillbook)
            else:
                agents = agents_of(traces[0])
                steps = len(traces[0].steps)
                self._scope = (", ".join(agents), steps) if agents and steps else None
                task_prompt = self.prompts.task(traces[0], tasks[0], skillbook, agents)
            self.conversation.start(self._system_prompt(), task_prompt)
            result = self._loop(kernel, transcript)
            if result is not None:
                return result
            return self._shared(self.endings.without_final(transcript, self._scope))
        finally:
            kernel.close()

    def _shared(self, reflection: ReflectorOutput) -> list[ReflectorOutput]:
        return share_across(reflection, self._tasks) if self._tasks > 1 else [reflection]

    def _system_prompt(self) -> str:
        children = self.spawn_child is not None and self.depth < self.config.max_depth
        return self.prompts.system(
            max_llm_calls=self.ledger.max_calls,
            max_depth=self.config.max_depth if children else 0,
        )

    # ------------------------------------------------------------------ kernel set-up
    def _prepare_kernel(self, kernel: Kernel, data: Any, skillbook: SkillbookInfo) -> str | None:
        kernel.inject("traces", data)
        kernel.inject("skillbook", skillbook.text)
        kernel.register_host_function("FINAL", self.cells.final.final)
        kernel.register_host_function("FINAL_VAR", self.cells.final.final_var)
        kernel.register_host_function("SHOW_VARS", self.cells.variables.show)
        if self.config.enable_subagent:
            caller = SubCaller(self.sub, self.config, self.cells.subcalls.append)
            kernel.register_host_function("ask_llm", caller.ask_llm)
            if self.config.enable_llm_query:
                kernel.register_host_function("llm_query", caller.llm_query)
                kernel.register_host_function("llm_batch", caller.llm_batch)
        if self.spawn_child is not None and self.depth < self.config.max_depth:
            children = ChildSessions(
                config=self.config,
                ledger=self.ledger,
                depth=self.depth,
                spawn=self.spawn_child,
                kernel=kernel,
            )
            self.cells.children = children
            kernel.register_host_function("rr_query", children.rr_query)
        # A host definition: run where no cell's names reach it, and replayed by the
        # kernel into every new kernel after a death.
        subagent = self.config.enable_subagent and self.config.enable_llm_query
        result = kernel.define(_prelude.source(subagent=subagent))
        return None if result.ok else reason("no_view", error=result.error)

    # ------------------------------------------------------------------ the loop
    def _loop(self, kernel: Kernel, transcript: Transcript) -> list[ReflectorOutput] | None:
        had_clean_cell = False
        repeats = 0
        for i in range(1, self.config.max_iterations + 1):
            self._iteration = i
            with span("rr iteration {rr.iteration}", **{"rr.iteration": i}):
                reply = self._ask_main(transcript)
                if reply is None:
                    return None
                iteration = Iteration(index=i, reply=reply.text)
                iteration.model_duration_s = reply.duration_s
                iteration.prompt_tokens = reply.usage.prompt_tokens
                iteration.completion_tokens = reply.usage.completion_tokens
                transcript.iterations.append(iteration)
                accepted, extra = self.cells.handle(kernel, iteration, had_clean_cell)
                had_clean_cell = had_clean_cell or (
                    iteration.kind in ("code", "final_call") and iteration.error is None
                )
                if accepted is not None:
                    transcript.outcome = "direct_json" if iteration.kind == "json" else "final"
                    self.conversation.add_log({"role": "assistant", "content": reply.text})
                    return accepted
                repeated = repeated_cell(iteration, transcript.iterations[:-1])
                if repeated is not None:
                    repeats += 1
                    limit = self.config.max_repeated_cells
                    if limit is not None and repeats >= limit:
                        self.conversation.add_log({"role": "assistant", "content": reply.text})
                        transcript.notes.append(
                            reason(
                                "repeated", repeats=repeats, iteration=i, previous=repeated.index
                            )
                        )
                        return None
                extra = join(extra, repeat_note(repeated))
                feedback = self.prompts.feedback(
                    iteration, extra, calls_left=self.ledger.calls_left
                )
                self.conversation.add_turn(i, reply.text, feedback, partial(digest, iteration))
        transcript.notes.append(reason("no_final", iterations=self.config.max_iterations))
        return None

    def _ask_main(self, transcript: Transcript) -> LLMResponse | None:
        self._progress("model")
        messages = self.conversation.messages()
        with span(
            "rr model call",
            **{
                "rr.model": self.main.model,
                "rr.prompt_chars": sum(len(m["content"]) for m in messages),
            },
        ) as current:
            try:
                reply = self.main.complete(
                    messages, max_tokens=self.main_max_tokens, temperature=self.main_temperature
                )
            except BudgetExceededError as exc:
                transcript.notes.append(reason("budget", iteration=self._iteration, error=exc))
                record_cause(transcript, exc)
                return None
            except LLMError as exc:
                transcript.notes.append(reason("main_failed", iteration=self._iteration, error=exc))
                record_cause(transcript, exc)
                return None
            set_attributes(
                current,
                **{
                    "rr.prompt_tokens": reply.usage.prompt_tokens,
                    "rr.completion_tokens": reply.usage.completion_tokens,
                    "rr.cost_usd": reply.cost_usd or 0.0,
                },
            )
        return reply

    def _progress(self, phase: str) -> None:
        if self.on_progress is None:
            return
        self.on_progress(
            ProgressEvent(
                iteration=self._iteration,
                max_iterations=self.config.max_iterations,
                calls_used=self.ledger.calls_used,
                max_calls=self.ledger.max_calls,
                elapsed_s=time.monotonic() - self._started,
                phase=phase,
            )
        )


def _isolation(kernel: Kernel) -> dict[str, Any]:
    report = kernel.isolation
    fields = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(report).items()}
    return {"active": list(report.active), "missing": list(report.missing), **fields}
