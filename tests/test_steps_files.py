"""Steps that read or write files: Markdown export and loading traces from JSONL."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from ace.errors import TraceFormatError
from ace.outputs import AgentOutput, ReflectorOutput, SkillManagerOutput
from ace.pipeline import ACEStepContext, Pipeline, SkillbookReader, SkillbookView
from ace.skillbook import Skillbook
from ace.steps import ExportSkillbookMarkdownStep, LoadTracesStep, learning_tail, skillbook_markdown
from ace.traces import Trace
from ace.updates import UpdateBatch, UpdateOperation

WHO_AND_WHEN = Path(__file__).resolve().parent / "data" / "who_and_when" / "algorithm_generated"
LABELS = ("mistake_agent", "mistake_step", "mistake_reason")


def test_export_markdown_renders_every_part(tmp_path: Path) -> None:
    book = Skillbook()
    skill = book.add_skill(
        "Math",
        "Check units before answering",
        justification="units were wrong twice",
        evidence="sample 3",
        source={"trace_id": "t-1", "sample_id": "s-3", "epoch": 2},
    )
    book.tag_skill(skill.id, "helpful", 2)
    book.add_skill("Search", "Quote exact titles")
    gone = book.add_skill("Search", "obsolete")
    book.remove_skill(gone.id, soft=True)

    target = tmp_path / "out" / "skillbook.md"
    ctx = ACEStepContext()
    assert ExportSkillbookMarkdownStep(book, target)(ctx) is ctx
    text = target.read_text(encoding="utf-8")
    assert text == skillbook_markdown(SkillbookView(book))
    assert "## Math" in text and "## Search" in text and "2 skills in 2 sections" in text
    assert f"### `{skill.id}`" in text and "Check units before answering" in text
    assert "**Justification:** units were wrong twice" in text and "**Evidence:** sample 3" in text
    assert "**Counters:** helpful 2, harmful 0, neutral 0" in text
    assert "**Source:** ADD from trace `t-1`, sample `s-3`, epoch `2`" in text
    assert "obsolete" not in text
    assert [p.name for p in target.parent.iterdir()] == ["skillbook.md"]  # no temp files left


def _who_and_when_jsonl(tmp_path: Path, names: Sequence[str]) -> Path:
    path = tmp_path / "who_and_when.jsonl"
    records = [json.loads((WHO_AND_WHEN / n).read_text(encoding="utf-8")) for n in names]
    assert all(all(label in r for label in LABELS) for r in records)  # the files carry labels
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    return path


def test_contexts_from_a_who_and_when_jsonl_file(tmp_path: Path) -> None:
    path = _who_and_when_jsonl(tmp_path, ["1.json", "2.json", "3.json"])
    book = Skillbook()
    contexts = LoadTracesStep.contexts_from(path, skillbook=book, epoch=2, total_epochs=3)
    assert len(contexts) == 3
    for index, ctx in enumerate(contexts):
        assert isinstance(ctx.trace, Trace) and ctx.trace.steps and ctx.trace.question
        assert (ctx.step_index, ctx.total_steps, ctx.epoch) == (index, 3, 2)
        assert isinstance(ctx.skillbook, SkillbookView) and ctx.sample is None
        dumped = ctx.trace.model_dump_json()
        assert not any(label in dumped for label in LABELS)
    assert len({ctx.trace.id for ctx in contexts if ctx.trace is not None}) == 3


def test_load_traces_step_normalises_a_raw_record() -> None:
    record = json.loads((WHO_AND_WHEN / "1.json").read_text(encoding="utf-8"))
    out = LoadTracesStep(source="trace")(ACEStepContext(trace=record))
    assert isinstance(out.trace, Trace) and out.trace.format == "who_and_when"
    assert len(out.trace.steps) == len(record["history"])
    assert not any(label in out.trace.model_dump_json() for label in LABELS)
    assert LoadTracesStep(source="trace")(out) is out  # already normalised
    assert isinstance(ACEStepContext(trace=record).trace, dict)  # the input is untouched


class _Reflector:
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
        assert isinstance(trace, Trace)
        return ReflectorOutput(key_insight=f"lesson from {trace.id}")


class _SkillManager:
    def update_skills(
        self,
        *,
        reflections: Sequence[ReflectorOutput],
        skillbook: SkillbookReader,
        question_context: str,
        progress: str,
    ) -> SkillManagerOutput:
        ops = [
            UpdateOperation(type="ADD", section="Traces", content=r.key_insight)
            for r in reflections
        ]
        return SkillManagerOutput(update=UpdateBatch(operations=ops))


@pytest.mark.parametrize("raw", [False, True])
def test_learning_from_a_trace_file_records_trace_ids(tmp_path: Path, raw: bool) -> None:
    path = _who_and_when_jsonl(tmp_path, ["1.json", "2.json"])
    book = Skillbook()
    tail = learning_tail(_Reflector(), _SkillManager(), book, from_trace=True)
    if raw:
        records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        contexts = [ACEStepContext(trace=r, skillbook=SkillbookView(book)) for r in records]
        steps = [LoadTracesStep(source="trace"), *tail]
    else:
        contexts = LoadTracesStep.contexts_from(path, skillbook=book)
        steps = tail
    results = Pipeline(steps).run(contexts)
    assert all(r.ok for r in results)
    trace_ids = [r.context.trace.id for r in results if r.context.trace is not None]
    assert len(trace_ids) == 2
    assert [s.content for s in book.skills()] == [f"lesson from {t}" for t in trace_ids]
    assert [s.sources[0].trace_id for s in book.skills()] == trace_ids
    assert all(s.sources[0].epoch == 1 for s in book.skills())


def test_load_traces_step_reads_the_file_named_by_the_sample(tmp_path: Path) -> None:
    """The established contract: requires ``sample`` (a path), provides ``trace``."""
    step = LoadTracesStep()
    assert step.requires == {"sample"} and step.provides == {"trace"}
    one = tmp_path / "one.json"
    one.write_text((WHO_AND_WHEN / "1.json").read_text(encoding="utf-8"), encoding="utf-8")
    (result,) = Pipeline([step]).run([ACEStepContext(sample=str(one))])
    assert result.ok and isinstance(result.context.trace, Trace)
    assert result.context.trace.format == "who_and_when"
    assert not any(label in result.context.trace.model_dump_json() for label in LABELS)
    with pytest.raises(FileNotFoundError):
        step(ACEStepContext(sample=str(tmp_path / "missing.jsonl")))
    several = _who_and_when_jsonl(tmp_path, ["1.json", "2.json"])
    with pytest.raises(TraceFormatError, match="holds 2 traces"):
        step(ACEStepContext(sample=several))
