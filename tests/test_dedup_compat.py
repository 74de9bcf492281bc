"""Compatibility with the established ACE package's deduplication API.

Aliased config keywords, ``enabled``, the ``sentence_transformers`` provider, the
``interval`` keyword of ``DeduplicateStep`` and ``SkillManagerOutput.consolidation_ops``.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import logging
import sys
import types
from collections.abc import Sequence
from typing import Any, ClassVar

import pytest

from ace.dedup import DeduplicationConfig, DeduplicationManager
from ace.dedup.manager import _UNSET
from ace.environments import Sample
from ace.errors import ConfigurationError, UsageError
from ace.llm.structured import json_schema
from ace.outputs import ConsolidationOp, SkillManagerOutput
from ace.pipeline import ACEStepContext, Pipeline, SkillbookView
from ace.skillbook import Skillbook
from ace.steps import DeduplicateStep
from ace.updates import UpdateBatch, UpdateOperation


def near_duplicates() -> tuple[Skillbook, str, str, str]:
    """Two near-identical skills (lexical similarity 0.94) and an unrelated one."""
    book = Skillbook()
    a = book.add_skill("math", "Always check the units of every quantity before answering.")
    b = book.add_skill("math", "Always check units of every quantity before answering")
    c = book.add_skill("math", "Prefer small functions with one purpose")
    return book, a.id, b.id, c.id


# --- config aliases -----------------------------------------------------------


def test_established_keywords_are_aliases_of_ours() -> None:
    config = DeduplicationConfig(similarity_threshold=0.8, within_section_only=False)
    assert config.merge_threshold == config.similarity_threshold == 0.8
    assert config.same_section_only is config.within_section_only is False
    ours = DeduplicationConfig(merge_threshold=0.7, same_section_only=False)
    assert ours.similarity_threshold == 0.7 and ours.within_section_only is False
    assert ours == DeduplicationConfig(similarity_threshold=0.7, within_section_only=False)
    # both names, same value: fine
    both = DeduplicationConfig(merge_threshold=0.8, similarity_threshold=0.8)
    assert both.merge_threshold == 0.8
    # setting either name changes both
    config.similarity_threshold = 0.95
    assert config.merge_threshold == 0.95
    config.same_section_only = True
    assert config.within_section_only is True


@pytest.mark.parametrize(
    ("kwargs", "names"),
    [
        ({"merge_threshold": 0.9, "similarity_threshold": 0.85}, ("merge_threshold", "similarity")),
        (
            {"same_section_only": True, "within_section_only": False},
            ("same_section_only", "within_section_only"),
        ),
    ],
)
def test_conflicting_alias_values_name_both(kwargs: dict[str, Any], names: tuple[str, str]) -> None:
    # merge_threshold=0.9 is also the default: an explicit value still conflicts
    with pytest.raises(UsageError) as caught:
        DeduplicationConfig(**kwargs)
    assert all(name in str(caught.value) for name in names)


def test_defaults_and_established_fields() -> None:
    config = DeduplicationConfig()
    assert config.merge_threshold == 0.9 and config.same_section_only is True
    assert config.enabled is True and config.embedding_provider == "litellm"
    assert config.embedding_model is None  # lexical similarity, no model calls
    assert config.local_model_name == "all-MiniLM-L6-v2" and config.min_pairs_to_report == 1
    assert config.every == 1 and config.max_passes == 5 and config.candidate_threshold is None
    # the hand-written __init__ and the documented field defaults agree
    params = inspect.signature(DeduplicationConfig).parameters
    for f in dataclasses.fields(DeduplicationConfig):
        default = params[f.name].default
        if default is _UNSET:
            assert getattr(config, f.name) == f.default
        elif f.default is not dataclasses.MISSING:
            assert default == f.default, f.name
    # dataclasses.replace goes through __init__ without tripping over the aliases
    changed = dataclasses.replace(config, merge_threshold=0.8)
    assert changed.similarity_threshold == 0.8


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"similarity_threshold": 0.0}, "merge_threshold must be in (0, 1]"),
        ({"merge_threshold": 1.5}, "merge_threshold must be in (0, 1]"),
        ({"candidate_threshold": -0.1}, "candidate_threshold must be in (0, 1]"),
        ({"min_pairs_to_report": 0}, "min_pairs_to_report must be an integer >= 1"),
        ({"every": 0}, "every must be an integer >= 1"),
        ({"max_passes": 0}, "max_passes must be an integer >= 1"),
        ({"embedding_provider": "openai"}, "'litellm', 'sentence_transformers'"),
        (
            {"embedding_provider": "sentence_transformers", "embedding_model": "x"},
            "local_model_name",
        ),
    ],
)
def test_invalid_settings_name_the_field_and_range(kwargs: dict[str, Any], fragment: str) -> None:
    with pytest.raises(UsageError) as caught:
        DeduplicationConfig(**kwargs)
    assert fragment in str(caught.value)


# --- enabled=False --------------------------------------------------------------


def test_disabled_deduplication_changes_nothing() -> None:
    book, a, b, c = near_duplicates()
    before = book.dumps()
    manager = DeduplicationManager(DeduplicationConfig(enabled=False))
    assert DeduplicationManager().find_candidates(book)  # they are duplicates indeed
    assert manager.find_candidates(book) == []
    report = manager.deduplicate(book)
    assert report.merged == [] and report.passes == 0 and report.consolidation_ops == []

    step = manager.as_step(book)
    assert isinstance(step, DeduplicateStep)
    contexts = [
        ACEStepContext(
            sample=Sample(question="q", id=f"s{i}"),
            skill_manager_output=SkillManagerOutput(update=UpdateBatch()),
        )
        for i in range(3)
    ]
    results = Pipeline([step]).run(contexts)
    assert all(r.ok for r in results)
    for result, original in zip(results, contexts, strict=True):
        assert result.context.skill_manager_output is original.skill_manager_output
        assert "dedup_report" not in result.context.metadata
    assert {s.id for s in book.skills()} == {a, b, c}
    assert book.similarity_decisions == {}
    assert book.dumps() == before


def test_disabled_manager_does_not_need_sentence_transformers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    config = DeduplicationConfig(enabled=False, embedding_provider="sentence_transformers")
    DeduplicationManager(config)  # nothing is set up, so nothing is missing


# --- sentence_transformers provider ---------------------------------------------


def test_missing_sentence_transformers_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # None in sys.modules makes the import fail, installed or not
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    config = DeduplicationConfig(embedding_provider="sentence_transformers")
    with pytest.raises(ConfigurationError, match="pip install sentence-transformers"):
        DeduplicationManager(config)


class FakeSentenceTransformer:
    """Stands in for ``sentence_transformers.SentenceTransformer``: fixed vectors per text."""

    instances: ClassVar[list[FakeSentenceTransformer]] = []
    vectors: ClassVar[dict[str, list[float]]] = {}

    def __init__(self, model_name: str) -> None:
        self.model_name = model_name
        self.calls: list[tuple[list[str], dict[str, Any]]] = []
        FakeSentenceTransformer.instances.append(self)

    def encode(self, sentences: Sequence[str], **kwargs: Any) -> list[tuple[float, ...]]:
        self.calls.append((list(sentences), kwargs))
        return [tuple(self.vectors[text]) for text in sentences]


def test_sentence_transformers_provider_embeds_with_the_local_model(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Our wiring, honestly tested without the real package (not installed here).

    A fake ``sentence_transformers`` module is put in ``sys.modules``; it returns fixed
    vectors, so this checks what we call (``SentenceTransformer(local_model_name)``,
    ``.encode(texts, **embedding_kwargs)``), how we read its result (tuples, not lists)
    and that the cosine of those vectors drives the merge. It says nothing about the
    real package's models.
    """
    book = Skillbook()
    a = book.add_skill("s", "Check the units")
    b = book.add_skill("s", "Units: verify them")  # lexically unlike a; embedding-close
    c = book.add_skill("s", "Write tests first")
    FakeSentenceTransformer.instances = []
    FakeSentenceTransformer.vectors = {
        "Check the units": [1.0, 0.0, 0.0],
        "Units: verify them": [0.99, 0.1, 0.0],  # cosine 0.995 to a
        "Write tests first": [0.0, 0.0, 1.0],
    }
    fake = types.ModuleType("sentence_transformers")
    fake.SentenceTransformer = FakeSentenceTransformer  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "sentence_transformers", fake)

    config = DeduplicationConfig(
        embedding_provider="sentence_transformers",
        local_model_name="fake-mini",
        embedding_kwargs={"normalize_embeddings": True},
        similarity_threshold=0.95,
    )
    manager = DeduplicationManager(config)
    assert FakeSentenceTransformer.instances == []  # the model loads on first use
    report = manager.deduplicate(book)

    assert report.similarity == "embedding"
    assert [(m.kept_id, m.removed_id) for m in report.merged] == [(a.id, b.id)]
    assert report.merged[0].similarity == pytest.approx(0.99 / (0.99**2 + 0.01) ** 0.5)
    assert {s.id for s in book.skills()} == {a.id, c.id}
    [model] = FakeSentenceTransformer.instances
    assert model.model_name == "fake-mini"
    texts, kwargs = model.calls[0]
    assert sorted(texts) == sorted(FakeSentenceTransformer.vectors)
    assert kwargs == {"normalize_embeddings": True}


# --- interval / every -----------------------------------------------------------


def test_interval_and_every_are_one_setting() -> None:
    book = Skillbook()
    manager = DeduplicationManager(DeduplicationConfig(every=3))
    assert manager.as_step(book).interval == 3
    step = manager.as_step(book, interval=2)
    assert step.interval == step.every == 2
    assert DeduplicateStep(manager, book).every == 1  # the established default is 10
    assert DeduplicateStep(manager, book, interval=4).every == 4
    assert DeduplicateStep(manager, book, every=5).interval == 5
    assert DeduplicateStep(manager, book, interval=6, every=6).interval == 6
    with pytest.raises(UsageError, match="interval=2 and every=3"):
        DeduplicateStep(manager, book, interval=2, every=3)
    with pytest.raises(UsageError, match=r"interval \(every\) must be an int >= 1"):
        DeduplicateStep(manager, book, interval=0)
    with pytest.raises(UsageError, match=r"interval \(every\) must be an int >= 1"):
        manager.as_step(book, interval=0)

    contexts = [ACEStepContext(sample=Sample(question="q", id=f"s{i}")) for i in range(4)]
    results = Pipeline([manager.as_step(book, interval=2)]).run(contexts)
    assert ["dedup_report" in r.context.metadata for r in results] == [False, True, False, True]


# --- consolidation_ops ----------------------------------------------------------


def test_a_pipeline_run_fills_consolidation_ops() -> None:
    book, a, b, c = near_duplicates()
    manager = DeduplicationManager(DeduplicationConfig(similarity_threshold=0.85))
    original = SkillManagerOutput(
        update=UpdateBatch(
            reasoning="added one",
            operations=[UpdateOperation(type="ADD", section="math", content="x")],
        ),
        raw={"usage": {"total_tokens": 3}},
    )
    ctx = ACEStepContext(
        sample=Sample(question="q", id="s1"),
        skillbook=SkillbookView(book),
        skill_manager_output=original,
    )
    [result] = Pipeline([manager.as_step(book)]).run([ctx])
    assert result.ok

    output = result.context.skill_manager_output
    assert output is not None and output is not original
    assert original.consolidation_ops == []  # the input was copied, not changed
    assert output.update == original.update and output.raw == original.raw
    [op] = output.consolidation_ops
    assert op.type == "MERGE" and set(op.skill_ids) == {a, b}
    assert op.kept_id == a and op.removed_id == b  # equal scores: the older survives
    assert op.similarity >= 0.85 and "merge threshold" in op.reasoning
    assert op.merged_content == book.get_skill(a).content  # type: ignore[union-attr]
    report = result.context.metadata["dedup_report"]
    assert report.consolidation_ops == [op] and report.candidates == 1
    assert {s.id for s in book.skills()} == {a, c}


def test_keep_decisions_are_consolidation_ops_too() -> None:
    book, a, b, _ = near_duplicates()

    class KeepJudge:
        def decide(self, x: Any, y: Any, similarity: float) -> Any:
            from ace.dedup import DedupVerdict

            return DedupVerdict(decision="KEEP", reasoning="different scope")

    manager = DeduplicationManager(judge=KeepJudge())
    ctx = ACEStepContext(skill_manager_output=SkillManagerOutput(update=UpdateBatch()))
    [result] = Pipeline([manager.as_step(book)]).run([ctx])
    output = result.context.skill_manager_output
    assert output is not None
    [op] = output.consolidation_ops
    assert op.type == "KEEP" and set(op.skill_ids) == {a, b}
    assert op.kept_id is None and op.removed_id is None and op.reasoning == "different scope"


def test_nothing_to_merge_leaves_the_output_alone() -> None:
    book = Skillbook()
    book.add_skill("s", "Check the units")
    output = SkillManagerOutput(update=UpdateBatch())
    [result] = Pipeline([DeduplicationManager().as_step(book)]).run(
        [ACEStepContext(skill_manager_output=output)]
    )
    assert result.context.skill_manager_output is output
    assert "dedup_report" in result.context.metadata


def test_skill_manager_output_json_round_trips_with_consolidation_ops() -> None:
    output = SkillManagerOutput(
        update=UpdateBatch(operations=[UpdateOperation(type="REMOVE", skill_id="s-2")]),
        consolidation_ops=[
            ConsolidationOp(
                type="MERGE",
                skill_ids=["s-1", "s-2"],
                kept_id="s-1",
                removed_id="s-2",
                merged_content="Check units",
                similarity=0.93,
                reasoning="same advice",
            ),
            ConsolidationOp(type="KEEP", skill_ids=["s-3", "s-4"], similarity=0.9),
        ],
    )
    text = output.model_dump_json()
    assert SkillManagerOutput.model_validate_json(text) == output
    assert SkillManagerOutput.model_validate(json.loads(text)) == output
    # older JSON without the field still loads, with no operations
    legacy = SkillManagerOutput.model_validate({"update": {"operations": []}})
    assert legacy.consolidation_ops == []


def test_the_skill_manager_role_never_asks_the_model_for_consolidation_ops() -> None:
    """The role asks for an UpdateBatch; consolidation_ops is ours to fill, not the model's."""
    from ace.outputs import ReflectorOutput
    from ace.roles.skill_manager import SkillManager
    from ace.testing import ScriptedModel

    model = ScriptedModel([json.dumps({"reasoning": "nothing to add", "operations": []})])
    output = SkillManager(model.name).update_skills(
        reflections=ReflectorOutput(), skillbook=Skillbook()
    )
    assert output.consolidation_ops == []
    [request] = model.requests
    asked = json.dumps(request.messages) + json.dumps(request.response_format or {})
    assert "consolidation_ops" not in asked
    assert "consolidation_ops" not in json.dumps(json_schema(UpdateBatch))


def test_min_pairs_to_report_only_gates_logging(caplog: pytest.LogCaptureFixture) -> None:
    for minimum, level in ((1, logging.INFO), (2, logging.DEBUG)):
        book, a, _, c = near_duplicates()
        caplog.clear()
        with caplog.at_level(logging.DEBUG, logger="ace.dedup"):
            report = DeduplicationManager(
                DeduplicationConfig(min_pairs_to_report=minimum)
            ).deduplicate(book)
        found = [r for r in caplog.records if "similar skill pairs" in r.getMessage()]
        assert [r.levelno for r in found] == [level]
        assert report.candidates == 1 and len(report.merged) == 1  # merged either way
        assert {s.id for s in book.skills()} == {a, c}
