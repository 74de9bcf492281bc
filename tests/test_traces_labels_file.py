"""Evaluation labels kept in a file of their own: reading, matching to traces, scoring."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ace.errors import InputError
from ace.eval import Analysis, apply_label_file, evaluate, load_label_file
from ace.outputs import Attribution
from ace.traces import Trace, load_labelled_traces


def write(path: Path, value: object) -> Path:
    path.write_text(json.dumps(value), encoding="utf-8")
    return path


def trajectories(folder: Path) -> Path:
    """Three one-trace logs (ids t1.log ..., stems t1 ...) and a file of two runs."""
    folder.mkdir()
    for name, lines in {
        "t1": "planner: plan\ncoder: wrote a bug\ntester: failed\n",
        "t2": "planner: plan\ncoder: fine\ntester: wrong test\n",
        "t3": "a: x\nb: y\n",
    }.items():
        (folder / f"{name}.log").write_text(lines, encoding="utf-8")
    runs = [
        {"id": "run-a", "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]},
        {"id": "run-b", "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "b"}]},
    ]  # fmt: skip
    (folder / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in runs))
    return folder


class _Fixed:
    """Answers from a table by trace id."""

    name = "fixed"

    def __init__(self, answers: dict[str, Attribution]) -> None:
        self.answers = answers

    def analyse(self, trace: Trace) -> Analysis:
        return Analysis(attribution=self.answers.get(trace.id))


def test_the_earliest_failure_decides_and_the_list_is_kept(tmp_path: Path) -> None:
    failures = [
        {"step_number": 5, "failed_agent": "tester", "failure_type": "wrong check"},
        {"step_number": "2", "failed_agent": "coder"},
        {"failed_agent": "planner"},
    ]
    labels = load_label_file(
        write(
            tmp_path / "gt.json",
            [
                {"trajectory_id": "t1", "failures": failures},
                {"trajectory_id": 7, "failures": [{"failed_agent": "x"}]},
                {"trajectory_id": "none", "failures": []},
            ],
        )
    )
    assert (labels["t1"].mistake_agent, labels["t1"].mistake_step) == ("coder", 2)
    assert labels["t1"].other == {"failures": failures}
    assert (labels["7"].mistake_agent, labels["7"].mistake_step) == ("x", None)
    assert labels["none"].mistake_agent is None and labels["none"].mistake_step is None


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ({"trajectory_id": "a"}, "expected a list of {trajectory_id, failures} entries"),
        ([{"failures": []}], "entry 0: 'trajectory_id': expected a string, got null"),
        ([{"trajectory_id": "a"}], "entry 0: 'failures': expected a list, got null"),
        (
            [{"trajectory_id": "a", "failures": [{"step_number": -1}]}],
            "entry 0 failures[0].step_number: expected a step index",
        ),
        (
            [{"trajectory_id": "a", "failures": [{"failed_agent": 3}]}],
            "failures[0].failed_agent: expected a string, got a number (3)",
        ),
        (
            [{"trajectory_id": "a", "failures": []}, {"trajectory_id": "a", "failures": []}],
            "entry 1: trajectory_id 'a' appears twice",
        ),
    ],
)
def test_a_malformed_labels_file_names_the_entry(
    tmp_path: Path, content: object, fragment: str
) -> None:
    path = write(tmp_path / "gt.json", content)
    with pytest.raises(InputError) as error:
        load_label_file(path)
    assert str(error.value).startswith(f"labels file {path}")
    assert fragment in str(error.value)
    (tmp_path / "broken.json").write_text("[{", encoding="utf-8")
    with pytest.raises(InputError, match="expected JSON"):
        load_label_file(tmp_path / "broken.json")


def test_matching_by_trace_id_or_the_stem_of_a_one_trace_file(tmp_path: Path) -> None:
    items = load_labelled_traces(trajectories(tmp_path / "set"))
    assert [item.trace.id for item in items] == ["run-a", "run-b", "t1.log", "t2.log", "t3.log"]
    labels = load_label_file(
        write(
            tmp_path / "gt.json",
            [
                {"trajectory_id": "t1", "failures": [{"step_number": 1, "failed_agent": "coder"}]},
                {"trajectory_id": "t2.log", "failures": [{"step_number": 2, "failed_agent": "tester"}]},
                {"trajectory_id": "run-b", "failures": [{"step_number": 1, "failed_agent": "assistant"}]},
                {"trajectory_id": "t3", "failures": []},
            ],
        )
    )  # fmt: skip
    labelled, skipped = apply_label_file(items, labels, name="gt.json")
    assert [(i.trace.id, i.labels.mistake_agent, i.labels.mistake_step) for i in labelled] == [
        ("run-b", "assistant", 1),
        ("t1.log", "coder", 1),
        ("t2.log", "tester", 2),
    ]
    assert [(s.trace_id, s.reason) for s in skipped] == [
        ("run-a", "no entry in gt.json"),
        ("t3.log", "its entry in gt.json lists no failure"),
    ]
    assert skipped[0].path.endswith("runs.jsonl line 1")

    report = evaluate(
        labelled,
        _Fixed({"t1.log": Attribution(agent="Coder", step=1), "t2.log": Attribution(step=0)}),
        skipped=skipped,
    )
    s = report.summary
    assert (s.traces, s.agent_accuracy, s.step_accuracy) == (3, 1 / 3, 1 / 3)
    assert report.skipped == skipped


def test_an_entry_matching_no_trace_is_an_error_listing_the_ids(tmp_path: Path) -> None:
    items = load_labelled_traces(trajectories(tmp_path / "set"))
    entries = [{"trajectory_id": f"ghost-{i}", "failures": []} for i in range(12)]
    entries.append({"trajectory_id": "runs", "failures": []})  # the stem of a two-trace file
    labels = load_label_file(write(tmp_path / "gt.json", entries))
    with pytest.raises(InputError) as error:
        apply_label_file(items, labels, name="gt.json")
    message = str(error.value)
    assert message.startswith("gt.json: 13 entries match no trajectory of the set: 'ghost-0'")
    assert "'ghost-9' and 3 more" in message and "ace traces inspect" in message
