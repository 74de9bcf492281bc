"""Deduplication: planted duplicates, KEEP decisions, provenance, lexical fallback, LLM judge."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest

from ace.dedup import (
    DeduplicationConfig,
    DeduplicationManager,
    LLMJudge,
    lexical_similarity,
)
from ace.environments import Sample
from ace.errors import UsageError
from ace.llm.embeddings import embed
from ace.outputs import AgentOutput, ReflectorOutput, SkillManagerOutput
from ace.pipeline import ACEStepContext, Pipeline, SkillbookReader, SkillbookView
from ace.skillbook import Skillbook, pair_key
from ace.steps import DeduplicateStep, learning_tail
from ace.testing import ScriptedModel
from ace.testing.embeddings import ScriptedEmbeddingModel, cosine_pair
from ace.updates import UpdateBatch, UpdateOperation

DIMS = 16

# litellm installs this ignore filter when it is imported; pytest drops it after the test
# that imported litellm, so its lazily built models warn in later tests.
pytestmark = pytest.mark.filterwarnings("ignore:.*`ReadOnly` qualifier:UserWarning")


def axis(i: int) -> list[float]:
    """The basis vector ``i``."""
    v = [0.0] * DIMS
    v[i] = 1.0
    return v


def planted() -> tuple[Skillbook, ScriptedEmbeddingModel, dict[str, str]]:
    """A skillbook with known duplicates and an embedding model giving their similarities."""
    book = Skillbook()
    texts = {
        "m1": "Check units before answering",
        "m2": "Verify the units of every quantity before you answer",  # 0.95 to m1: merge
        "m3": "Show intermediate steps",
        "m4": "Write out the intermediate steps",  # 0.80 to m3: below threshold
        "m5": "Round only at the very end of the calculation",
        "m6": "Round at the end only",  # 0.97 to m5, but a KEEP decision is recorded
        "m7": "Run the test suite before submitting",  # same vector as c1, other section
        "t1": "Prefer exact fractions over decimals in every intermediate result",
        "t2": "Prefer fractions to decimals",  # 0.96 to t1
        "t3": "Use fractions, not decimals",  # 0.96 to t1, 0.84 to t2
        "c1": "Run the test suite before submitting!",
    }
    m1, m2 = cosine_pair(0.95, axis=0, other_axis=1, dims=DIMS)
    m3, m4 = cosine_pair(0.80, axis=2, other_axis=3, dims=DIMS)
    m5, m6 = cosine_pair(0.97, axis=4, other_axis=5, dims=DIMS)
    t1, t2 = cosine_pair(0.96, axis=8, other_axis=9, dims=DIMS)
    t3 = [-x if i == 9 else x for i, x in enumerate(t2)]
    vectors = {"m1": m1, "m2": m2, "m3": m3, "m4": m4, "m5": m5, "m6": m6, "m7": axis(6)}
    vectors |= {"t1": t1, "t2": t2, "t3": t3, "c1": axis(6)}
    ids: dict[str, str] = {}
    for key, text in texts.items():
        section = "code" if key == "c1" else "math"
        skill = book.add_skill(
            section, text, justification=f"why {key}", source={"sample_id": f"s-{key}"}
        )
        ids[key] = skill.id
    book.tag_skill(ids["m1"], "helpful", 3)  # the better-scored m1 survives its merge
    book.tag_skill(ids["m2"], "helpful", 2)
    book.record_similarity_decision(
        ids["m5"],
        ids["m6"],
        {"decision": "KEEP", "similarity_at_decision": 0.97, "reasoning": "different scope"},
    )
    model = ScriptedEmbeddingModel({texts[k]: v for k, v in vectors.items()})
    return book, model, ids


def test_planted_duplicates_leave_exactly_the_expected_skills() -> None:
    book, model, ids = planted()
    manager = DeduplicationManager(
        DeduplicationConfig(embedding_model=model.name, merge_threshold=0.9)
    )
    report = manager.deduplicate(book, source={"sample_id": "trigger", "epoch": 2})

    remaining = {s.id for s in book.skills()}
    expected = {ids[k] for k in ("m1", "m3", "m4", "m5", "m6", "m7", "t1", "c1")}
    assert remaining == expected
    assert {(m.kept_id, m.removed_id) for m in report.merged} == {
        (ids["m1"], ids["m2"]),
        (ids["t1"], ids["t2"]),
        (ids["t1"], ids["t3"]),
    }
    assert report.skipped_decided >= 1 and report.similarity == "embedding"
    assert report.passes >= 2  # t3 could only merge once t1 was settled


def test_a_merge_goes_through_normal_updates_and_keeps_provenance() -> None:
    book, model, ids = planted()
    manager = DeduplicationManager(DeduplicationConfig(embedding_model=model.name))
    manager.deduplicate(book, source={"sample_id": "trigger", "epoch": 2})

    kept = book.get_skill(ids["m1"])
    assert kept is not None
    # the longer text survives, on the older skill, with the removed skill's counters
    assert kept.content == "Verify the units of every quantity before you answer"
    assert kept.helpful == 5
    assert kept.justification is not None
    assert kept.justification.startswith("why m1") and ids["m2"] in kept.justification
    sample_ids = [s.sample_id for s in kept.sources]
    assert "s-m1" in sample_ids and "s-m2" in sample_ids and "trigger" in sample_ids
    merge_source = next(s for s in kept.sources if s.sample_id == "trigger")
    assert merge_source.operation == "UPDATE" and merge_source.epoch == 2
    assert getattr(merge_source, "merged_from", None) == ids["m2"]

    decisions = book.similarity_decisions
    merge = decisions[pair_key(ids["m1"], ids["m2"])]
    assert merge["decision"] == "MERGE" and merge["similarity_at_decision"] == pytest.approx(0.95)
    assert merge["removed"] == ids["m2"] and "decided_at" in merge
    # the recorded KEEP is untouched and its pair is still there
    assert decisions[pair_key(ids["m5"], ids["m6"])]["decision"] == "KEEP"


def test_unchanged_skills_are_embedded_once() -> None:
    book, model, _ = planted()
    manager = DeduplicationManager(DeduplicationConfig(embedding_model=model.name))
    manager.deduplicate(book)
    before = model.texts_embedded
    manager.deduplicate(book)
    assert model.texts_embedded == before
    assert len(model.requests) >= 1


def test_a_keep_decision_is_never_overridden_even_at_similarity_one() -> None:
    book = Skillbook()
    a = book.add_skill("s", "Cache the results of pure functions")
    b = book.add_skill("s", "Cache the results of pure functions")
    book.record_similarity_decision(a.id, b.id, {"decision": "KEEP", "reasoning": "by hand"})
    manager = DeduplicationManager()
    assert manager.find_candidates(book) == []
    report = manager.deduplicate(book)
    assert report.merged == [] and len(book.skills()) == 2


def test_lexical_similarity_is_used_without_an_embedding_model() -> None:
    assert lexical_similarity("Always check units", "always check the UNITS!") == pytest.approx(
        6 / 7
    )
    assert lexical_similarity("x", "x") == 1.0 and lexical_similarity("a b", "c d") == 0.0
    book = Skillbook()
    keep = book.add_skill("s", "Always check the units of every quantity.")
    book.add_skill("s", "Always check units of every quantity")
    other = book.add_skill("s", "Prefer small functions with one purpose")
    report = DeduplicationManager().deduplicate(book)
    assert report.similarity == "lexical"
    assert {s.id for s in book.skills()} == {keep.id, other.id}


def test_llm_judge_decides_and_its_keep_is_recorded_once() -> None:
    book = Skillbook()
    a = book.add_skill("s", "Ask for the file format before parsing")
    b = book.add_skill("s", "Ask which file format the user has before parsing it")
    c = book.add_skill("s", "Validate the parsed data against its schema")
    d = book.add_skill("s", "Validate parsed data against the schema")
    judge_model = ScriptedModel(
        [
            # the most similar pair (c, d) is asked first
            json.dumps(
                {
                    "decision": "MERGE",
                    "keep_id": d.id,
                    "merged_content": "Validate parsed data against its schema",
                    "reasoning": "same advice",
                }
            ),
            json.dumps({"decision": "KEEP", "reasoning": "one is about asking, one parsing"}),
        ]
    )
    manager = DeduplicationManager(
        DeduplicationConfig(candidate_threshold=0.5, judge_model=judge_model.name)
    )
    assert isinstance(manager.judge, LLMJudge)
    report = manager.deduplicate(book)
    assert [(m.kept_id, m.removed_id) for m in report.merged] == [(d.id, c.id)]
    assert report.kept and {report.kept[0][0], report.kept[0][1]} == {a.id, b.id}
    kept = book.similarity_decisions[pair_key(a.id, b.id)]
    assert kept["decision"] == "KEEP" and "asking" in kept["reasoning"]
    assert book.get_skill(d.id).content == "Validate parsed data against its schema"  # type: ignore[union-attr]
    prompt = judge_model.requests[1].last_user_text
    assert a.id in prompt and b.id in prompt
    # a second run asks nothing: the KEEP pair is decided, the merged one is gone
    again = manager.deduplicate(book)
    assert again.merged == [] and again.skipped_decided == 1
    assert len(judge_model.requests) == 2


def test_deduplicate_step_runs_every_n_samples() -> None:
    book = Skillbook()
    manager = DeduplicationManager(DeduplicationConfig(every=2))
    step = manager.as_step(book)
    assert isinstance(step, DeduplicateStep) and step.every == 2
    contexts = [ACEStepContext(sample=Sample(question="q", id=f"s{i}")) for i in range(4)]
    results = Pipeline([step]).run(contexts)
    assert ["dedup_report" in r.context.metadata for r in results] == [False, True, False, True]
    with pytest.raises(UsageError):
        DeduplicateStep(manager, book, every=0)


class Reflector:
    """Reflects nothing in particular."""

    def reflect(
        self,
        *,
        question: str,
        agent_output: AgentOutput,
        skillbook: SkillbookReader,
        ground_truth: str | None = None,
        feedback: str | None = None,
        trace: object | None = None,
    ) -> ReflectorOutput:
        return ReflectorOutput()


class RepetitiveSkillManager:
    """Adds the same lesson, worded slightly differently, for every sample."""

    def __init__(self) -> None:
        self.calls = 0

    def update_skills(
        self,
        *,
        reflections: Sequence[ReflectorOutput],
        skillbook: SkillbookReader,
        question_context: str,
        progress: str,
    ) -> SkillManagerOutput:
        self.calls += 1
        text = "Check the units of every quantity" + (" first" if self.calls % 2 else "")
        op = UpdateOperation(type="ADD", section="math", content=text)
        return SkillManagerOutput(update=UpdateBatch(operations=[op]))


def test_learning_tail_with_a_dedup_manager_keeps_one_skill() -> None:
    book = Skillbook()
    manager = DeduplicationManager(DeduplicationConfig(merge_threshold=0.85))
    tail = learning_tail(Reflector(), RepetitiveSkillManager(), book, dedup_manager=manager)
    assert isinstance(tail[-1], DeduplicateStep)
    view = SkillbookView(book)
    contexts = [
        ACEStepContext(
            sample=Sample(question=f"q{i}", id=f"s{i}"),
            skillbook=view,
            agent_output=AgentOutput(final_answer="a"),
        )
        for i in range(4)
    ]
    results = Pipeline(tail).run(contexts)
    assert all(r.ok for r in results)
    [survivor] = book.skills()
    assert [s.sample_id for s in survivor.sources] == ["s0", "s1", "s1", "s2", "s2", "s3", "s3"]


def test_embed_returns_vectors_in_order_through_litellm() -> None:
    model = ScriptedEmbeddingModel(fn=lambda text: [float(len(text)), 1.0])
    assert embed(["a", "abc", "ab"], model=model.name, batch_size=2) == [
        [1.0, 1.0],
        [3.0, 1.0],
        [2.0, 1.0],
    ]
    assert model.requests == [["a", "abc"], ["ab"]]
    with pytest.raises(UsageError):
        embed(["a"], model="")
