"""The evaluation report page: several ``ace rr eval`` results files compared at a glance.

For each results file (one reflector run): accuracy by step tolerance (0 to ±5) and
agent accuracy, a per-trace table (label, prediction, distance, calls, cost, time, and a
link to the transcript page when one is known), an agent confusion table, and the
distributions of cost and time per trace, all drawn on the host as inline SVG.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ace.errors import InputError
from ace.eval.runner import EvalReport
from ace.eval.scoring import TraceResult, same_agent
from ace.viewer._charts import Chart, grouped_bars, histograms, short_number
from ace.viewer._sanitize import clean_text

TOLERANCES: tuple[int, ...] = (0, 1, 2, 3, 4, 5)
"""The step tolerances the page reports (0 is the exact step)."""
_RELATIVE_LINK = re.compile(r"(?:[A-Za-z0-9_.-]+/)*[A-Za-z0-9_.-]+")
"""A link the page accepts: a relative path of plain names (no scheme, query or space)."""
MAX_CONFUSION_COLUMNS = 12
"""Predicted agents shown as columns of a confusion table; the rest share one."""


@dataclass(frozen=True)
class Run:
    """One results file as the page shows it."""

    name: str
    """``rr · openai/gpt-4o · a.json``: reflector, model and file."""
    report: EvalReport
    accuracy: dict[int, float | None]
    """Step accuracy within ``±k`` by ``k`` in ``TOLERANCES``."""
    agent_accuracy: float | None
    rows: list[Row]
    confusion: Confusion


@dataclass(frozen=True)
class Row:
    """One trace of the per-trace table (text cleaned of control codes)."""

    result: TraceResult
    trace_id: str
    label: str
    prediction: str
    link: str | None


@dataclass(frozen=True)
class Confusion:
    """Counts of (labelled agent, predicted agent) pairs."""

    labels: list[str]
    predictions: list[str]
    counts: dict[tuple[str, str], int]


def load_report(path: str | os.PathLike[str]) -> EvalReport:
    """Read a results file ``ace rr eval`` wrote; ``InputError`` names the file and says
    what to give instead when it is missing or not such a report."""
    from pydantic import ValidationError

    file = Path(path)
    hint = "give the results JSON that ace rr eval wrote (its --out)"
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"results file {file}: no such file; {hint}") from None
    except UnicodeDecodeError:
        raise InputError(f"results file {file}: not UTF-8 text; {hint}") from None
    except OSError as exc:
        raise InputError(f"results file {file}: cannot read ({exc.strerror or exc})") from None
    try:
        return EvalReport.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the document"
        raise InputError(
            f"results file {file}: not an evaluation report ({where}: {first['msg']}); {hint}"
        ) from None


def build_runs(
    reports: Sequence[tuple[str, EvalReport]],
    links: Sequence[Mapping[str, str]] = (),
) -> list[Run]:
    """The page's view of each ``(file name, report)``; ``links[i]`` maps trace ids of the
    i-th report to the address of their transcript page."""
    runs = []
    for position, (file, report) in enumerate(reports):
        own = links[position] if position < len(links) else {}
        parts = [report.reflector, report.model or "", file]
        results = report.results
        step_pool = [r for r in results if r.label_step is not None]
        agent_pool = [r for r in results if r.label_agent is not None]
        accuracy = {
            k: (
                sum(r.step_distance is not None and r.step_distance <= k for r in step_pool)
                / len(step_pool)
                if step_pool
                else None
            )
            for k in TOLERANCES
        }
        runs.append(
            Run(
                name=clean_text(" · ".join(part for part in parts if part)),
                report=report,
                accuracy=accuracy,
                agent_accuracy=(
                    sum(r.agent_correct for r in agent_pool) / len(agent_pool)
                    if agent_pool
                    else None
                ),
                rows=[_row(result, own.get(result.trace_id)) for result in results],
                confusion=_confusion(results),
            )
        )
    return runs


def charts(runs: Sequence[Run]) -> dict[str, Chart]:
    """The page's three charts: accuracy by tolerance, cost and time per trace."""
    names = [run.name for run in runs]
    accuracy = grouped_bars(
        "Step accuracy by tolerance",
        ["exact" if k == 0 else f"±{k}" for k in TOLERANCES],
        names,
        [[run.accuracy[k] for k in TOLERANCES] for run in runs],
    )
    cost = histograms(
        "Cost per trace (USD)",
        names,
        [[r.cost_usd for r in run.report.results if r.cost_usd is not None] for run in runs],
        unit=lambda v: f"${short_number(v)}",
    )
    time = histograms(
        "Time per trace (s)",
        names,
        [[r.duration_s for r in run.report.results] for run in runs],
        unit=lambda v: f"{short_number(v)}s",
    )
    return {"accuracy": accuracy, "cost": cost, "time": time}


def render_eval_html(
    reports: Sequence[tuple[str, EvalReport]], links: Sequence[Mapping[str, str]] = ()
) -> str:
    """The report page as one self-contained HTML document."""
    from ace.viewer._page import render_page

    runs = build_runs(reports, links)
    return render_page(
        "eval_report.html.j2",
        runs=runs,
        charts=charts(runs),
        tolerances=TOLERANCES,
        percent=_percent,
    )


def write_eval_html(
    reports: Sequence[tuple[str, EvalReport]],
    path: str | os.PathLike[str],
    links: Sequence[Mapping[str, str]] = (),
) -> Path:
    """Render and write the report page; returns its path."""
    from ace.viewer._page import write_page

    return write_page(render_eval_html(reports, links), path)


def _row(result: TraceResult, link: str | None) -> Row:
    return Row(
        result=result,
        trace_id=clean_text(result.trace_id),
        label=_where(result.label_agent, result.label_step),
        prediction=_where(result.predicted_agent, result.predicted_step),
        link=link if link is not None and _RELATIVE_LINK.fullmatch(link) else None,
    )


def _where(agent: str | None, step: int | None) -> str:
    parts = [clean_text(agent) if agent else "", f"step {step}" if step is not None else ""]
    return " · ".join(part for part in parts if part) or "—"


def _confusion(results: Sequence[TraceResult]) -> Confusion:
    labelled = [r for r in results if r.label_agent is not None]
    labels = sorted({clean_text(r.label_agent or "").strip() for r in labelled})
    pairs: Counter[tuple[str, str]] = Counter()
    for r in labelled:
        label = clean_text(r.label_agent or "").strip()
        predicted = _prediction(r.predicted_agent, labels)
        pairs[(label, predicted)] += 1
    by_count = Counter[str]()
    for (_, predicted), count in pairs.items():
        by_count[predicted] += count
    named = [p for p in labels if p in by_count]
    others = sorted((p for p in by_count if p not in labels), key=lambda p: -by_count[p])
    columns = named + others
    if len(columns) > MAX_CONFUSION_COLUMNS:
        kept = set(columns[: MAX_CONFUSION_COLUMNS - 1])
        folded: Counter[tuple[str, str]] = Counter()
        for (label, predicted), count in pairs.items():
            folded[(label, predicted if predicted in kept else "(other)")] += count
        pairs = folded
        columns = [c for c in columns if c in kept] + ["(other)"]
    return Confusion(labels=labels, predictions=columns, counts=dict(pairs))


def _prediction(agent: str | None, labels: list[str]) -> str:
    if agent is None or not agent.strip():
        return "(none)"
    for label in labels:
        if same_agent(agent, label):
            return label
    return clean_text(agent).strip()


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"
