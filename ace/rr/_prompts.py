"""Every text of a session that a model reads, rendered from ``prompts/rr/``.

The session decides what to say; this module says it. Nothing here holds a sentence:
each text is a template (or a ``part`` of one) under ``prompts/rr/``, filled with data
(the trace, the task, the cell's output, counts and limits).
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from ace.prompting import render_file, render_prompt

if TYPE_CHECKING:
    from pathlib import Path

    from ace.rr._inputs import SkillbookInfo, TaskInfo
    from ace.rr.config import RRConfig
    from ace.rr.transcript import Iteration
    from ace.traces import Trace
    from sandbox import ExecutionResult

SKILLBOOK_PREVIEW_CHARS = 2_000
PREVIEW_CHUNK = 48
"""Step previews rendered per template call (a budget of 40,000 characters holds ~130)."""
FINDINGS_CHARS = 1_500


def note(part: str, **variables: Any) -> str:
    """A note to the main model about its last reply (``prompts/rr/notes.j2``)."""
    return render_prompt("rr/notes.j2", part=part, **variables)


def reason(part: str, **variables: Any) -> str:
    """Why a session ended early (``prompts/rr/reasons.j2``), as the synthesis and the
    failure and timeout reflections quote it."""
    return render_prompt("rr/reasons.j2", part=part, **variables)


def ending(part: str, **variables: Any) -> str:
    """A text of the reflection that stands in for a missing one (``prompts/rr/endings.j2``)."""
    return render_prompt("rr/endings.j2", part=part, **variables)


def join(*parts: str | None) -> str | None:
    """The non-empty parts, one per line; None when there is none."""
    kept = [p for p in parts if p]
    return "\n".join(kept) if kept else None


def cut(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, head and tail kept around a marker."""
    if len(text) <= limit:
        return text
    head = limit * 2 // 3
    tail = limit - head
    marker = render_prompt("rr/previews.j2", part="cut", cut=len(text) - limit)
    return f"{text[:head]}\n{marker}\n{text[-tail:]}"


def agents_of(trace: Trace) -> list[str]:
    """The trace's agents in first-appearance order."""
    return list(dict.fromkeys(s.agent for s in trace.steps if s.agent))


def previews(trace: Trace, chars: int, budget: int) -> str:
    """One line per step, cut to ``chars``, until ``budget`` characters; the rest is counted."""
    steps = trace.steps
    if not steps:
        return render_prompt("rr/previews.j2", part="empty")
    label: list[str] = []  # the tool-result label, rendered once if a step needs it
    out: list[str] = []
    used = 0
    # A few template renders per trace, not one per step: lines come PREVIEW_CHUNK at a time.
    for start in range(0, len(steps), PREVIEW_CHUNK):
        rows = []
        for step in steps[start : start + PREVIEW_CHUNK]:
            # Only the head of each step is needed: never split a whole multi-megabyte step.
            text = " ".join(step.content[: chars * 4].split())
            for result in step.tool_results:
                if not label:
                    label.append(render_prompt("rr/previews.j2", part="tool_result"))
                text += f" {label[0]} " + " ".join(result.output[: chars * 4].split())
            total = len(step.content) + sum(len(r.output) for r in step.tool_results)
            agent = step.agent or step.role or "?"
            rows.append(
                {"index": step.index, "agent": agent, "text": text[:chars], "extra": total - chars}
            )
        separator = f"\x1e{secrets.token_hex(8)}\x1e"
        lines = render_prompt("rr/previews.j2", part="lines", steps=rows, separator=separator)
        for line in lines.split(separator)[:-1]:
            if used + len(line) > budget:
                hidden = len(steps) - len(out)
                out.append(render_prompt("rr/previews.j2", part="more", hidden=hidden))
                return "\n".join(out)
            out.append(line)
            used += len(line) + 1
    return "\n".join(out)


def digest(iteration: Iteration) -> str:
    """One line saying what a turn ran, for the summary of dropped turns."""
    first_line = next((ln.strip() for ln in iteration.code.splitlines() if ln.strip()), "")
    return render_prompt(
        "rr/conversation.j2",
        part="digest",
        first_line=first_line[:60],
        error=bool(iteration.error),
        output_chars=len(iteration.stdout),
        kind=iteration.kind,
    )


def repeat_note(previous: Iteration | None) -> str | None:
    """Small models resend a cell verbatim; say so, so the next turn differs."""
    if previous is None:
        return None
    part = "repeat_failed" if previous.error else "repeat_clean"
    return note(part, previous=previous.index)


def kernel_note(
    result: ExecutionResult, timeout: float, restored: list[str], lost: list[str]
) -> str | None:
    """After a timeout or a kernel death: what came back (the trace view is a host
    definition the kernel replays, so it is always back)."""
    if not result.restarted:
        return note("timeout", timeout=timeout) if result.timed_out else None
    return note("restarted", timed_out=result.timed_out, restored=restored, lost=lost)


class SessionPrompts:
    """The system prompt, the task message, the feedback after each turn and the synthesis
    request of one session."""

    def __init__(self, config: RRConfig, marker: str, template: str | Path | None) -> None:
        self.config = config
        self.marker = marker
        self.template = template
        """A user's system-prompt file, rendered with the same variables as the shipped one."""

    def system(self, *, max_llm_calls: int, max_depth: int) -> str:
        """The system prompt: namespace, rules, budget (``rr/system.j2`` or the user's file)."""
        variables = {
            "max_output_chars": self.config.max_output_chars,
            "enable_subagent": self.config.enable_subagent,
            "enable_llm_query": self.config.enable_llm_query,
            "subagent_max_requests": self.config.subagent_max_requests,
            "max_iterations": self.config.max_iterations,
            "max_llm_calls": max_llm_calls,
            "max_depth": max_depth,
        }
        if self.template is not None:
            return render_file(self.template, **variables)
        return render_prompt("rr/system.j2", **variables)

    def task(
        self, trace: Trace, task: TaskInfo, skillbook: SkillbookInfo, agents: list[str]
    ) -> str:
        """The first user message of a single analysis (``rr/task.j2``); ``agents`` are
        the trace's (``agents_of``)."""
        budget = self.config.max_context_chars // 3
        return render_prompt(
            "rr/task.j2",
            question=task.question,
            final_answer=task.final_answer,
            ground_truth=task.ground_truth,
            feedback=task.feedback or "",
            step_count=len(trace.steps),
            total_chars=sum(len(s.content) for s in trace.steps),
            agents=", ".join(agents),
            marker=self.marker,
            previews=previews(trace, self.config.preview_chars, budget),
            skill_count=skillbook.skill_count,
            skillbook_preview=cut(skillbook.text, SKILLBOOK_PREVIEW_CHARS),
        )

    def batch(self, traces: list[Trace], tasks: list[TaskInfo], skillbook: SkillbookInfo) -> str:
        """The first user message of a batch (``rr/batch_task.j2``): every task, its previews."""
        budget = self.config.max_context_chars // 3 // len(traces)
        described = [
            {
                "question": task.question,
                "final_answer": task.final_answer,
                "ground_truth": task.ground_truth,
                "feedback": task.feedback or "",
                "step_count": len(trace.steps),
                "total_chars": sum(len(s.content) for s in trace.steps),
                "agents": ", ".join(agents_of(trace)),
            }
            for trace, task in zip(traces, tasks, strict=True)
        ]
        shown = "\n".join(
            render_prompt("rr/previews.j2", part="task", number=k)
            + "\n"
            + previews(trace, self.config.preview_chars, budget)
            for k, trace in enumerate(traces)
        )
        return render_prompt(
            "rr/batch_task.j2",
            tasks=described,
            marker=self.marker,
            previews=shown,
            skill_count=skillbook.skill_count,
            skillbook_preview=cut(skillbook.text, SKILLBOOK_PREVIEW_CHARS),
        )

    def feedback(self, iteration: Iteration, extra: str | None, *, calls_left: int) -> str:
        """What the model reads after a turn (``rr/iteration.j2``): the cell's output between
        the data markers, the notes, and a warning when the end is near."""
        output = iteration.stdout + (("\n" + iteration.stderr) if iteration.stderr else "")
        if iteration.error:
            output += f"\n{iteration.error}"
        return render_prompt(
            "rr/iteration.j2",
            iteration=iteration.index,
            max_iterations=self.config.max_iterations,
            kind=iteration.kind,
            error=bool(iteration.error),
            output=cut(output.strip(), self.config.max_output_chars),
            marker=self.marker,
            note=extra or "",
            left_iterations=self.config.max_iterations - iteration.index,
            left_calls=calls_left,
        )

    def synthesis(self, why: str, scope: tuple[str, int] | None) -> str:
        """The request for the final reflection JSON (``rr/synthesis.j2``)."""
        agents, steps = scope or ("", 0)
        return render_prompt("rr/synthesis.j2", reason=why, agents=agents, steps=steps)
