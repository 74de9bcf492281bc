"""Data users bring from the established ACE package: skillbooks of 0.9.3 and later load
and round-trip (provenance, similarity decisions, unknown fields), ids of any shape, the
established skillbook methods; one trace per element of a Python list; paths that do not
exist are errors before any model call; unlabelled files are skipped by `ace rr eval`.

The established file below is written from the documented format (provenance records
with identity required and the rest optional; similarity decisions keyed ``"a,b"``)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from _cli_support import run_cli, who_and_when_record, write_labelled

from ace import Skillbook, UpdateBatch
from ace.rr import RRStep
from ace.testing import ScriptedModel, explore_then_final, reflection
from ace.traces import load_traces

ESTABLISHED = {
    "skills": {
        "general-00001": {
            "id": "general-00001",
            "section": "general",
            "content": "Check the tool's unit before comparing numbers.",
            "justification": "a trace compared metres with feet",
            "evidence": "step 4",
            "helpful": 2,
            "harmful": 0,
            "neutral": 1,
            "created_at": "2026-01-02T03:04:05+00:00",
            "updated_at": "2026-01-02T03:04:05+00:00",
            "embedding": [0.1, 0.2],
            "status": "active",
            "sources": [
                {
                    "trace_uid": "langsmith:run-17",
                    "source_system": "langsmith",
                    "trace_id": "run-17",
                    "display_name": "unit mix-up",
                    "relation": "derived_from",
                    "sample_question": "How tall is the tower?",
                    "epoch": 2,
                    "operation_type": "ADD",
                    "error_identification": "compared m with ft",
                    "learning_text": "check units",
                    "vendor_note": "kept as is",
                },
                {"trace_uid": "local:abc"},
            ],
            "team_label": "units",
        },
        "ctx 7/weird": {
            "id": "ctx 7/weird",
            "section": "context",
            "content": "Ask before deleting files.",
            "status": "invalid",
            "sources": [],
        },
    },
    "sections": {"general": ["general-00001"], "context": ["ctx 7/weird"]},
    "next_id": 1,
    "similarity_decisions": {
        "ctx 7/weird,general-00001": {
            "decision": "KEEP",
            "reasoning": "different topics",
            "decided_at": "2026-01-03T00:00:00+00:00",
            "similarity_at_decision": 0.83,
            "reviewer": "dana",
        }
    },
    "exported_by": "ace 0.9.3",
}


def test_an_established_skillbook_loads_round_trips_and_keeps_unknown_fields(
    tmp_path: Path,
) -> None:
    path = tmp_path / "established.json"
    path.write_text(json.dumps(ESTABLISHED))
    book = Skillbook.load_from_file(path)

    unit = book.get_skill("general-00001")
    assert unit is not None and unit.helpful == 2 and unit.neutral == 1
    first, second = unit.sources
    assert (first.trace_uid, first.epoch, first.operation) == ("langsmith:run-17", 2, "ADD")
    assert (second.source_system, second.trace_id) == ("local", "abc")  # identity completed
    assert book.has_keep_decision("general-00001", "ctx 7/weird")
    decision = book.get_similarity_decision("ctx 7/weird", "general-00001")
    assert decision is not None and decision.similarity_at_decision == 0.83
    assert [s.id for s in book.skills()] == ["general-00001"]
    assert len(book.skills(include_invalid=True)) == 2

    saved = tmp_path / "saved.json"
    book.save_to_file(saved)
    written = json.loads(saved.read_text())
    assert written["exported_by"] == "ace 0.9.3"
    assert written["similarity_decisions"] == ESTABLISHED["similarity_decisions"]
    skill = written["skills"]["general-00001"]
    assert skill["team_label"] == "units" and skill["embedding"] == [0.1, 0.2]
    assert skill["sources"][0] == {**ESTABLISHED["skills"]["general-00001"]["sources"][0],
                                   "recorded_at": skill["sources"][0]["recorded_at"]}  # fmt: skip
    assert "operation" not in skill["sources"][0]

    again = Skillbook.load(saved)
    assert again.to_dict() == book.to_dict()
    assert (
        json.loads(book.dumps(exclude_embeddings=True))["skills"]["general-00001"]["embedding"]
        is None
    )
    assert Skillbook.loads(book.dumps()).to_dict() == book.to_dict()


def test_new_ids_never_collide_whatever_next_id_says() -> None:
    data = json.loads(json.dumps(ESTABLISHED))
    data["next_id"] = 0
    book = Skillbook.from_dict(data)
    new = [book.add_skill("general", f"skill {i}").id for i in range(3)]
    assert len(set(new)) == 3 and not set(new) & {"general-00001", "ctx 7/weird"}


def test_files_of_this_packages_first_versions_are_read_and_upgraded() -> None:
    first = {
        "skills": {
            "a-00001": {"id": "a-00001", "section": "a", "content": "x",
                        "sources": [{"operation": "ADD", "trace_id": "t1", "sample_id": "s1"}]},
            "a-00002": {"id": "a-00002", "section": "a", "content": "y"},
        },
        "similarity_decisions": {"a-00001|a-00002": {"decision": "KEEP", "reasoning": "r"}},
        "next_id": 3,
    }  # fmt: skip
    book = Skillbook.from_dict(first)
    assert book.has_keep_decision("a-00002", "a-00001")
    source = book.to_dict()["skills"]["a-00001"]["sources"][0]
    assert source["operation_type"] == "ADD" and source["trace_uid"] == "legacy:t1"
    assert list(book.to_dict()["similarity_decisions"]) == ["a-00001,a-00002"]


def test_provenance_queries_and_update_batches_use_the_established_names() -> None:
    book = Skillbook.from_dict(ESTABLISHED)
    assert list(book.source_map()) == ["general-00001"]
    summary = book.source_summary()
    assert summary["total_sources"] == 2 and summary["epochs"] == {2: 1, 0: 1}
    assert list(book.source_filter(epoch=2)) == ["general-00001"]
    assert book.source_filter(sample_question="TOWER") != {}
    assert book.source_filter(sample_question="nothing like it") == {}
    batch = UpdateBatch.from_json(
        '{"reasoning": "r", "operations": [{"type": "add", "section": "s", "content": "c"}]}'
    )
    assert batch.operations[0].type == "ADD"
    assert UpdateBatch.from_json(batch.to_json()) == batch


def test_a_python_list_is_one_trace_per_element(caplog: pytest.LogCaptureFixture) -> None:
    logs = ["planner: start\ncoder: failed to run", "planner: retry\ncoder: ok"]
    assert [t.format for t in load_traces(logs)] == ["text", "text"]
    chats = [[["user: hi", "bot: hello"]], [["user: sum", "bot: 4"]]]
    assert len(load_traces(chats)) == 2
    messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]
    with caplog.at_level(logging.WARNING, logger="ace.traces"):
        assert len(load_traces(messages)) == 2
    (record,) = caplog.records
    assert "load_traces([messages])" in record.getMessage()
    assert len(load_traces([messages])) == 1


def test_a_path_that_does_not_exist_is_an_error_before_any_model_call(tmp_path: Path) -> None:
    model = ScriptedModel(explore_then_final(["print(len(trace))"], reflection("a", 0)))
    rr = RRStep(model.name)
    for missing in (tmp_path / "nope.json", str(tmp_path / "nope.json"), "runs/failed.jsonl"):
        with pytest.raises(FileNotFoundError, match=r"nope\.json|failed\.jsonl"):
            rr.analyse(missing)
    assert model.requests == []
    result = rr.analyse("GET /api/users returned 500")  # a one-line log stays text
    assert result.transcript.outcome == "final" and len(model.requests) == 2


def test_eval_skips_unlabelled_files_and_counts_them(tmp_path: Path) -> None:
    data = write_labelled(tmp_path / "set", [who_and_when_record(["a", "b"], "a", 0)])
    (data / "unlabelled.json").write_text(
        json.dumps({"question": "q", "history": [{"role": "user", "content": "x"}]})
    )
    out = tmp_path / "r.json"
    result = run_cli("rr", "eval", str(data), "--reflector", "random", "--out", str(out))
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert len(report["results"]) == 1
    assert [(Path(s["path"]).name, s["reason"]) for s in report["skipped"]] == [
        ("unlabelled.json", "no labels (mistake_agent / mistake_step)")
    ]
