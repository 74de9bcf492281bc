"""Plain-text rendering of an :class:`EvalReport` for the terminal and for notes."""

from __future__ import annotations

from ace.eval.runner import EvalReport


def format_report(report: EvalReport) -> str:
    """The summary as aligned lines: accuracies with counts, then per-trace spending."""
    s = report.summary
    results = report.results
    setting = [f"reflector={report.reflector}"]
    if report.model:
        setting.append(f"model={report.model}")
    if report.seed is not None:
        setting.append(f"seed={report.seed}")
    where = f" on {report.dataset}" if report.dataset else ""
    count = f"{s.traces} trace" + ("" if s.traces == 1 else "s")
    lines = [f"Evaluation ({', '.join(setting)}){where}: {count}"]

    agent_hits = sum(r.agent_correct for r in results if r.label_agent is not None)
    lines.append(_row("agent accuracy", agent_hits, s.agent_labelled, s.agent_accuracy))

    def step_hits(k: int) -> int:
        return sum(
            r.step_distance is not None and r.step_distance <= k
            for r in results
            if r.label_step is not None
        )

    lines.append(_row("exact step accuracy", step_hits(0), s.step_labelled, s.step_accuracy))
    for k, value in s.step_within.items():
        lines.append(_row(f"step within ±{k}", step_hits(k), s.step_labelled, value))
    unfinished = [r for r in results if r.outcome in {"timeout", "error"}]
    if unfinished:
        lines.append(
            f"  {'unfinished sessions':<22}{len(unfinished)} (no FINAL: budget, time or model "
            "errors; see the JSON)"
        )
    if s.errors:
        lines.append(f"  {'failed traces':<22}{s.errors} (scored as wrong; see the JSON)")
    cost = "unpriced" if s.cost_usd_per_trace is None else f"${s.cost_usd_per_trace:.4f}"
    total = "unpriced" if s.total_cost_usd is None else f"${s.total_cost_usd:.4f}"
    lines.append(
        f"  {'per trace':<22}{s.calls_per_trace:.1f} calls · {s.tokens_per_trace:,.0f} tokens"
        f" · {cost} · {s.seconds_per_trace:.2f} s"
    )
    lines.append(f"  {'total':<22}{total} · {s.total_seconds:.1f} s")
    return "\n".join(lines)


def _row(label: str, hits: int, total: int, value: float | None) -> str:
    shown = "n/a" if value is None else f"{100 * value:5.1f}%"
    return f"  {label:<22}{shown:>7}  ({hits}/{total})"
