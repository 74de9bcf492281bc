"""Skillbook: ids, operations, files (atomic, corrupt-safe, compatible), threads."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ace import Skillbook, SkillbookFileError, UpdateBatch, UpdateOperation
from ace.errors import UsageError
from ace.skillbook import SkillSource, section_prefix


def test_add_get_update_tag_remove() -> None:
    sb = Skillbook()
    skill = sb.add_skill("Math", "Check units before answering", justification="j", evidence="e")
    assert sb.get_skill(skill.id) is skill
    assert sb.update_skill(skill.id, content="Check units twice").content == "Check units twice"  # type: ignore[union-attr]
    sb.tag_skill(skill.id, "helpful")
    sb.tag_skill(skill.id, "harmful", 2)
    assert (skill.helpful, skill.harmful, skill.neutral) == (1, 2, 0)
    assert "(helpful 1, harmful 2)" in sb.as_prompt()
    assert sb.remove_skill(skill.id, soft=True)
    assert sb.skills() == [] and sb.skills(include_inactive=True) == [skill]
    assert sb.remove_skill(skill.id) and sb.get_skill(skill.id) is None
    assert sb.update_skill("nope", content="x") is None
    with pytest.raises(UsageError, match="unknown tag"):
        sb.tag_skill("x", "great")


def test_add_never_overwrites_and_ids_stay_unique() -> None:
    sb = Skillbook()
    first = sb.add_skill("a", "one")
    with pytest.raises(UsageError, match="ADD never overwrites"):
        sb.add_skill("a", "two", skill_id=first.id)
    # a hand-made id that collides with the counter's next value is skipped over
    sb.add_skill("a", "planted", skill_id="a-00002")
    third = sb.add_skill("a", "three")
    assert third.id == "a-00003"


@pytest.mark.parametrize(
    "section", ["", "123 numbers", "multi-word-hyphen", "Stratégie ÉTÉ", "数学", "  "]
)
def test_any_section_name_gives_a_citable_id(section: str) -> None:
    sb = Skillbook()
    skill = sb.add_skill(section, "content")
    assert skill.section == section
    assert sb.cited_ids(f"I used [{skill.id}] here.") == [skill.id]
    assert section_prefix(section)


def test_apply_update_reports_missing_skills_and_records_provenance() -> None:
    sb = Skillbook()
    batch = UpdateBatch(
        reasoning="r",
        operations=[
            UpdateOperation(type="ADD", section="s", content="new idea", justification="why"),
            UpdateOperation(type="UPDATE", skill_id="missing-00009", content="x"),
            UpdateOperation(type="TAG", skill_id="ghost", metadata={"helpful": 1}),
            UpdateOperation(type="REMOVE", skill_id=None),
            UpdateOperation(type="add", section="s", content=""),
        ],
    )
    report = sb.apply_update(batch, source={"trace_id": "t1", "epoch": 2})
    assert len(report.added_ids) == 1 and len(report.applied) == 1
    assert report.missing_skill_ids == ["missing-00009", "ghost"]
    assert [why for _, why in report.skipped][-2:] == [
        "REMOVE without skill_id",
        "ADD without content",
    ]
    added = sb.get_skill(report.added_ids[0])
    assert added is not None
    assert [(s.operation, s.trace_id, s.epoch) for s in added.sources] == [("ADD", "t1", 2)]
    sb.apply_update(
        UpdateBatch(
            operations=[UpdateOperation(type="UPDATE", skill_id=added.id, content="better")]
        ),
        source=SkillSource(operation="?", trace_id="t2", epoch=3),
    )
    assert [(s.operation, s.trace_id) for s in added.sources] == [("ADD", "t1"), ("UPDATE", "t2")]


def test_save_load_round_trip_and_format(tmp_path: Path) -> None:
    sb = Skillbook()
    a = sb.add_skill("General", "Read the task twice", source={"trace_id": "x.json"})
    sb.tag_skill(a.id, "neutral")
    sb.add_skill("Other", "Prefer primary sources")
    sb.record_similarity_decision("b", "a", {"decision": "KEEP", "reasoning": "different"})
    path = sb.save(tmp_path / "deep" / "book.json")
    data = json.loads(path.read_text())
    assert set(data) == {"skills", "sections", "next_id", "similarity_decisions"}
    assert data["sections"] == {"General": [a.id], "Other": ["other-00002"]}
    assert "helpful" not in data["skills"]["other-00002"]  # counters written only when used
    loaded = Skillbook.load(path)
    assert loaded.to_dict() == sb.to_dict()
    assert loaded.similarity_decisions == {"a,b": {"decision": "KEEP", "reasoning": "different"}}


def test_reads_older_files_with_counters_and_reconciles_next_id(tmp_path: Path) -> None:
    old = {
        "skills": {
            "general-00007": {
                "id": "general-00007",
                "section": "general",
                "content": "Double-check arithmetic",
                "helpful": 4,
                "harmful": 1,
                "neutral": 0,
                "created_at": "2025-01-01T00:00:00+00:00",
                "updated_at": "2025-01-01T00:00:00+00:00",
                "embedding": [0.1, 0.2],
            }
        },
        "sections": {"general": ["general-00007"]},
        "next_id": 3,
    }
    path = tmp_path / "old.json"
    path.write_text(json.dumps(old))
    sb = Skillbook.load(path)
    skill = sb.get_skill("general-00007")
    assert skill is not None and (skill.helpful, skill.harmful) == (4, 1)
    assert "(helpful 4, harmful 1)" in sb.as_prompt()
    sb.tag_skill("general-00007", "helpful")
    assert sb.add_skill("general", "new").id == "general-00008"
    saved = json.loads(sb.save(path).read_text())
    assert saved["skills"]["general-00007"]["helpful"] == 5
    assert saved["skills"]["general-00007"]["embedding"] == [0.1, 0.2]  # unknown fields kept


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "expected a JSON object"),
        (b'{"skills": {"a": {"content": 5}}}', "skill 'a' is invalid"),
        (b'{"skills": {"a": {"content": "x", "helpful": -1}}}', "helpful"),
    ],
)
def test_corrupt_file_is_named_and_never_overwritten(
    tmp_path: Path, content: bytes, match: str
) -> None:
    path = tmp_path / "book.json"
    path.write_bytes(content)
    with pytest.raises(SkillbookFileError, match=match) as info:
        Skillbook.load(path)
    assert str(path) in str(info.value)
    fresh = Skillbook()
    fresh.add_skill("s", "x")
    with pytest.raises(SkillbookFileError, match="refusing to overwrite"):
        fresh.save(path)
    assert path.read_bytes() == content
    fresh.save(path, overwrite_corrupt=True)
    assert Skillbook.load(path).to_dict() == fresh.to_dict()


def test_missing_file_error_names_it(tmp_path: Path) -> None:
    with pytest.raises(SkillbookFileError, match=r"missing\.json"):
        Skillbook.load(tmp_path / "missing.json")


def test_save_is_atomic_when_serialisation_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "book.json"
    sb = Skillbook()
    sb.add_skill("s", "kept")
    sb.save(path)
    before = path.read_bytes()

    def boom(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("ace.skillbook.os.fsync", boom)
    sb.add_skill("s", "lost")
    with pytest.raises(OSError, match="disk full"):
        sb.save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["book.json"]  # no temp file left


def test_concurrent_mutations_keep_ids_unique() -> None:
    sb = Skillbook()
    first = sb.add_skill("s", "shared")

    def work(n: int) -> None:
        for i in range(100):
            sb.add_skill(f"sec{n % 3}", f"skill {n}-{i}")
            sb.tag_skill(first.id, "helpful")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = [s.id for s in sb.skills()]
    assert len(ids) == len(set(ids)) == 801
    assert first.helpful == 800


# ---------------------------------------------------------------- property tests
sections = st.text(max_size=12)
ops = st.lists(
    st.one_of(
        st.tuples(st.just("add"), sections, st.text(min_size=1, max_size=20).filter(str.strip)),
        st.tuples(
            st.just("tag"), st.integers(0, 30), st.sampled_from(["helpful", "harmful", "neutral"])
        ),
        st.tuples(st.just("remove"), st.integers(0, 30), st.booleans()),
        st.tuples(st.just("update"), st.integers(0, 30), sections),
    ),
    max_size=40,
)


@given(ops)
@settings(max_examples=150, deadline=None)
def test_random_operation_sequences_keep_invariants(sequence: list[tuple[object, ...]]) -> None:
    sb = Skillbook()
    created: list[str] = []
    for op in sequence:
        kind = op[0]
        if kind == "add":
            created.append(sb.add_skill(str(op[1]), str(op[2])).id)
        elif created:
            target = created[int(op[1]) % len(created)]  # type: ignore[call-overload]
            if kind == "tag":
                sb.tag_skill(target, str(op[2]))
            elif kind == "remove":
                sb.remove_skill(target, soft=bool(op[2]))
            else:
                sb.update_skill(target, section=str(op[2]))
    data = sb.to_dict()
    every = sb.skills(include_inactive=True)
    assert len({s.id for s in every}) == len(every)
    assert sorted(i for ids in data["sections"].values() for i in ids) == sorted(
        s.id for s in every
    )
    assert all(s.helpful >= 0 and s.harmful >= 0 and s.neutral >= 0 for s in every)
    assert all(sb.cited_ids(f"[{s.id}]") == [s.id] for s in every)
    assert Skillbook.from_dict(json.loads(json.dumps(data))).to_dict() == data


@given(st.lists(st.tuples(sections, st.text(min_size=1).filter(str.strip)), max_size=15))
@settings(max_examples=60, deadline=None)
def test_save_load_round_trip_property(
    tmp_path_factory: pytest.TempPathFactory, items: list[tuple[str, str]]
) -> None:
    sb = Skillbook()
    for section, content in items:
        sb.add_skill(section, content)
    path = tmp_path_factory.mktemp("rt") / "book.json"
    sb.save(path)
    assert Skillbook.load(path).to_dict() == sb.to_dict()


def _timeless(book: Skillbook) -> dict[str, Any]:
    data = book.to_dict()
    for skill in data["skills"].values():
        skill.pop("updated_at")
        skill.pop("created_at")
        for source in skill.get("sources", []):
            source.pop("recorded_at")
    for decision in data.get("similarity_decisions", {}).values():
        decision.pop("decided_at", None)
    return data


def _play(sb: Skillbook, sequence: list[tuple[object, ...]]) -> None:
    created = [s.id for s in sb.skills(include_inactive=True)]
    for op in sequence:
        kind = op[0]
        if kind == "add":
            created.append(sb.add_skill(str(op[1]), str(op[2]), source={"trace_id": "t"}).id)
        elif created:
            target = created[int(op[1]) % len(created)]  # type: ignore[call-overload]
            if kind == "tag":
                sb.tag_skill(target, str(op[2]))
            elif kind == "remove":
                sb.remove_skill(target, soft=bool(op[2]))
            else:
                sb.update_skill(target, section=str(op[2]), source={"trace_id": "u"})
                sb.record_similarity_decision(target, "other", {"decision": str(op[2])})


@given(ops, ops)
@settings(max_examples=100, deadline=None)
def test_a_copy_changes_independently(
    before: list[tuple[object, ...]], after: list[tuple[object, ...]]
) -> None:
    """What is done to a copy never shows in the original, and the copy behaves like the
    original rebuilt from its file form."""
    sb = Skillbook()
    _play(sb, before)
    snapshot = sb.to_dict()
    twin, rebuilt = sb.copy(), Skillbook.from_dict(snapshot)
    assert twin.to_dict() == snapshot
    _play(twin, after)
    _play(rebuilt, after)
    assert sb.to_dict() == snapshot
    assert _timeless(twin) == _timeless(rebuilt)


update_ops = st.lists(
    st.tuples(
        st.sampled_from(["ADD", "UPDATE", "TAG", "REMOVE"]),
        st.integers(0, 12),  # a skill by position; past the end: a missing skill
        st.text(max_size=8),
    ),
    max_size=12,
)


@given(ops, update_ops)
@settings(max_examples=100, deadline=None)
def test_applying_to_a_copy_for_the_update_leaves_the_original_alone(
    before: list[tuple[object, ...]], planned: list[tuple[str, int, str]]
) -> None:
    """The copy made to apply a batch shares the skills the batch does not name: the
    original is untouched, and the result is what a full copy gives."""
    sb = Skillbook()
    _play(sb, before)
    ids = [s.id for s in sb.skills(include_inactive=True)]
    operations = []
    for kind, at, text in planned:
        skill_id = ids[at] if at < len(ids) else f"missing-{at}"
        if kind == "ADD":
            operations.append(UpdateOperation(type="ADD", section=text, content=text or "x"))
        elif kind == "UPDATE":
            operations.append(UpdateOperation(type="UPDATE", skill_id=skill_id, content=text))
        elif kind == "TAG":
            operations.append(
                UpdateOperation(type="TAG", skill_id=skill_id, metadata={"harmful": at})
            )
        else:
            operations.append(UpdateOperation(type="REMOVE", skill_id=skill_id))
    batch = UpdateBatch(reasoning="r", operations=operations)
    snapshot = sb.to_dict()
    partial, full = sb._copy_for_update(batch), sb.copy()
    partial_report = partial.apply_update(batch, source={"trace_id": "t"})
    full_report = full.apply_update(batch, source={"trace_id": "t"})
    assert sb.to_dict() == snapshot
    assert _timeless(partial) == _timeless(full)
    assert partial_report.skipped == full_report.skipped
