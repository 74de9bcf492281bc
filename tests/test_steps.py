"""The standard ACE steps and learning_tail, driven by small deterministic role classes."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import pytest

from ace.environments import Sample, SimpleEnvironment
from ace.errors import PipelineContractError, UsageError
from ace.outputs import AgentOutput, ReflectorOutput, SkillManagerOutput
from ace.pipeline import ACEStepContext, Pipeline, SkillbookReader, SkillbookView
from ace.skillbook import Skillbook
from ace.steps import (
    AgentStep,
    ApplyStep,
    CheckpointStep,
    EvaluateStep,
    ReflectStep,
    UpdateStep,
    learning_tail,
)
from ace.updates import UpdateBatch, UpdateOperation


class FakeAgent:
    """Answers "4" to everything and remembers what it was shown."""

    def __init__(self) -> None:
        self.skillbooks: list[object] = []

    def generate(
        self, *, question: str, context: str, skillbook: SkillbookReader, reflection: Any = None
    ) -> AgentOutput:
        self.skillbooks.append(skillbook)
        return AgentOutput(reasoning=f"thinking about {question}", final_answer="4")


class FakeReflector:
    """Returns one insight per call and records its arguments."""

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.calls: list[dict[str, Any]] = []
        self.gate = gate

    def reflect(
        self,
        *,
        question: str,
        agent_output: AgentOutput,
        skillbook: SkillbookReader,
        ground_truth: str | None = None,
        feedback: str | None = None,
        trace: Any = None,
    ) -> ReflectorOutput:
        if self.gate is not None:
            assert self.gate.wait(10)
        self.calls.append(
            {
                "question": question,
                "answer": agent_output.final_answer,
                "ground_truth": ground_truth,
                "feedback": feedback,
                "trace": trace,
                "skillbook": skillbook,
            }
        )
        return ReflectorOutput(key_insight=f"insight about {question}")


class FakeSkillManager:
    """Adds one skill per reflection, naming the question it came from."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def update_skills(
        self,
        *,
        reflections: Sequence[ReflectorOutput],
        skillbook: SkillbookReader,
        question_context: str,
        progress: str,
    ) -> SkillManagerOutput:
        self.calls.append(
            {"reflections": reflections, "context": question_context, "progress": progress}
        )
        ops = [
            UpdateOperation(type="ADD", section="Learned", content=r.key_insight)
            for r in reflections
        ]
        return SkillManagerOutput(update=UpdateBatch(operations=ops))


def _contexts(book: Skillbook, questions: Sequence[str], epoch: int = 1) -> list[ACEStepContext]:
    view = SkillbookView(book)
    return [
        ACEStepContext(
            sample=Sample(question=q, ground_truth="4", id=f"s{i}"),
            skillbook=view,
            epoch=epoch,
            total_epochs=2,
            step_index=i,
            total_steps=len(questions),
        )
        for i, q in enumerate(questions)
    ]


def test_live_learning_pipeline_end_to_end() -> None:
    book = Skillbook()
    agent, reflector, manager = FakeAgent(), FakeReflector(), FakeSkillManager()
    pipe = Pipeline(
        [
            AgentStep(agent),
            EvaluateStep(SimpleEnvironment()),
            *learning_tail(reflector, manager, book),
        ]
    )
    assert pipe.requires == {"sample", "skillbook"}
    results = pipe.run(_contexts(book, ["2+2?", "3+1?"]))

    assert all(r.ok for r in results)
    assert all(isinstance(s, SkillbookView) for s in agent.skillbooks)
    assert reflector.calls[0]["ground_truth"] == "4" and "correct" in reflector.calls[0]["feedback"]
    assert reflector.calls[0]["answer"] == "4" and reflector.calls[0]["trace"] is None
    assert [c["progress"] for c in manager.calls] == [
        "epoch 1/2, sample 1/2",
        "epoch 1/2, sample 2/2",
    ]
    assert manager.calls[0]["context"] == "2+2?"
    assert [s.content for s in book.skills()] == ["insight about 2+2?", "insight about 3+1?"]
    report = results[1].context.update_report
    assert report is not None and report.added_ids == [book.skills()[1].id]


def test_learning_tail_order_and_options(tmp_path: Any) -> None:
    book = Skillbook()

    class DedupStep:
        requires = frozenset({"update_report"})
        provides: frozenset[str] = frozenset()

        def __call__(self, ctx: ACEStepContext) -> ACEStepContext:
            return ctx

    class Dedup:
        def as_step(self, skillbook: Skillbook) -> DedupStep:
            assert skillbook is book
            return DedupStep()

    plain = learning_tail(FakeReflector(), FakeSkillManager(), book)
    assert [type(s).__name__ for s in plain] == ["ReflectStep", "UpdateStep", "ApplyStep"]
    full = learning_tail(
        FakeReflector(), FakeSkillManager(), book, Dedup(), tmp_path, background=True
    )
    names = [type(s).__name__ for s in full]
    assert names == ["ReflectStep", "UpdateStep", "ApplyStep", "DedupStep", "CheckpointStep"]
    assert [getattr(s, "async_boundary", False) for s in full] == [True, False, False, False, False]
    assert not getattr(plain[0], "async_boundary", False)
    with pytest.raises(UsageError, match="as_step"):
        learning_tail(FakeReflector(), FakeSkillManager(), book, dedup_manager=object())  # type: ignore[arg-type]


def test_background_learning_tail_lets_answers_through_first() -> None:
    book = Skillbook()
    gate = threading.Event()
    agent = FakeAgent()
    tail = learning_tail(FakeReflector(gate), FakeSkillManager(), book, background=True)
    with Pipeline([AgentStep(agent), *tail]) as pipe:
        results = pipe.run(_contexts(book, ["a?", "b?", "c?"]))
        assert len(agent.skillbooks) == 3 and len(book) == 0
        assert all(r.pending for r in results)
        gate.set()
        assert pipe.wait_for_background(timeout=10)
    assert [s.content for s in book.skills()] == [
        "insight about a?",
        "insight about b?",
        "insight about c?",
    ]
    assert all(r.ok and r.context.update_report is not None for r in results)


def test_apply_records_trace_sample_and_epoch() -> None:
    book = Skillbook()
    existing = book.add_skill("Old", "keep going")

    class TraceObj:
        id = "trace-7"

    batch = UpdateBatch(
        operations=[
            UpdateOperation(type="ADD", section="New", content="verify"),
            UpdateOperation(type="UPDATE", skill_id=existing.id, content="keep going, carefully"),
        ]
    )
    ctx = ACEStepContext(
        sample=Sample(question="q", id="sample-3"),
        trace=TraceObj(),
        epoch=2,
        skill_manager_output=SkillManagerOutput(update=batch),
    )
    out = ApplyStep(book)(ctx)
    assert out.update_report is not None and len(out.update_report.applied) == 2
    [added_id] = out.update_report.added_ids
    added = book.get_skill(added_id)
    assert added is not None
    [source] = added.sources
    assert (source.operation, source.trace_id, source.sample_id, source.epoch) == (
        "ADD",
        "trace-7",
        "sample-3",
        2,
    )
    [update_source] = existing.sources
    assert update_source.operation == "UPDATE" and update_source.trace_id == "trace-7"

    # a dict trace and no sample: the trace id alone
    ctx2 = ACEStepContext(trace={"id": 42}, skill_manager_output=SkillManagerOutput(update=batch))
    ApplyStep(book)(ctx2)
    assert existing.sources[-1].trace_id == "42" and existing.sources[-1].sample_id is None


def test_reflect_from_trace_uses_the_trace() -> None:
    book = Skillbook()

    class Trace:
        id = "t1"
        question = "Which city?"
        final_answer = "Paris"
        ground_truth = "Lyon"
        feedback = None

    reflector = FakeReflector()
    step = ReflectStep(reflector, from_trace=True)
    assert step.requires == {"trace", "skillbook"}
    trace = Trace()
    out = step(ACEStepContext(trace=trace, skillbook=SkillbookView(book)))
    call = reflector.calls[0]
    assert (call["question"], call["answer"], call["ground_truth"]) == (
        "Which city?",
        "Paris",
        "Lyon",
    )
    assert call["trace"] is trace and call["feedback"] is None
    assert out.reflections is not None and len(out.reflections) == 1

    manager = FakeSkillManager()
    UpdateStep(manager)(out)
    assert manager.calls[0]["context"] == "Which city?"


def test_reflect_live_passes_a_trace_when_present() -> None:
    reflector = FakeReflector()
    ctx = ACEStepContext(
        sample=Sample(question="q", ground_truth="g"),
        agent_output=AgentOutput(final_answer="a"),
        skillbook=SkillbookView(Skillbook()),
        trace={"id": "x"},
    )
    ReflectStep(reflector)(ctx)
    assert reflector.calls[0]["trace"] == {"id": "x"}
    assert reflector.calls[0]["ground_truth"] == "g" and reflector.calls[0]["feedback"] is None


def test_a_step_called_directly_names_a_missing_field() -> None:
    with pytest.raises(PipelineContractError, match=r"'AgentStep' requires 'sample'"):
        AgentStep(FakeAgent())(ACEStepContext(skillbook=SkillbookView(Skillbook())))


def test_checkpoint_saves_every_n_samples(tmp_path: Any) -> None:
    book = Skillbook()
    step = CheckpointStep(book, tmp_path / "ckpt", every=2)
    for i in range(5):
        book.add_skill("s", f"skill {i}")
        step(ACEStepContext(epoch=1, step_index=i))
    files = sorted(p.name for p in (tmp_path / "ckpt").iterdir())
    assert files == [
        "latest.json",
        "skillbook_epoch1_sample2.json",
        "skillbook_epoch1_sample4.json",
    ]
    assert len(Skillbook.load(tmp_path / "ckpt" / "latest.json")) == 4
    assert len(Skillbook.load(tmp_path / "ckpt" / "skillbook_epoch1_sample2.json")) == 2
    with pytest.raises(UsageError, match="every"):
        CheckpointStep(book, tmp_path, every=0)


def test_checkpoint_in_the_tail_counts_samples_without_index(tmp_path: Any) -> None:
    book = Skillbook()
    tail = learning_tail(FakeReflector(), FakeSkillManager(), book, checkpoint_dir=tmp_path)
    view = SkillbookView(book)
    contexts = [
        ACEStepContext(
            sample=Sample(question=q), skillbook=view, agent_output=AgentOutput(), epoch=3
        )
        for q in ("x", "y")
    ]
    assert all(r.ok for r in Pipeline(tail).run(contexts))
    assert (tmp_path / "skillbook_epoch3_sample2.json").exists()
    assert len(Skillbook.load(tmp_path / "latest.json")) == 2
