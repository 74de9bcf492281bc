"""Rendering a transcript and a reflection in the terminal (rich, imported lazily).

Every piece of untrusted text passes through ``clean_text`` and reaches rich as a
``Text`` (never as markup), so neither escape sequences nor ``[bold]``-style markup in
a model's output can change what the terminal does.
"""

from __future__ import annotations

import json
from typing import IO, TYPE_CHECKING, Any

from ace.outputs import ReflectorOutput
from ace.rr.transcript import Iteration, SubCall, Transcript
from ace.viewer._facts import (
    final_status,
    iteration_cost,
    iteration_tokens,
    money,
    session_facts,
)
from ace.viewer._sanitize import clean_text, clean_value, shorten

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.text import Text


def make_console(file: IO[str] | None = None, *, width: int | None = None) -> Console:
    """A console that colours only real terminals and never interprets markup in data."""
    from rich.console import Console

    return Console(file=file, width=width, highlight=False, markup=False, emoji=False)


def print_transcript(
    transcript: Transcript, console: Console | None = None, *, max_chars: int = 4_000
) -> None:
    """Header, every iteration (code, output, sub-calls, usage), then the final value."""
    from rich.rule import Rule

    console = console or make_console()
    for block in _header(transcript):
        console.print(block)
    for iteration in transcript.iterations:
        console.print(Rule(_plain(_iteration_title(iteration)), style="cyan"))
        for block in _iteration(iteration, max_chars):
            console.print(block)
    console.print(Rule(_plain("Result"), style="cyan"))
    if transcript.final is not None:
        final = json.dumps(clean_value(transcript.final), indent=2, default=str, ensure_ascii=False)
        console.print(_syntax(final, "json"))
    else:
        console.print(_plain(f"no FINAL value (outcome: {transcript.outcome})", "yellow"))
    for note in transcript.notes:
        console.print(_plain(f"note: {note}", "dim"))


def print_reflection(reflection: ReflectorOutput, console: Console | None = None) -> None:
    """The reflection as labelled paragraphs, attribution first."""
    console = console or make_console()
    attribution = reflection.attribution
    if attribution is not None and (attribution.agent or attribution.step is not None):
        where = " · ".join(
            part
            for part in (
                f"agent {attribution.agent}" if attribution.agent else "",
                f"step {attribution.step}" if attribution.step is not None else "",
            )
            if part
        )
        console.print(_field("Decisive error", where))
        if attribution.reason:
            console.print(_field("Why", attribution.reason))
    for label, value in (
        ("What went wrong", reflection.error_identification),
        ("Root cause", reflection.root_cause_analysis),
        ("Correct approach", reflection.correct_approach),
        ("Key insight", reflection.key_insight),
    ):
        if value:
            console.print(_field(label, value))
    if reflection.extracted_learnings:
        console.print(_plain("Learnings", "bold"))
        for number, learning in enumerate(reflection.extracted_learnings, 1):
            console.print(_plain(f"  {number}. {learning.learning}"))
    if reflection.skill_tags:
        tags = ", ".join(f"{t.id}={t.tag}" for t in reflection.skill_tags)
        console.print(_field("Skill tags", tags))


def _header(transcript: Transcript) -> list[RenderableType]:
    facts = session_facts(transcript)
    models = f"model {transcript.model}"
    if transcript.subagent_model and transcript.subagent_model != transcript.model:
        models += f" · sub-calls {transcript.subagent_model}"
    calls = (
        f"{facts.calls}/{facts.max_calls} calls"
        if facts.calls is not None and facts.max_calls
        else f"{facts.calls or 0} calls"
    )
    lines = [
        _plain(f"RR session {transcript.session_id}", "bold"),
        _plain(models),
        _plain(
            f"trace {transcript.trace_id or '?'} · outcome {transcript.outcome} · "
            f"{facts.iterations} iterations · {facts.subcalls} sub-calls · {calls} · "
            f"{facts.tokens:,} tokens · {money(facts.cost_usd)} · {transcript.duration_s:.1f} s"
        ),
    ]
    if transcript.isolation:
        lines.append(_plain(f"isolation: {_isolation(transcript.isolation)}", "dim"))
    return list(lines)


def _iteration_title(iteration: Iteration) -> str:
    parts = [f"Iteration {iteration.index}", iteration.kind, f"{iteration.duration_s:.2f} s"]
    if iteration.model_duration_s:
        parts[-1] += f" (model {iteration.model_duration_s:.2f} s)"
    parts.append(f"{iteration_tokens(iteration):,} tokens")
    cost = iteration_cost(iteration)
    if cost is not None:
        parts.append(money(cost))
    return " · ".join(parts)


def _iteration(iteration: Iteration, max_chars: int) -> list[RenderableType]:
    blocks: list[RenderableType] = []
    if iteration.code:
        blocks.append(_syntax(iteration.code, "python", line_numbers=True))
    elif iteration.reply:
        blocks.append(_plain(shorten(clean_text(iteration.reply), max_chars), "italic"))
    output = iteration.stdout + iteration.stderr
    if output:
        blocks.append(_plain("output", "bold"))
        blocks.append(_plain(shorten(clean_text(output), max_chars)))
    if iteration.error:
        blocks.append(_plain(shorten(clean_text(iteration.error), max_chars), "red"))
    if iteration.timed_out:
        blocks.append(_plain("the cell timed out", "red"))
    if iteration.kernel_note:
        blocks.append(_plain(f"kernel: {clean_text(iteration.kernel_note)}", "yellow"))
    if iteration.subcalls:
        blocks.append(_subcalls(iteration.subcalls))
    status = final_status(iteration)
    if status:
        blocks.append(_plain(clean_text(status), "green" if iteration.final_accepted else "red"))
    return blocks


def _subcalls(subcalls: list[SubCall]) -> RenderableType:
    from rich.table import Table

    table = Table(title=_plain(f"sub-calls ({len(subcalls)})"), expand=True, show_lines=False)
    for name in ("#", "model", "tokens", "cost", "time", "prompt", "reply"):
        table.add_column(_plain(name), overflow="fold")
    for number, call in enumerate(subcalls, 1):
        reply = f"error: {call.error}" if call.error else call.reply
        table.add_row(
            _plain(str(number)),
            _plain(clean_text(call.model)),
            _plain(f"{call.prompt_tokens}+{call.completion_tokens}"),
            _plain(money(call.cost_usd)),
            _plain(f"{call.duration_s:.2f} s"),
            _plain(shorten(clean_text(call.prompt), 160)),
            _plain(shorten(clean_text(reply), 160), "red" if call.error else ""),
        )
    return table


def _isolation(isolation: dict[str, Any]) -> str:
    active = isolation.get("active") or isolation.get("layers")
    if isinstance(active, dict):
        return ", ".join(f"{k}={'on' if v else 'off'}" for k, v in active.items())
    if isinstance(active, list):
        return ", ".join(str(layer) for layer in active)
    return clean_text(json.dumps(isolation, default=str))[:200]


def _syntax(code: str, lexer: str, *, line_numbers: bool = False) -> RenderableType:
    from rich.syntax import Syntax

    return Syntax(clean_text(code), lexer, line_numbers=line_numbers, word_wrap=True)


def _field(label: str, value: str) -> RenderableType:
    from rich.text import Text

    text = Text(f"{label}: ", style="bold")
    text.append(clean_text(value))
    return text


def _plain(text: str, style: str = "") -> Text:
    from rich.text import Text

    return Text(clean_text(text), style=style)
