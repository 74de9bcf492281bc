"""A trace as a timeline: one lane per agent, one mark per step, built on the host.

The page draws it as inline SVG (no script): each mark has a ``<title>`` tooltip and
links to the step's text further down. A long trace is aggregated: the steps are put
into at most ``max_columns`` columns, and each (lane, column) pair with steps in it is
one mark standing for all of them, so the number of marks stays below
``max_lanes * max_columns`` whatever the trace's length. Agents beyond ``max_lanes - 1``
share one "other agents" lane.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Literal

from ace.traces import Trace, TraceStep
from ace.viewer._sanitize import clean_text

StepKind = Literal["message", "tool", "error"]
"""What a step was: a plain message, a tool call or result, or an error."""

MAX_COLUMNS = 300
"""Columns of marks before steps are aggregated."""
MAX_LANES = 12
"""Lanes drawn; the least active agents beyond them share the last one."""
TEXT_BUDGET = 1_000_000
"""Characters of step text a page holds at most (each step's share is cut)."""

_WIDTH = 1000.0
_LABEL_WIDTH = 170.0
_LANE_HEIGHT = 24.0
_TOP = 6.0
_ERROR_LINE = re.compile(
    r"^\s*(Traceback \(most recent call last\)|[A-Za-z_.]*(Error|Exception)\b)", re.M
)
_OTHERS = "(other agents)"


@dataclass(frozen=True)
class Mark:
    """One drawn mark: a step, or the steps of one agent that fall in one column."""

    lane: int
    column: int
    x: float
    y: float
    width: float
    height: float
    first: int
    """The first step it stands for (its link goes to the attributed or first error
    step inside it, else to this one)."""
    target: int
    count: int
    kind: StepKind
    """The most notable kind among its steps: error, then tool, then message."""
    highlighted: bool
    title: str


@dataclass(frozen=True)
class Lane:
    """One agent's lane."""

    name: str
    steps: int
    y: float


@dataclass(frozen=True)
class StepView:
    """One step as the page lists it."""

    index: int
    agent: str
    kind: StepKind
    summary: str
    text: str
    highlighted: bool


@dataclass(frozen=True)
class Timeline:
    """Everything the timeline and its step list show."""

    trace_id: str
    steps: int
    lanes: list[Lane]
    marks: list[Mark]
    columns: int
    highlight: int | None
    step_views: list[StepView]
    width: float
    height: float
    label_width: float
    highlight_x: float | None
    """Centre of the attributed step's column, for the line drawn across the lanes."""

    @property
    def aggregated(self) -> bool:
        """Whether one mark can stand for several steps."""
        return self.columns < self.steps

    @property
    def kinds(self) -> Counter[str]:
        """How many steps of each kind the trace holds."""
        return Counter(view.kind for view in self.step_views)


def step_agent(step: TraceStep) -> str:
    """Who acted at ``step`` (its agent, else its role), cleaned for display."""
    return clean_text(step.agent or step.role or "(unnamed)").strip() or "(unnamed)"


def step_kind(step: TraceStep) -> StepKind:
    """``error`` for a step marked as failed or whose tool output is an exception;
    ``tool`` for a tool call or result; ``message`` otherwise."""
    role = (step.role or "").lower()
    outputs = [result.output[:2000] for result in step.tool_results]
    if "(error)" in role or any(_ERROR_LINE.search(output) for output in outputs):
        return "error"
    if step.tool_calls or step.tool_results or role.startswith(("tool", "function")):
        return "tool"
    return "message"


def build_timeline(
    trace: Trace,
    *,
    highlight: int | None = None,
    max_columns: int = MAX_COLUMNS,
    max_lanes: int = MAX_LANES,
) -> Timeline:
    """The timeline of ``trace`` with step ``highlight`` (the attributed one) marked."""
    from ace.traces._render import cut_middle, render_step

    steps = trace.steps
    count = len(steps)
    names = [step_agent(step) for step in steps]
    kinds = [step_kind(step) for step in steps]
    lane_names = _lane_names(names, max_lanes)
    lane_of = {name: position for position, name in enumerate(lane_names)}
    others = lane_of.get(_OTHERS)
    columns = max(1, min(count, max_columns))
    plot = _WIDTH - _LABEL_WIDTH - 4
    column_width = plot / columns
    if highlight is not None and not 0 <= highlight < count:
        highlight = None

    texts = [clean_text(render_step(step)) for step in steps]
    summaries = [
        _one_line(step.content or text, 100) for step, text in zip(steps, texts, strict=True)
    ]
    groups: dict[tuple[int, int], list[int]] = {}
    lane_steps: Counter[int] = Counter()
    for index, name in enumerate(names):
        lane = lane_of.get(name, others if others is not None else 0)
        lane_steps[lane] += 1
        groups.setdefault((lane, index * columns // count), []).append(index)
    marks = [
        _mark(lane, column, members, names, kinds, summaries, highlight, column_width)
        for (lane, column), members in sorted(groups.items())
    ]
    share = max(200, min(4_000, TEXT_BUDGET // max(count, 1)))
    views = [
        StepView(
            index=index,
            agent=names[index],
            kind=kinds[index],
            summary=summaries[index],
            text=cut_middle(texts[index], share),
            highlighted=index == highlight,
        )
        for index in range(count)
    ]
    lanes = [
        Lane(name=name, steps=lane_steps[position], y=_TOP + position * _LANE_HEIGHT)
        for position, name in enumerate(lane_names)
    ]
    highlight_x = (
        _LABEL_WIDTH + (highlight * columns // count + 0.5) * column_width
        if highlight is not None
        else None
    )
    return Timeline(
        trace_id=clean_text(trace.id),
        steps=count,
        lanes=lanes,
        marks=marks,
        columns=columns,
        highlight=highlight,
        step_views=views,
        width=_WIDTH,
        height=_TOP * 2 + max(len(lanes), 1) * _LANE_HEIGHT,
        label_width=_LABEL_WIDTH,
        highlight_x=highlight_x,
    )


def _lane_names(names: list[str], max_lanes: int) -> list[str]:
    """Agents in order of first appearance; past ``max_lanes`` the least active share a
    lane."""
    order = list(dict.fromkeys(names))
    if len(order) <= max_lanes:
        return order
    counts = Counter(names)
    kept = set(sorted(order, key=lambda name: -counts[name])[: max_lanes - 1])
    return [name for name in order if name in kept] + [_OTHERS]


def _mark(
    lane: int,
    column: int,
    members: list[int],
    names: list[str],
    kinds: list[StepKind],
    summaries: list[str],
    highlight: int | None,
    column_width: float,
) -> Mark:
    first, last = members[0], members[-1]
    counted = Counter(kinds[i] for i in members)
    kind: StepKind = "error" if counted["error"] else "tool" if counted["tool"] else "message"
    hit = highlight is not None and highlight in members
    errors = [i for i in members if kinds[i] == "error"]
    target = highlight if hit and highlight is not None else (errors[0] if errors else first)
    agents = sorted({names[i] for i in members})
    who = ", ".join(agents[:3]) + (f" and {len(agents) - 3} more" if len(agents) > 3 else "")
    if len(members) == 1:
        title = f"step {first} · {who} · {kind}: {summaries[first]}"
    else:
        title = (
            f"steps {first}–{last} · {who}: {len(members)} steps "
            f"({counted['tool']} tool, {counted['error']} error)"
        )
    if hit:
        title += f" · attributed step {highlight}"
    gap = min(1.0, column_width * 0.15)
    return Mark(
        lane=lane,
        column=column,
        x=round(_LABEL_WIDTH + column * column_width + gap / 2, 2),
        y=_TOP + lane * _LANE_HEIGHT + 3,
        width=round(max(column_width - gap, 0.6), 2),
        height=_LANE_HEIGHT - 6,
        first=first,
        target=target,
        count=len(members),
        kind=kind,
        highlighted=hit,
        title=title,
    )


def _one_line(text: str, limit: int) -> str:
    line = " ".join(clean_text(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
