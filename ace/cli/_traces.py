"""``ace traces inspect|convert``: what a trace file holds, and its normalised form.

Also the one place the CLI reads a trace argument: a path (file or folder), or ``-`` for
standard input, read by the same rules as a file without a known suffix.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ace.cli._main import CLIError

if TYPE_CHECKING:
    from ace.traces import LabelledTrace, Trace, TraceLabels, TraceStep

STDIN = "-"
_SHOWN_TRACES = 20
_STEP_CHARS = 110
_NAMED_LABELS = ("mistake_agent", "mistake_step", "mistake_reason", "mistake_type")


def run(args: argparse.Namespace) -> int:
    """Inspect or convert ``args.file``."""
    if args.action == "convert":
        return _convert(args)
    summary = inspect_traces(iter_argument(args.file, args.format), name=_name(args.file))
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(format_summary(summary))
    return 0


def load_argument(file: str, fmt: str | None = None) -> list[LabelledTrace]:
    """The traces of a FILE argument: a file or folder, or ``-`` for standard input."""
    from ace.traces import load_labelled_traces
    from ace.traces.load import load_labelled_bytes

    if file == STDIN:
        if sys.stdin.isatty():
            print("reading the trace from standard input (end it with Ctrl-D)", file=sys.stderr)
        return load_labelled_bytes(sys.stdin.buffer.read(), name="<stdin>", format=fmt)
    return load_labelled_traces(Path(file), format=fmt)


def iter_argument(file: str, fmt: str | None = None) -> Iterator[LabelledTrace]:
    """The traces of a FILE argument one at a time (a big OpenTelemetry JSONL file in
    bounded memory); standard input is read whole."""
    from ace.traces.load import iter_labelled_traces

    if file == STDIN:
        yield from load_argument(file, fmt)
        return
    yield from iter_labelled_traces(Path(file), format=fmt)


def pick_trace(file: str, index: int | None) -> Trace:
    """The one trace ``ace rr analyse`` runs on: the file's only trace, or ``--index N``.
    The traces are read one at a time; only the one chosen is kept."""
    return pick_labelled(file, index).trace


def pick_labelled(file: str, index: int | None, fmt: str | None = None) -> LabelledTrace:
    """The file's only trace, or its ``--index N``, with its labels (as ``pick_trace``)."""
    name = _name(file)
    count = 0
    chosen: LabelledTrace | None = None
    formats: set[str] = set()
    for position, item in enumerate(iter_argument(file, fmt)):
        count += 1
        formats.add(item.trace.format)
        if position == (index or 0):
            chosen = item
    if count == 0 or (chosen is None and index is None):
        raise CLIError(f"{name}: no trace files found (.json, .jsonl, .txt, .log)")
    if index is not None:
        if chosen is None:
            raise CLIError(
                f"--index {index}: {name} holds {_traces(count)} (0 to {count - 1}); "
                f"ace traces inspect {file} lists them"
            )
        return chosen
    if count > 1:
        raise CLIError(
            f"{name} holds {_traces(count)} ({', '.join(sorted(formats))}); analyse one with "
            f"--index N (0 to {count - 1}; ace traces inspect {file} lists them)"
        )
    assert chosen is not None
    return chosen


def inspect_traces(items: Iterable[LabelledTrace], *, name: str) -> dict[str, Any]:
    """What ``ace traces inspect`` reports, as JSON-ready data. ``items`` is read once, one
    trace at a time: only each trace's summary is kept."""
    formats: Counter[str] = Counter()
    agents: Counter[str] = Counter()
    labels: Counter[str] = Counter()
    span = _Span()
    steps = 0
    listed: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        trace = item.trace
        formats[trace.format] += 1
        steps += len(trace.steps)
        agents.update(_step_agent(step) for step in trace.steps)
        keys = label_keys(item.labels)
        labels.update(keys)
        own = _Span()
        own.add(trace.steps)
        span.merge(own)
        listed.append(
            {
                "index": index,
                "id": trace.id,
                "format": trace.format,
                "source": trace.source.describe() if trace.source else None,
                "steps": len(trace.steps),
                "agents": _agents(trace.steps),
                "time_span": own.summary(),
                "labels": keys,
                "first_step": _short(trace.steps[0]) if trace.steps else None,
                "last_step": _short(trace.steps[-1]) if len(trace.steps) > 1 else None,
            }
        )
    return {
        "file": name,
        "formats": dict(formats.most_common()),
        "traces": len(listed),
        "steps": steps,
        "agents": dict(agents.most_common()),
        "time_span": span.summary(),
        "labels": dict(labels.most_common()),
        "items": listed,
    }


def format_summary(summary: dict[str, Any]) -> str:
    """The summary as lines for the terminal (trace text stripped of control sequences)."""
    from ace.viewer._sanitize import clean_text

    formats = summary["formats"]
    shown_formats = (
        f"format {next(iter(formats))}"
        if len(formats) == 1
        else "formats " + ", ".join(f"{name} {count}" for name, count in formats.items())
    )
    lines = [
        f"{summary['file']}: {shown_formats} · {_traces(summary['traces'])} · "
        f"{summary['steps']} step{'' if summary['steps'] == 1 else 's'}"
    ]
    if summary["agents"]:
        lines.append("agents: " + _counts(summary["agents"]))
    if summary["time_span"]:
        lines.append(f"time span: {_shown_span(summary['time_span'])}")
    labels = summary["labels"]
    taken = _counts(labels) if summary["traces"] > 1 else ", ".join(labels)
    lines.append(f"labels taken out (never shown to a reflector): {taken or 'none'}")
    for item in summary["items"][:_SHOWN_TRACES]:
        parts = [f"#{item['index']} {item['id']}", f"{item['steps']} steps"]
        if len(formats) > 1:
            parts.insert(1, item["format"])
        if item["time_span"]:
            parts.append(_shown_span(item["time_span"]))
        lines.append(" · ".join(parts))
        if item["first_step"] is not None:
            lines.append(f"   first {item['first_step']}")
        if item["last_step"] is not None:
            lines.append(f"   last  {item['last_step']}")
    hidden = summary["traces"] - _SHOWN_TRACES
    if hidden > 0:
        lines.append(f"… and {_traces(hidden)} more (--json lists every one)")
    return clean_text("\n".join(lines))


def label_keys(labels: TraceLabels) -> list[str]:
    """The keys a trace's record held as labels: Who&When's named ones, then the others."""
    named = [key for key in _NAMED_LABELS if getattr(labels, key) is not None]
    return named + list(labels.other)


def _convert(args: argparse.Namespace) -> int:
    from ace.cli._outputs import check_file

    out = check_file("--out", args.out)
    items = load_argument(args.file, args.format)
    documents = [
        (
            {
                "trace": item.trace.model_dump(mode="json"),
                "labels": item.labels.model_dump(mode="json"),
            }
            if args.with_labels
            else item.trace.model_dump(mode="json")
        )
        for item in items
    ]
    if out is None:
        print(json.dumps(documents, indent=2))
        return 0
    from ace._files import atomic_write

    atomic_write(out, json.dumps(documents, indent=2, ensure_ascii=False) + "\n")
    labels = " with their labels" if args.with_labels else ""
    print(f"wrote {_traces(len(items))}{labels} to {out}", file=sys.stderr)
    return 0


def _agents(steps: list[TraceStep]) -> dict[str, int]:
    return dict(Counter(_step_agent(step) for step in steps).most_common())


def _step_agent(step: TraceStep) -> str:
    return step.agent or step.role or "(unnamed)"


class _Span:
    """The earliest and latest step times seen so far (the first of equal ones)."""

    def __init__(self) -> None:
        self.start: tuple[datetime, str] | None = None
        self.end: tuple[datetime, str] | None = None

    def add(self, steps: list[TraceStep]) -> None:
        for step in steps:
            if step.timestamp is None:
                continue
            moment = _moment(step.timestamp)
            if moment is not None:
                self._put((moment, step.timestamp), (moment, step.timestamp))

    def merge(self, other: _Span) -> None:
        if other.start is not None and other.end is not None:
            self._put(other.start, other.end)

    def _put(self, start: tuple[datetime, str], end: tuple[datetime, str]) -> None:
        if self.start is None or start[0] < self.start[0]:
            self.start = start
        if self.end is None or end[0] > self.end[0]:
            self.end = end

    def summary(self) -> dict[str, Any] | None:
        if self.start is None or self.end is None:
            return None
        seconds = (self.end[0] - self.start[0]).total_seconds()
        return {"start": self.start[1], "end": self.end[1], "seconds": seconds}


def _moment(text: str) -> datetime | None:
    """A timestamp as a time: ISO 8601 (without a zone taken as UTC), or epoch seconds
    (milliseconds when the number is too large for seconds)."""
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(seconds):
            return None
        try:
            return datetime.fromtimestamp(seconds / 1000 if seconds > 1e11 else seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _shown_span(span: dict[str, Any]) -> str:
    return f"{span['start']} → {span['end']} ({_duration(span['seconds'])})"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.3g} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 120:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def _short(step: TraceStep) -> str:
    from ace.traces._render import render_step

    text = " ".join(render_step(step).split())
    return text if len(text) <= _STEP_CHARS else text[: _STEP_CHARS - 1] + "…"


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in counts.items())


def _traces(count: int) -> str:
    return f"{count} trace{'' if count == 1 else 's'}"


def _name(file: str) -> str:
    return "<stdin>" if file == STDIN else file
