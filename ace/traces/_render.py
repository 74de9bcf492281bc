"""Rendering a trace as bounded text for a prompt; every cut is marked with its size."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from ace.errors import UsageError
from ace.traces._json import compact

if TYPE_CHECKING:
    from ace.traces.schema import Trace, TraceStep

MIN_RENDER_CHARS = 200
_MARKER_RESERVE = 120


def render_trace(trace: Trace, max_chars: int, *, include_task: bool) -> str:
    """See :meth:`ace.traces.Trace.render`."""
    if max_chars < MIN_RENDER_CHARS:
        raise UsageError(f"render(max_chars={max_chars}): expected at least {MIN_RENDER_CHARS}")
    field_cap = max(MIN_RENDER_CHARS, max_chars // 5)
    where = f", {trace.source.describe()}" if trace.source else ""
    head = [f"Trace {trace.id} (format: {trace.format}{where})"]
    if include_task:
        for label, value in (
            ("Question", trace.question),
            ("Context", trace.context),
            ("Ground truth", trace.ground_truth),
            ("Feedback", trace.feedback),
        ):
            if value:
                head.append(f"{label}: {cut_middle(value, field_cap)}")
        if trace.is_correct is not None:
            head.append(f"Outcome: {'correct' if trace.is_correct else 'incorrect'}")
    header = "\n".join(head)
    footer = (
        f"Final answer: {cut_middle(trace.final_answer, field_cap)}" if trace.final_answer else ""
    )
    budget = max(MIN_RENDER_CHARS, max_chars - len(header) - len(footer) - 4)
    if trace.steps:
        body = f"Steps ({len(trace.steps)}):\n" + _fit_steps(trace.steps, budget - 20)
    elif trace.format == "json":
        raw = json.dumps(trace.raw, ensure_ascii=False, indent=1)
        body = "Raw data (JSON):\n" + cut_middle(raw, budget - 20)
    else:
        body = "Steps: none"
    text = "\n\n".join(part for part in (header, body, footer) if part)
    return cut_middle(text, max_chars)


def render_step(step: TraceStep) -> str:
    """One step as text: ``[i] agent (role):``, the content, then tool calls and results."""
    who = step.agent or step.role or ""
    if step.role and step.role != who:
        who = f"{who} (role: {step.role})"
    lines = [f"[{step.index}] {who}:" if who else f"[{step.index}]:"]
    if step.content:
        lines.append(step.content)
    for call in step.tool_calls:
        ident = f" [id {call.id}]" if call.id else ""
        lines.append(f"  -> call {call.name}({compact(call.arguments)}){ident}")
    for result in step.tool_results:
        lines.append(f"  <- {result.name or 'result'}: {result.output}")
    return "\n".join(lines)


def _fit_steps(steps: list[TraceStep], budget: int) -> str:
    """Steps within ``budget``: each long step cut in its middle, then, if still too long,
    whole steps dropped from the middle of the trace (first and last steps kept)."""
    full = [render_step(step) for step in steps]
    step_cap = max(MIN_RENDER_CHARS * 2, budget // 8)
    blocks = [cut_middle(block, step_cap) for block in full]
    if sum(len(block) + 1 for block in blocks) <= budget:
        return "\n".join(blocks)
    head: list[str] = []
    tail: list[str] = []
    first, last = 0, len(blocks) - 1
    used = _MARKER_RESERVE
    from_head = True
    while first <= last:
        block = blocks[first] if from_head else blocks[last]
        if used + len(block) + 1 > budget:
            break
        used += len(block) + 1
        if from_head:
            head.append(block)
            first += 1
        else:
            tail.append(block)
            last -= 1
        from_head = not from_head
    if first > last:
        return "\n".join(head + tail[::-1])
    dropped = sum(len(block) + 1 for block in full[first : last + 1])
    count = last - first + 1
    marker = (
        f"[... {count} step{'s' if count != 1 else ''} cut here "
        f"(steps {first}-{last}, {dropped:,} characters) ...]"
    )
    return "\n".join([*head, marker, *tail[::-1]])


def cut_middle(text: str, limit: int) -> str:
    """``text`` if it fits in ``limit``, else its head and tail around a marker giving the
    number of characters removed."""
    if len(text) <= limit:
        return text
    keep = limit - len(_marker(len(text)))
    if keep <= 0:
        return _marker(len(text)).strip()[:limit]
    head = keep * 2 // 3
    tail = keep - head
    return text[:head] + _marker(len(text) - keep) + text[len(text) - tail :]


def _marker(count: int) -> str:
    return f"\n[... {count:,} characters cut ...]\n"
