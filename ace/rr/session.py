"""One Recursive Reflector session: the loop of prompt → model → code → kernel → feedback.

A session owns one sandboxed kernel holding the trace as data, talks to the main model
through a ledger-charged client, and ends with a validated ``ReflectorOutput``: from
``FINAL``/``FINAL_VAR``, a direct JSON answer, a fallback synthesis, or a timeout
reflection. Model and kernel failures never escape ``run``; they end up in the result.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ace.errors import BudgetExceededError, LLMError
from ace.outputs import ReflectorOutput
from ace.prompting import render_file, render_prompt
from ace.rr import _prelude
from ace.rr._conversation import Conversation
from ace.rr._final import FinalCollector, decide, salvage, share_across
from ace.rr._subcalls import SubCaller
from ace.rr._tracing import set_attributes, span
from ace.rr._variables import VariableTracker
from ace.rr.config import RRConfig
from ace.rr.extract import extract, reflection_value
from ace.rr.ledger import Ledger
from ace.rr.transcript import ChildSession, Iteration, SubCall, Transcript

if TYPE_CHECKING:
    from pathlib import Path

    from ace.llm import LLMClient
    from ace.traces import Trace
    from sandbox import ExecutionResult, Sandbox


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


@dataclass(frozen=True)
class TaskInfo:
    """What the session tells the model about the attempt besides the trace."""

    question: str
    final_answer: str = ""
    ground_truth: str | None = None
    feedback: str | None = None


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
        sandbox_factory: Callable[[], Sandbox],
        prompt_template: str | Path | None = None,
        on_progress: Callable[[ProgressEvent], None] | None = None,
        depth: int = 0,
        spawn_child: Callable[[Ledger, int], RRSession] | None = None,
        main_temperature: float | None = None,
        main_max_tokens: int | None = None,
    ) -> None:
        self.main, self.sub, self.synthesis = main, sub, synthesis
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
        self.sandbox_factory = sandbox_factory
        self.prompt_template = prompt_template
        self.on_progress = on_progress
        self.marker = f"<<<DATA-{secrets.token_hex(8)}>>>"
        self.final = FinalCollector()
        self.variables = VariableTracker()
        self.conversation = Conversation(max_chars=config.max_context_chars)
        self._subcalls: list[SubCall] = []
        self._children: list[ChildSession] = []
        self._children_started = 0
        self._sandbox: Sandbox | None = None
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
        skillbook_text: str,
        *,
        batch: bool = False,
    ) -> RRResult:
        """Analyse ``traces`` (one, or a batch); always returns a result, errors included."""
        if len(traces) != len(tasks) or not traces or (len(traces) > 1 and not batch):
            raise ValueError(
                "RRSession.run: one TaskInfo per trace; several traces need batch=True"
            )
        self._tasks = len(traces)
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
                reflections = self._run(traces, tasks, skillbook_text, transcript, batch)
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
                _record_cause(transcript, exc)
                reflections = self._shared(
                    _failure_reflection(f"the session failed ({type(exc).__name__}: {exc})")
                )
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
        skillbook_text: str,
        transcript: Transcript,
        batch: bool,
    ) -> list[ReflectorOutput]:
        self._progress("starting")
        kernel_started = time.monotonic()
        try:
            sandbox = self.sandbox_factory()
            sandbox.start()
        except Exception as exc:
            transcript.outcome = "error"
            transcript.notes.append(f"sandbox failed to start: {exc}")
            _record_cause(transcript, exc)
            return self._shared(
                _failure_reflection(f"the sandbox could not start ({type(exc).__name__}: {exc})")
            )
        finally:
            self.kernel_start_s = time.monotonic() - kernel_started
        self._sandbox = sandbox
        try:
            transcript.isolation = _isolation(sandbox)
            data: Any = (
                [t.model_dump(mode="json") for t in traces]
                if batch
                else traces[0].model_dump(mode="json")
            )
            try:
                problem = self._prepare_kernel(sandbox, data, skillbook_text)
            except Exception as exc:
                problem = f"the kernel could not be prepared ({type(exc).__name__}: {exc})"
                _record_cause(transcript, exc)
            if problem:
                transcript.outcome = "error"
                transcript.notes.append(problem)
                return self._shared(_failure_reflection(problem))
            task_prompt = (
                self._batch_prompt(traces, tasks, skillbook_text)
                if batch
                else self._task_prompt(traces[0], tasks[0], skillbook_text)
            )
            self.conversation.start(self._system_prompt(), task_prompt)
            result = self._loop(sandbox, transcript)
            if result is not None:
                return result
            return self._shared(self._finish_without_final(transcript))
        finally:
            sandbox.close()

    def _shared(self, reflection: ReflectorOutput) -> list[ReflectorOutput]:
        return share_across(reflection, self._tasks) if self._tasks > 1 else [reflection]

    # ------------------------------------------------------------------ kernel set-up
    def _prepare_kernel(self, sandbox: Sandbox, data: Any, skillbook_text: str) -> str | None:
        sandbox.inject("traces", data)
        sandbox.inject("skillbook", skillbook_text)
        sandbox.register_host_function("FINAL", self.final.final)
        sandbox.register_host_function("FINAL_VAR", self.final.final_var)
        sandbox.register_host_function("SHOW_VARS", self.variables.show)
        if self.config.enable_subagent:
            caller = SubCaller(self.sub, self.config, self._subcalls.append)
            sandbox.register_host_function("ask_llm", caller.ask_llm)
            if self.config.enable_llm_query:
                sandbox.register_host_function("llm_query", caller.llm_query)
                sandbox.register_host_function("llm_batch", caller.llm_batch)
        if self.spawn_child is not None and self.depth < self.config.max_depth:
            sandbox.register_host_function("rr_query", self._rr_query)
        return self._run_prelude(sandbox)

    def _run_prelude(self, sandbox: Sandbox) -> str | None:
        # A host definition: run where no cell's names reach it, and replayed by the
        # sandbox into every new kernel after a death.
        result = sandbox.define(
            _prelude.source(subagent=self.config.enable_subagent and self.config.enable_llm_query)
        )
        if result.ok:
            return None
        return f"the trace view could not be built in the kernel: {result.error}"

    # ------------------------------------------------------------------ the loop
    def _loop(self, sandbox: Sandbox, transcript: Transcript) -> list[ReflectorOutput] | None:
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
                accepted, note = self._handle_reply(sandbox, iteration, had_clean_cell)
                had_clean_cell = had_clean_cell or (
                    iteration.kind in ("code", "final_call") and iteration.error is None
                )
                if accepted is not None:
                    transcript.outcome = "direct_json" if iteration.kind == "json" else "final"
                    self.conversation.add_log({"role": "assistant", "content": reply.text})
                    return accepted
                repeated = _repeated_cell(iteration, transcript.iterations[:-1])
                if repeated is not None:
                    repeats += 1
                    limit = self.config.max_repeated_cells
                    if limit is not None and repeats >= limit:
                        self.conversation.add_log({"role": "assistant", "content": reply.text})
                        transcript.notes.append(
                            f"the model resent an earlier cell verbatim {repeats} time(s) "
                            f"(iteration {i} repeats iteration {repeated.index})"
                        )
                        return None
                note = _join(note, _repeat_note(repeated))
                feedback = self._feedback(iteration, note)
                self.conversation.add_turn(i, reply.text, feedback, _digest(iteration))
        transcript.notes.append(f"no FINAL after {self.config.max_iterations} iterations")
        return None

    def _ask_main(self, transcript: Transcript) -> Any:
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
                transcript.notes.append(f"budget reached before iteration {self._iteration}: {exc}")
                _record_cause(transcript, exc)
                return None
            except LLMError as exc:
                transcript.notes.append(f"main model failed at iteration {self._iteration}: {exc}")
                _record_cause(transcript, exc)
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

    def _handle_reply(
        self, sandbox: Sandbox, iteration: Iteration, had_clean_cell: bool
    ) -> tuple[list[ReflectorOutput] | None, str | None]:
        """Run what the reply holds; return accepted reflections or a note for the model."""
        found = extract(iteration.reply)
        iteration.kind = found.kind
        if found.kind == "none":
            return None, (
                "No code found in your reply. Answer with one ```python block that explores "
                "the trace, or that calls FINAL(...) once you have evidence."
            )
        if found.kind == "json":
            decision = decide(
                found.answer, cell_ok=True, had_clean_cell=had_clean_cell, tasks=self._tasks
            )
            iteration.final_accepted = decision.accepted is not None
            iteration.final_rejection = decision.rejection
            return decision.accepted, decision.rejection
        iteration.code = found.code
        result = self._execute(sandbox, found.code, iteration)
        note = self._kernel_note(result)
        iteration.kernel_note = note
        if result.ok:
            self.variables.record(found.code, iteration.index)
        if not self.final.requested:
            return None, note
        value = self.final.value
        if self.final.var_name is not None and result.ok:
            value, problem = self._fetch_variable(sandbox, self.final.var_name)
            if problem:
                iteration.final_accepted, iteration.final_rejection = False, problem
                return None, _join(note, problem)
        decision = decide(
            value, cell_ok=result.ok, had_clean_cell=had_clean_cell, tasks=self._tasks
        )
        iteration.final_accepted = decision.accepted is not None
        iteration.final_rejection = decision.rejection
        return decision.accepted, _join(note, decision.rejection)

    def _execute(self, sandbox: Sandbox, code: str, iteration: Iteration) -> ExecutionResult:
        self._progress("kernel")
        self.final.reset()
        self._subcalls.clear()
        self._children.clear()
        with span("rr kernel execution", **{"rr.code": code[:4000]}) as current:
            result = sandbox.execute(code)
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
        iteration.subcalls = list(self._subcalls)
        iteration.children = list(self._children)
        return result

    def _kernel_note(self, result: ExecutionResult) -> str | None:
        """After a timeout or a kernel death: tell the model what came back (the sandbox
        has replayed the trace view, a host definition, into the new kernel)."""
        if not result.restarted:
            if result.timed_out:
                return (
                    f"The cell hit the {self.config.timeout:g} s time limit and was interrupted; "
                    "the interpreter and your variables are intact. Use smaller steps."
                )
            return None
        ours = _prelude.DEFINED_NAMES
        restored = [n for n in result.restored if n not in ours]
        lost = [n for n in result.lost if n not in ours]
        self.variables.forget(lost)
        what = (
            "timed out and had to be stopped"
            if result.timed_out
            else "stopped (memory, CPU or a crash)"
        )
        note = (
            f"The kernel {what} and was restarted. `trace`, `traces`, `skillbook` and the helper "
            "functions are back"
            + (
                f"; restored as of the end of your last good cell: {', '.join(restored)}"
                if restored
                else ""
            )
            + (f"; lost (could not be restored): {', '.join(lost)}" if lost else "")
            + ". Use smaller steps."
        )
        return note

    def _fetch_variable(self, sandbox: Sandbox, name: str) -> tuple[Any, str | None]:
        from sandbox import FetchError

        try:
            return sandbox.fetch(name), None
        except FetchError as exc:
            return None, f"FINAL_VAR({name!r}) could not be read: {exc}"

    def _rr_query(self, question: Any = None, data: Any = None) -> dict[str, Any]:
        """Host side of ``rr_query``: a child session over ``data`` with a share of the budget."""
        from ace.traces import load_trace

        if not isinstance(question, str) or not question.strip():
            raise TypeError("rr_query(question, data): question must be a non-empty string")
        assert self.spawn_child is not None
        if len(self._children) >= self.config.max_children_per_cell:
            raise RuntimeError(
                f"rr_query: at most {self.config.max_children_per_cell} child sessions per cell"
            )
        if self._children_started >= self.config.max_children:
            raise RuntimeError(
                f"rr_query: the session's {self.config.max_children} child sessions are used"
            )
        # A child's start is paid before it starts (one call of this budget), so a loop of
        # rr_query at zero budget fails here, before any kernel is started.
        try:
            start = self.ledger.reserve("child", "rr_query")
        except BudgetExceededError as exc:
            raise RuntimeError(
                f"LLM budget exhausted: no call left for a child session ({exc})"
            ) from None
        self.ledger.settle(start)
        self._children_started += 1
        child_ledger = self.ledger.child(self.config.child_budget_share)
        record = ChildSession(
            question=question,
            depth=self.depth + 1,
            budget_calls=child_ledger.max_calls,
            data_chars=len(str(data)),
        )
        self._children.append(record)
        started = time.monotonic()
        child = self.spawn_child(child_ledger, self.depth + 1)
        trace = load_trace(data if data is not None else {"question": question})
        result = child.run([trace], [TaskInfo(question=question)], "(see the parent session)")
        if self._sandbox is not None:
            # Starting the child's kernel is the cell's time: a cell looping on rr_query
            # must not stretch its own limit by the kernels it starts.
            self._sandbox.charge_cell_time(child.kernel_start_s)
        record.outcome = result.transcript.outcome
        record.duration_s = time.monotonic() - started
        record.transcript = result.transcript
        return {
            **result.reflection.model_dump(mode="json", exclude={"raw"}),
            "outcome": result.transcript.outcome,
            "calls_used": child_ledger.calls_used,
        }

    # ------------------------------------------------------------------ prompts
    def _system_prompt(self) -> str:
        variables = {
            "max_output_chars": self.config.max_output_chars,
            "enable_subagent": self.config.enable_subagent,
            "enable_llm_query": self.config.enable_llm_query,
            "subagent_max_requests": self.config.subagent_max_requests,
            "max_iterations": self.config.max_iterations,
            "max_llm_calls": self.ledger.max_calls,
            "max_depth": self.config.max_depth
            if self.spawn_child is not None and self.depth < self.config.max_depth
            else 0,
        }
        if self.prompt_template is not None:
            return render_file(self.prompt_template, **variables)
        return render_prompt("rr/system.j2", **variables)

    def _task_prompt(self, trace: Trace, task: TaskInfo, skillbook_text: str) -> str:
        budget = self.config.max_context_chars // 3
        previews = _previews(trace, self.config.preview_chars, budget)
        agents = list(dict.fromkeys(s.agent for s in trace.steps if s.agent))
        self._scope = (", ".join(agents), len(trace.steps)) if agents and trace.steps else None
        skill_lines = [line for line in skillbook_text.splitlines() if line.startswith("- [")]
        return render_prompt(
            "rr/task.j2",
            question=task.question or "(not recorded)",
            final_answer=task.final_answer,
            ground_truth=task.ground_truth,
            feedback=task.feedback or "",
            step_count=len(trace.steps),
            total_chars=sum(len(s.content) for s in trace.steps),
            agents=", ".join(agents) or "(none named)",
            marker=self.marker,
            previews=previews,
            skill_count=len(skill_lines),
            skillbook_preview=_cut(skillbook_text, 2_000),
        )

    def _batch_prompt(self, traces: list[Trace], tasks: list[TaskInfo], skillbook_text: str) -> str:
        budget = self.config.max_context_chars // 3 // len(traces)
        described = [
            {
                "question": task.question or "(not recorded)",
                "final_answer": task.final_answer,
                "ground_truth": task.ground_truth,
                "feedback": task.feedback or "",
                "step_count": len(trace.steps),
                "total_chars": sum(len(s.content) for s in trace.steps),
                "agents": ", ".join(dict.fromkeys(s.agent for s in trace.steps if s.agent))
                or "(none named)",
            }
            for trace, task in zip(traces, tasks, strict=True)
        ]
        previews = "\n".join(
            f"--- task {k} ---\n{_previews(trace, self.config.preview_chars, budget)}"
            for k, trace in enumerate(traces)
        )
        return render_prompt(
            "rr/batch_task.j2",
            tasks=described,
            marker=self.marker,
            previews=previews,
            skill_count=sum(1 for line in skillbook_text.splitlines() if line.startswith("- [")),
            skillbook_preview=_cut(skillbook_text, 2_000),
        )

    def _feedback(self, iteration: Iteration, note: str | None) -> str:
        output = iteration.stdout + (("\n" + iteration.stderr) if iteration.stderr else "")
        if iteration.error:
            output += f"\n{iteration.error}"
        status = {
            "none": "no code ran",
            "json": "direct answer not accepted",
        }.get(iteration.kind, "cell raised an error" if iteration.error else "cell ran")
        left_iterations = self.config.max_iterations - iteration.index
        left_calls = self.ledger.calls_left
        warning = None
        if left_iterations <= 2 or left_calls <= 2:
            warning = (
                f"{left_iterations} iteration(s) and {left_calls} model call(s) left. "
                "Call FINAL with your best-supported reflection soon."
            )
        return render_prompt(
            "rr/iteration.j2",
            iteration=iteration.index,
            max_iterations=self.config.max_iterations,
            status=status,
            output=_cut(output.strip(), self.config.max_output_chars),
            marker=self.marker,
            note=note or "",
            warning=warning,
        )

    # ------------------------------------------------------------------ endings
    def _finish_without_final(self, transcript: Transcript) -> ReflectorOutput:
        reason = transcript.notes[-1] if transcript.notes else "the session ended"
        if self.config.enable_fallback_synthesis:
            self._progress("synthesis")
            reflection = self._synthesise(reason, transcript)
            if reflection is not None:
                transcript.outcome = "synthesis"
                reflection.raw.update({"timeout": True, "synthesised": True, "reason": reason})
                return reflection
        transcript.outcome = "timeout"
        return _timeout_reflection(reason, transcript)

    def _synthesise(self, reason: str, transcript: Transcript) -> ReflectorOutput | None:
        # The request continues the main conversation (the previews and every kept turn),
        # so a server with a prefix cache only reads the new message.
        agents, steps = self._scope or ("", 0)
        request = render_prompt("rr/synthesis.j2", reason=reason, agents=agents, steps=steps)
        messages = self.conversation.messages()
        if messages[-1]["role"] == "user":
            messages[-1] = {"role": "user", "content": f"{messages[-1]['content']}\n\n{request}"}
        else:
            messages.append({"role": "user", "content": request})
        self.conversation.add_log({"role": "user", "content": request})
        with span("rr synthesis"):
            try:
                reply = self.synthesis.complete(
                    messages, max_tokens=self.main_max_tokens, temperature=self.main_temperature
                )
            except (BudgetExceededError, LLMError) as exc:
                transcript.notes.append(f"synthesis failed: {exc}")
                _record_cause(transcript, exc)
                return None
        self.conversation.add_log({"role": "assistant", "content": reply.text})
        answer = reflection_value(reply.text)
        if answer is None:
            transcript.notes.append("synthesis reply held no reflection JSON")
            return None
        decision, dropped = salvage(answer)
        if decision.accepted is None:
            transcript.notes.append(
                f"synthesis reply was not a valid reflection: {decision.rejection}"
            )
            return None
        if dropped:
            transcript.notes.append(f"synthesis: dropped invalid parts {', '.join(dropped)}")
            decision.accepted.raw["dropped"] = dropped
        if "attribution_from" in decision.accepted.raw:
            transcript.notes.append(
                f"synthesis: attribution taken from {decision.accepted.raw['attribution_from']}"
            )
        return decision.accepted

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


# ---------------------------------------------------------------------- helpers
def _previews(trace: Trace, chars: int, budget: int) -> str:
    """One line per step, cut to ``chars``, until ``budget`` characters; the rest is counted."""
    if not trace.steps:
        return "(the trace has no steps; explore `traces` directly)"
    out: list[str] = []
    used = 0
    for step in trace.steps:
        # Only the head of each step is needed: never split a whole multi-megabyte step.
        text = " ".join(step.content[: chars * 4].split())
        for result in step.tool_results:
            text += " [tool result] " + " ".join(result.output[: chars * 4].split())
        total = len(step.content) + sum(len(r.output) for r in step.tool_results)
        more = f" ... (+{total - chars:,} chars)" if total > chars else ""
        line = f"#{step.index} [{step.agent or step.role or '?'}] {text[:chars]}{more}"
        if used + len(line) > budget:
            out.append(
                f"... {len(trace.steps) - len(out)} more steps not previewed; use trace.preview(i) ..."
            )
            break
        out.append(line)
        used += len(line) + 1
    return "\n".join(out)


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    head = limit * 2 // 3
    tail = limit - head
    return f"{text[:head]}\n[... {len(text) - limit:,} characters cut ...]\n{text[-tail:]}"


def _digest(iteration: Iteration) -> str:
    first_line = next((ln.strip() for ln in iteration.code.splitlines() if ln.strip()), "")
    outcome = "error" if iteration.error else "ok"
    return (
        f"ran `{first_line[:60]}` ({outcome}, {len(iteration.stdout)} chars out)"
        if first_line
        else iteration.kind
    )


def _repeated_cell(iteration: Iteration, earlier: list[Iteration]) -> Iteration | None:
    """The latest earlier iteration whose cell this one resends verbatim, if any."""
    code = iteration.code.strip()
    if not code:
        return None
    return next((p for p in reversed(earlier) if p.code.strip() == code), None)


def _record_cause(transcript: Transcript, exc: BaseException) -> None:
    """Keep the first failure as the session's cause; later ones are its symptoms."""
    if transcript.cause is None:
        transcript.cause = f"{type(exc).__name__}: {exc}"


def _repeat_note(previous: Iteration | None) -> str | None:
    """Small models resend a cell verbatim; say so, so the next turn differs."""
    if previous is None:
        return None
    if previous.error:
        return (
            f"This cell is the same as iteration {previous.index}'s, which failed too; "
            "sending it again cannot work. Write different code: `trace` is already "
            "loaded, e.g. print(trace.preview(0))."
        )
    return (
        f"This cell is the same as iteration {previous.index}'s, so it showed nothing new. "
        "Look further (e.g. print(trace.window(i)) around a suspicious step) or call FINAL."
    )


def _join(*parts: str | None) -> str | None:
    kept = [p for p in parts if p]
    return "\n".join(kept) if kept else None


def _isolation(sandbox: Sandbox) -> dict[str, Any]:
    report = sandbox.isolation
    fields = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(report).items()}
    return {"active": list(report.active), "missing": list(report.missing), **fields}


def _failure_reflection(reason: str) -> ReflectorOutput:
    return ReflectorOutput(
        reasoning=f"The Recursive Reflector could not analyse the trace: {reason}.",
        error_identification="analysis failed",
        raw={"error": reason},
    )


def _timeout_reflection(reason: str, transcript: Transcript) -> ReflectorOutput:
    last = next((it for it in reversed(transcript.iterations) if it.stdout), None)
    findings = _cut(last.stdout, 1500) if last else "no cell produced output"
    return ReflectorOutput(
        reasoning=f"The session ended before a final reflection ({reason}). Last findings: {findings}",
        error_identification="unknown: the analysis did not finish",
        raw={"timeout": True, "reason": reason},
    )
