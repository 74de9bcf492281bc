"""The verdict card and a compact trace timeline for the terminal (``ace rr show``,
``ace traces show``), the counterparts of the page's card and SVG timeline.

Every text reaches rich as ``Text`` (never markup) after ``clean_text``. Kinds differ by
character as well as by colour, so the timeline reads without colour too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ace.viewer._sanitize import clean_text
from ace.viewer.timeline import StepKind, Timeline, build_timeline
from ace.viewer.verdict import Verdict

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

    from ace.traces import Trace

SYMBOLS: dict[StepKind, tuple[str, str]] = {
    "message": ("▪", "blue"),
    "tool": ("◆", "yellow"),
    "error": ("✖", "red"),
}
"""Character and colour of each step kind in the compact timeline."""
_LABEL = 16


def print_verdict(verdict: Verdict, console: Console) -> None:
    """The card: decisive agent and step, why, key insight, label match, what it cost."""
    from rich.panel import Panel
    from rich.text import Text

    body = Text()
    where = " · ".join(
        part
        for part in (
            f"agent {verdict.agent}" if verdict.agent else "",
            f"step {verdict.step}" if verdict.step is not None else "",
        )
        if part
    )
    _line(body, "Decisive error", where or "none named", "bold")
    if verdict.reason:
        _line(body, "Why", verdict.reason)
    if verdict.key_insight:
        _line(body, "Key insight", verdict.key_insight)
    if verdict.labelled:
        body.append("Label: ", style="bold")
        if verdict.label_agent is not None:
            body.append(clean_text(f"agent {verdict.label_agent} "))
            ok = bool(verdict.agent_match)
            body.append("✓ matches" if ok else "✗ differs", style="green" if ok else "red")
        if verdict.label_step is not None:
            if verdict.label_agent is not None:
                body.append(" · ")
            body.append(f"step {verdict.label_step} ")
            distance = verdict.step_distance
            if distance == 0:
                body.append("✓ matches", style="green")
            elif distance is not None:
                body.append(f"✗ off by {distance}", style="red")
            else:
                body.append("✗ no step named", style="red")
        body.append("\n")
    _line(body, "Outcome", verdict.outcome)
    _line(body, "Spent", verdict.usage_line(), end="")
    console.print(Panel(body, title=Text("Verdict", style="bold"), expand=True))


def print_timeline(
    trace: Trace, console: Console, *, highlight: int | None = None, max_lanes: int = 8
) -> Timeline:
    """One row per agent, one column per step (or per run of steps when the trace is
    wider than the terminal), the ``highlight`` step pointed at below. Returns the
    timeline drawn."""
    from rich.text import Text

    columns = max(10, min(console.width - _LABEL - 3, 120))
    timeline = build_timeline(trace, highlight=highlight, max_columns=columns, max_lanes=max_lanes)
    per = -(-timeline.steps // timeline.columns) if timeline.steps else 1
    scale = f"one column = up to {per} steps" if timeline.aggregated else "one column = one step"
    console.print(
        Text(
            clean_text(
                f"Trace {timeline.trace_id}: {timeline.steps:,} steps, "
                f"{len(timeline.lanes)} agents ({scale})"
            ),
            style="bold",
        )
    )
    cells: dict[tuple[int, int], StepKind] = {(m.lane, m.column): m.kind for m in timeline.marks}
    for lane_number, lane in enumerate(timeline.lanes):
        row = Text(f"{_fit(lane.name)} │")
        for column in range(timeline.columns):
            kind = cells.get((lane_number, column))
            if kind is None:
                row.append(" ")
            else:
                symbol, colour = SYMBOLS[kind]
                row.append(symbol, style=colour)
        row.append("│")
        console.print(row, no_wrap=True, overflow="crop")
    if timeline.highlight is not None and timeline.steps:
        column = timeline.highlight * timeline.columns // timeline.steps
        console.print(Text(" " * (_LABEL + 2 + column) + f"^ step {timeline.highlight}"))
    legend = Text()
    for kind, (symbol, colour) in SYMBOLS.items():
        legend.append(symbol, style=colour)
        legend.append(f" {kind} ({timeline.kinds[kind]})  ")
    console.print(legend)
    return timeline


def _fit(name: str) -> str:
    name = clean_text(name)
    return name.rjust(_LABEL) if len(name) <= _LABEL else name[: _LABEL - 1] + "…"


def _line(body: Text, label: str, value: str, style: str = "", end: str = "\n") -> None:
    body.append(f"{label}: ", style="bold")
    body.append(clean_text(value) + end, style=style)
