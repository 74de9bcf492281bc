"""The learning loop end to end: roles, prompts, runners, provenance (scripted models)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ace import (
    ACE,
    ACELiteLLM,
    Agent,
    Reflector,
    Sample,
    SimpleEnvironment,
    Skillbook,
    SkillManager,
    TraceAnalyser,
)
from ace.errors import PromptTemplateError
from ace.prompting import render_prompt
from ace.testing import FunctionModel, RecordedRequest

DATA = Path(__file__).resolve().parent / "data" / "who_and_when" / "algorithm_generated"


def role_of(request: RecordedRequest) -> str:
    text = request.messages[-1]["content"] if request.messages else ""
    first = request.messages[0]["content"]
    for marker, role in (
        ("You are solving a task", "agent"),
        ("You review one attempt", "reflector"),
        ("You maintain a skillbook", "skill_manager"),
    ):
        if marker in first or marker in text:
            return role
    raise AssertionError(f"unknown prompt: {first[:80]}")


class Team:
    """A scripted team: one function model answering as whichever role is asked."""

    def __init__(self, answer: str = "No", add: str = "Seahorses are fish: answer yes") -> None:
        self.answer = answer
        self.add = add
        self.prompts: dict[str, list[str]] = {"agent": [], "reflector": [], "skill_manager": []}
        self.model = FunctionModel(self.reply)

    def reply(self, request: RecordedRequest) -> str:
        role = role_of(request)
        self.prompts[role].append("\n".join(m["content"] for m in request.messages))
        if role == "agent":
            return json.dumps(
                {
                    "reasoning": "I recall [biology-00001]",
                    "final_answer": self.answer,
                    "skill_ids": [],
                }
            )
        if role == "reflector":
            return json.dumps(
                {
                    "reasoning": "r",
                    "error_identification": "wrong class",
                    "key_insight": "seahorses are fish",
                    "extracted_learnings": [{"learning": self.add, "atomicity_score": 0.9}],
                    "attribution": {"agent": "assistant", "step": 0, "reason": "said no"},
                }
            )
        return json.dumps(
            {
                "reasoning": "new lesson",
                "operations": [{"type": "ADD", "section": "biology", "content": self.add}],
            }
        )


def test_seahorse_flow_learns_from_feedback_and_uses_the_skill() -> None:
    team = Team()
    agent = ACELiteLLM(team.model.name)
    assert agent.ask("Is a seahorse a fish?") == "No"
    assert agent.learn_from_feedback("Wrong: seahorses are fish.", ground_truth="Yes")
    (skill,) = agent.skillbook.skills()
    assert skill.content == "Seahorses are fish: answer yes"
    assert skill.sources[0].sample_id == "feedback" and skill.sources[0].operation == "ADD"
    agent.ask("Is a seahorse a fish?")
    assert f"[{skill.id}] Seahorses are fish" in team.prompts["agent"][-1]
    assert "Wrong: seahorses are fish." in team.prompts["reflector"][0]
    assert skill.content in agent.get_strategies()


def test_agent_reports_only_existing_cited_ids() -> None:
    team = Team()
    book = Skillbook()
    book.add_skill("biology", "Look it up")  # biology-00001
    out = Agent(team.model.name).generate(question="q", skillbook=book)
    assert out.skill_ids == ["biology-00001"]
    out_empty = Agent(team.model.name).generate(question="q", skillbook=Skillbook())
    assert out_empty.skill_ids == []


def test_learn_from_who_and_when_traces_hides_labels_and_records_the_file(tmp_path: Path) -> None:
    files = [DATA / "10.json", DATA / "23.json"]
    if not all(f.exists() for f in files):
        pytest.skip("Who&When data not available")
    records = [json.loads(f.read_text()) for f in files]
    trace_file = tmp_path / "runs.jsonl"
    trace_file.write_text("\n".join(json.dumps(r) for r in records))
    team = Team()
    agent = ACELiteLLM(team.model.name)
    agent.learn_from_traces(trace_file)
    assert len(team.prompts["reflector"]) == 2
    for record, prompt in zip(records, team.prompts["reflector"], strict=True):
        last_step = record["history"][-1]["content"].strip()
        assert last_step[:200] in prompt
        assert "mistake_agent" not in prompt and "mistake_step" not in prompt
        assert record["mistake_reason"] not in prompt
    skills = agent.skillbook.skills()
    assert len(skills) == 2  # one ADD per trace
    ids = {record["question_ID"] for record in records}
    assert {s.sources[0].trace_id for s in skills} == ids


def test_multi_epoch_learning_with_simple_environment() -> None:
    team = Team(answer="4")
    samples = [Sample(question="2+2?", ground_truth="4"), Sample(question="3+1?", ground_truth="5")]
    runner = ACELiteLLM(team.model.name)
    results = runner.learn(samples, SimpleEnvironment(), epochs=2)
    assert len(results) == 4 and all(r.ok for r in results)
    verdicts = [r.context.environment_result.metrics["accuracy"] for r in results]  # type: ignore[union-attr]
    assert verdicts == [1.0, 0.0, 1.0, 0.0]
    epochs = sorted({src.epoch for s in runner.skillbook.skills() for src in s.sources})
    assert epochs == [1, 2]


class FlakyAgent:
    def __init__(self, inner: Agent) -> None:
        self.inner = inner

    def generate(
        self, *, question: str, context: str = "", skillbook: Any, reflection: str | None = None
    ) -> Any:
        if "boom" in question:
            raise RuntimeError("agent exploded")
        return self.inner.generate(question=question, context=context, skillbook=skillbook)


def test_a_failing_sample_is_isolated() -> None:
    team = Team()
    runner = ACE.from_roles(
        agent=FlakyAgent(Agent(team.model.name)),
        reflector=Reflector(team.model.name),
        skill_manager=SkillManager(team.model.name),
    )
    samples = [Sample(question="a"), Sample(question="boom"), Sample(question="c")]
    results = runner.run(samples)
    assert [r.ok for r in results] == [True, False, True]
    assert results[1].failed_at == "AgentStep" and "agent exploded" in str(results[1].error)
    assert len(runner.skillbook.skills()) == 2


def test_background_learning_completes_and_answering_does_not_wait() -> None:
    team = Team(answer="4")
    runner = ACELiteLLM(team.model.name)
    results = runner.learn([Sample(question="2+2?", ground_truth="4")], wait=False)
    assert results[0].context is not None and results[0].context.agent_output is not None
    assert runner.wait_for_background(timeout=30)
    assert len(runner.skillbook.skills()) == 1


def test_save_load_and_continue_learning(tmp_path: Path) -> None:
    team = Team()
    first = ACELiteLLM(team.model.name)
    first.ask("Is a seahorse a fish?")
    first.learn_from_feedback("wrong")
    path = first.save(tmp_path / "book.json")
    second = ACELiteLLM(team.model.name, skillbook=path)
    assert [s.content for s in second.skillbook.skills()] == [
        s.content for s in first.skillbook.skills()
    ]
    second.ask("Is a seahorse a fish?")
    second.learn_from_feedback("still wrong")
    assert len(second.skillbook.skills()) == 2
    assert len({s.id for s in second.skillbook.skills()}) == 2
    third = ACELiteLLM(team.model.name)
    third.load(path)
    assert len(third.skillbook.skills()) == 1


def test_disabled_learning_changes_nothing() -> None:
    team = Team()
    runner = ACELiteLLM(team.model.name, is_learning=False)
    runner.ask("q")
    assert runner.learn_from_feedback("wrong") is False
    assert runner.skillbook.skills() == []


def test_trace_analyser_and_long_trace_cut_with_marker() -> None:
    team = Team()
    steps = [{"role": "assistant", "content": f"step {i} " + "x" * 400} for i in range(500)]
    analyser = TraceAnalyser(
        reflector=Reflector(team.model.name, max_trace_chars=5_000),
        skill_manager=SkillManager(team.model.name),
    )
    analyser.run([{"question": "long task", "messages": steps}])
    prompt = team.prompts["reflector"][0]
    assert "steps cut here" in prompt and "step 0 " in prompt and "step 499 " in prompt
    assert len(analyser.skillbook.skills()) == 1


def test_prompts_render_strictly() -> None:
    with pytest.raises(PromptTemplateError, match="question"):
        render_prompt("agent.j2", context="", skillbook="", reflection="")
    with pytest.raises(PromptTemplateError, match="not found"):
        render_prompt("nope.j2")


def test_reflector_tags_only_cited_skills_and_manager_turns_tags_into_operations() -> None:
    def reply(request: RecordedRequest) -> str:
        if role_of(request) == "reflector":
            return json.dumps(
                {
                    "reasoning": "r",
                    "skill_tags": [
                        {"id": "s-00001", "tag": "harmful"},
                        {"id": "ghost", "tag": "helpful"},
                    ],
                }
            )
        return json.dumps({"reasoning": "none", "operations": []})

    model = FunctionModel(reply)
    book = Skillbook()
    book.add_skill("s", "A risky habit")
    from ace import AgentOutput

    reflection = Reflector(model.name).reflect(
        question="q",
        agent_output=AgentOutput(final_answer="a", skill_ids=["s-00001"]),
        skillbook=book,
    )
    assert [(t.id, t.tag) for t in reflection.skill_tags] == [("s-00001", "harmful")]
    out = SkillManager(model.name).update_skills(reflections=[reflection], skillbook=book)
    report = book.apply_update(out.update)
    assert report.applied[0].type == "TAG" and book.get_skill("s-00001").harmful == 1  # type: ignore[union-attr]
