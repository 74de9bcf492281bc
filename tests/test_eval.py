"""Evaluation: scoring against hand-computed numbers, the seeded random baseline, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _cli_support import SHARED_DATA as DATA
from _cli_support import run_cli, who_and_when_record, write_labelled

from ace.eval import (
    Analysis,
    RandomReflector,
    SimpleReflector,
    evaluate,
    format_report,
    same_agent,
    score,
    summarise,
)
from ace.outputs import Attribution
from ace.testing import ScriptedModel
from ace.traces import Trace, TraceLabels, load_labelled_traces


class _Fixed:
    """Answers from a table by trace id: a reflector whose answers we choose."""

    name = "fixed"

    def __init__(self, answers: dict[str, Attribution | None]) -> None:
        self.answers = answers

    def analyse(self, trace: Trace) -> Analysis:
        return Analysis(
            attribution=self.answers[trace.id],
            calls=2,
            prompt_tokens=100,
            completion_tokens=20,
            cost_usd=0.01,
        )


def test_agent_names_match_case_insensitively() -> None:
    assert same_agent(" websurfer", "WebSurfer")
    assert not same_agent(None, "WebSurfer") and not same_agent("Web", "WebSurfer")


def test_score_of_one_trace() -> None:
    labels = TraceLabels(mistake_agent="Orchestrator", mistake_step=7)
    result = score("t", Attribution(agent="orchestrator", step=5), labels)
    assert result.agent_correct and result.step_distance == 2
    assert score("t", None, labels).step_distance is None


def test_scores_on_four_files_match_hand_computed_numbers(tmp_path: Path) -> None:
    agents = ["planner", "coder", "tester", "coder", "planner"]
    data = write_labelled(
        tmp_path,
        [
            who_and_when_record(agents, "coder", 1),
            who_and_when_record(agents, "tester", 2),
            who_and_when_record(agents, "planner", 4),
            who_and_when_record(agents, "coder", 3),
        ],
    )
    items = load_labelled_traces(data)
    ids = [item.trace.id for item in items]
    answers = {
        ids[0]: Attribution(agent="CODER", step=1),  # agent right, step exact
        ids[1]: Attribution(agent="coder", step=3),  # agent wrong, step off by 1
        ids[2]: Attribution(agent="planner", step=1),  # agent right, step off by 3
        ids[3]: None,  # no answer: wrong on everything
    }
    report = evaluate(items, _Fixed(answers), tolerances=(1, 2, 3))
    s = report.summary
    # Hand-computed: agents right on 2 of 4; exact step 1/4; within ±1: 2/4; ±2: 2/4; ±3: 3/4.
    assert (s.traces, s.agent_labelled, s.step_labelled) == (4, 4, 4)
    assert s.agent_accuracy == 0.5 and s.step_accuracy == 0.25
    assert s.step_within == {1: 0.5, 2: 0.5, 3: 0.75}
    assert s.calls_per_trace == 2 and s.tokens_per_trace == 120
    assert s.total_cost_usd == pytest.approx(0.04) and s.cost_usd_per_trace == pytest.approx(0.01)
    text = format_report(report)
    lines = {line.split("  ")[1].strip(): line for line in text.splitlines()[1:]}
    assert lines["agent accuracy"].endswith("50.0%  (2/4)")
    assert lines["exact step accuracy"].endswith("25.0%  (1/4)")
    assert lines["step within ±3"].endswith("75.0%  (3/4)")


def test_unlabelled_traces_leave_the_denominators() -> None:
    labelled = score(
        "a", Attribution(agent="x", step=1), TraceLabels(mistake_agent="x", mistake_step=1)
    )
    unlabelled = score("b", Attribution(agent="x", step=1), TraceLabels())
    s = summarise([labelled, unlabelled])
    assert (s.agent_labelled, s.step_labelled) == (1, 1)
    assert s.agent_accuracy == 1.0 and s.step_accuracy == 1.0


def test_unpriced_calls_make_the_cost_unknown_not_zero() -> None:
    a = score("a", None, TraceLabels()).model_copy(update={"cost_usd": None})
    b = score("b", None, TraceLabels())
    assert summarise([a, b]).total_cost_usd is None


def test_random_baseline_is_reproducible_with_a_seed() -> None:
    items = load_labelled_traces(DATA / "algorithm_generated")[:40]
    first = evaluate(items, RandomReflector(seed=7))
    again = evaluate(items, RandomReflector(seed=7))
    other = evaluate(items, RandomReflector(seed=8))
    picks = [(r.predicted_agent, r.predicted_step) for r in first.results]
    assert picks == [(r.predicted_agent, r.predicted_step) for r in again.results]
    assert picks != [(r.predicted_agent, r.predicted_step) for r in other.results]
    # A trace's guess does not depend on the traces around it.
    alone = evaluate(items[5:6], RandomReflector(seed=7)).results[0]
    assert (alone.predicted_agent, alone.predicted_step) == picks[5]


@pytest.mark.slow
def test_random_baseline_matches_its_expected_accuracy() -> None:
    """Averaged over seeds, the scorer must give the analytic expectation of a uniform guess:
    mean of 1/len(steps) for the exact step, of 1/distinct agents for the agent."""
    items = load_labelled_traces(DATA / "algorithm_generated")
    expected_step = sum(1 / len(i.trace.steps) for i in items) / len(items)
    expected_agent = sum(1 / len({s.agent for s in i.trace.steps if s.agent}) for i in items) / len(
        items
    )
    runs = [evaluate(items, RandomReflector(seed=seed)).summary for seed in range(150)]
    mean_step = sum(r.step_accuracy or 0 for r in runs) / len(runs)
    mean_agent = sum(r.agent_accuracy or 0 for r in runs) / len(runs)
    assert mean_step == pytest.approx(expected_step, abs=0.01)
    assert mean_agent == pytest.approx(expected_agent, abs=0.015)


def test_simple_reflector_through_a_scripted_model(tmp_path: Path) -> None:
    data = write_labelled(
        tmp_path,
        [who_and_when_record(["a", "b", "c"], "b", 1), who_and_when_record(["a", "b"], "a", 0)],
    )
    reply = json.dumps({"reasoning": "r", "attribution": {"agent": "B", "step": 1, "reason": "x"}})
    model = ScriptedModel([reply, reply])
    report = evaluate(load_labelled_traces(data), SimpleReflector(model.name))
    assert [r.agent_correct for r in report.results] == [True, False]
    assert [r.step_distance for r in report.results] == [0, 1]
    assert all(r.calls == 1 and r.prompt_tokens > 0 for r in report.results)


def test_a_failing_reflector_is_recorded_and_the_run_goes_on(tmp_path: Path) -> None:
    data = write_labelled(tmp_path, [who_and_when_record(["a", "b"], "a", 0)] * 2)
    reply = json.dumps({"attribution": {"agent": "a", "step": 0}})
    model = ScriptedModel([reply])  # one reply for two traces
    report = evaluate(load_labelled_traces(data), SimpleReflector(model.name))
    assert report.results[0].error is None and report.results[0].agent_correct
    assert "ScriptExhausted" in (report.results[1].error or "")
    assert report.summary.errors == 1 and report.summary.agent_accuracy == 0.5


def test_an_rr_session_that_fails_names_its_cause_in_the_result(tmp_path: Path) -> None:
    """A session that ends in a failure reflection (here: no sandbox) returns normally;
    its result still says why, instead of an error-free result with no attribution."""
    from ace.eval import RRReflector

    data = write_labelled(tmp_path, [who_and_when_record(["a", "b"], "a", 0)])
    reflector = RRReflector(ScriptedModel([]).name)

    def no_sandbox() -> object:
        raise OSError("bubblewrap is missing on this node")

    reflector._step.kernel_factory = no_sandbox  # type: ignore[assignment]
    report = evaluate(load_labelled_traces(data), reflector)
    result = report.results[0]
    assert result.outcome == "error" and result.calls == 0
    assert "OSError: bubblewrap is missing on this node" in (result.error or "")
    assert report.summary.errors == 1


def test_eval_command_reports_and_saves_json(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    result = run_cli(
        "rr",
        "eval",
        str(DATA / "algorithm_generated"),
        "--reflector",
        "random",
        "--seed",
        "3",
        "--limit",
        "20",
        "--tolerance",
        "2",
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    assert (
        "Evaluation (reflector=random, seed=3) on algorithm_generated: 20 traces" in result.stdout
    )
    assert "step within ±2" in result.stdout and "step within ±1 " not in result.stdout
    assert result.stderr.count("\n") == 20  # one progress line per trace off a terminal
    saved = json.loads(out.read_text(encoding="utf-8"))
    assert saved["reflector"] == "random" and saved["seed"] == 3 and len(saved["results"]) == 20
    again = run_cli(
        "rr",
        "eval",
        str(DATA / "algorithm_generated"),
        "--reflector",
        "random",
        "--seed",
        "3",
        "--limit",
        "20",
        "--out",
        str(tmp_path / "again.json"),
    )
    repeated = json.loads((tmp_path / "again.json").read_text(encoding="utf-8"))
    assert again.returncode == 0
    assert [r["predicted_step"] for r in repeated["results"]] == [
        r["predicted_step"] for r in saved["results"]
    ]
