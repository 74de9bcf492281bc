"""Who&When records: real labelled files, step alignment with ``mistake_step``, no label leaks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ace.traces import (
    DEFAULT_LABEL_KEYS,
    OUTCOME_KEYS,
    LabelledTrace,
    load_labelled_trace,
    load_labelled_traces,
    load_trace,
    load_traces,
)

SETS = ("algorithm_generated", "hand_crafted")
SAMPLE = Path(__file__).resolve().parent / "data" / "who_and_when"
"""The Who&When files read by name, shipped with the tests (see its README)."""


def who_and_when_dir() -> Path:
    """The whole shared Who&When data (beside the repo, as in CI), for the tests that read
    every file; skip when it is absent."""
    path = Path(__file__).resolve().parents[2] / "shared" / "data" / "who_and_when"
    if not path.is_dir():
        pytest.skip(f"shared Who&When data not found at {path} (CI keeps it beside the repo)")
    return path


def files(name: str) -> list[Path]:
    return sorted((who_and_when_dir() / name).glob("*.json"))


def longest_hand_crafted() -> Path:
    return max(files("hand_crafted"), key=lambda p: p.stat().st_size)


def assert_label_free(item: LabelledTrace, record: dict[str, object]) -> None:
    dumped = item.trace.to_json()
    for key in DEFAULT_LABEL_KEYS:
        assert f'"{key}"' not in dumped
    reason = record.get("mistake_reason")
    assert isinstance(reason, str) and reason not in dumped
    raw = item.trace.model_dump(mode="json")["raw"]
    assert isinstance(raw, dict)
    assert set(raw) == set(record) - DEFAULT_LABEL_KEYS
    assert raw["history"] == record["history"]


@pytest.mark.parametrize("name", SETS)
def test_every_file_loads_aligned_and_label_free(name: str) -> None:
    for path in files(name):
        record = json.loads(path.read_text())
        item = load_labelled_traces(path)[0]
        trace = item.trace
        assert trace.format == "who_and_when"
        assert trace.id == record["question_ID"]
        assert trace.source is not None and trace.source.path == str(path)
        assert (trace.question, trace.ground_truth) == (record["question"], record["ground_truth"])
        assert trace.is_correct is False
        assert len(trace.steps) == len(record["history"])
        for step, message in zip(trace.steps, record["history"], strict=True):
            assert step.content == message["content"]
            assert step.role == message["role"]
        assert item.labels.mistake_step == int(record["mistake_step"])
        assert item.labels.mistake_agent == record["mistake_agent"]
        assert item.labels.mistake_reason == record["mistake_reason"]
        assert item.labels.mistake_type == record.get("mistake_type")
        assert_label_free(item, record)


def test_attribution_step_scores_against_mistake_step() -> None:
    """An attribution's ``step`` is an index into ``Trace.steps``, equal to ``history``'s."""
    path = SAMPLE / "hand_crafted" / "55.json"
    record = json.loads(path.read_text())
    item = load_labelled_traces(path)[0]
    step = item.trace.steps[int(record["mistake_step"])]
    assert step.index == item.labels.mistake_step == 18
    assert step.content == record["history"][18]["content"]
    assert (step.role, step.agent) == ("Orchestrator (-> WebSurfer)", "Orchestrator")
    assert step.agent == item.labels.mistake_agent


def test_agent_is_name_else_role_without_qualifier() -> None:
    generated = load_trace(json.loads((SAMPLE / "algorithm_generated" / "1.json").read_text()))
    assert (generated.steps[0].agent, generated.steps[0].role) == ("Excel_Expert", "assistant")
    assert (generated.steps[1].agent, generated.steps[1].role) == ("Computer_terminal", "user")
    hand = load_trace(json.loads((SAMPLE / "hand_crafted" / "1.json").read_text()))
    assert {(s.role, s.agent) for s in hand.steps} >= {
        ("human", "human"),
        ("Orchestrator (thought)", "Orchestrator"),
        ("WebSurfer", "WebSurfer"),
    }


def test_longest_hand_crafted_file_loads_and_renders_bounded() -> None:
    path = longest_hand_crafted()
    record = json.loads(path.read_text())
    (trace,) = load_traces(path)
    assert len(trace.steps) == len(record["history"]) > 100
    text = trace.render(max_chars=12_000)
    assert len(text) <= 12_000
    assert "steps cut here" in text and "[0] human:" in text
    assert f"[{len(trace.steps) - 1}] " in text


def test_stray_labels_field_is_a_label() -> None:
    path = SAMPLE / "algorithm_generated" / "30.json"
    item = load_labelled_traces(path)[0]
    assert item.labels.other == {"labels": "Factual_Error"}
    assert "Factual_Error" not in item.trace.to_json()


def test_labels_removed_at_any_depth_and_extra_keys() -> None:
    record = {
        "question": "Q",
        "mistake_agent": "A",
        "grader": "rubric-7",
        "steps": [{"content": "hi", "meta": {"mistake_step": 0, "keep": 1}}],
        "extra": [{"mistake_reason": "nested"}],
    }
    item = load_labelled_trace(record, extra_label_keys={"grader"})
    assert item.labels.mistake_agent == "A" and item.labels.other == {"grader": "rubric-7"}
    assert item.trace.raw == {
        "question": "Q",
        "steps": [{"content": "hi", "meta": {"keep": 1}}],
        "extra": [{}],
    }
    assert record["mistake_agent"] == "A"  # the caller's object is not mutated


def test_outcome_is_feedback_unless_configured_as_a_label() -> None:
    path = SAMPLE / "hand_crafted" / "1.json"
    record = json.loads(path.read_text())
    assert load_trace(record).is_correct is False
    hidden = load_labelled_trace(record, extra_label_keys=OUTCOME_KEYS)
    assert hidden.trace.is_correct is None
    assert "is_corrected" not in hidden.trace.to_json()
    assert hidden.labels.other == {"is_corrected": False}


def test_jsonl_of_who_and_when_records(tmp_path: Path) -> None:
    sources = sorted((SAMPLE / "algorithm_generated").glob("*.json"))[:3]
    path = tmp_path / "ww.jsonl"
    path.write_text("".join(json.dumps(json.loads(p.read_text())) + "\n" for p in sources))
    loaded = load_labelled_traces(path)
    assert [item.trace.source.line if item.trace.source else None for item in loaded] == [1, 2, 3]
    assert all(item.labels.mistake_step is not None for item in loaded)
    assert all("mistake_" not in item.trace.to_json() for item in loaded)
