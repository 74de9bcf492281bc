"""The integration contract: one subclass is a whole framework integration."""

from __future__ import annotations

from typing import Any

import pytest
from _roles_support import Team

from ace import Reflector, Sample, Skillbook, SkillbookView, SkillManager, wrap_skillbook_context
from ace.errors import UsageError
from ace.integrations import ExecuteStep, Integration, IntegrationRunner, ToTraceStep
from ace.traces import Trace


class Calculator(Integration):
    """A stand-in agent framework: records what it was told and fails on division."""

    name = "calculator"

    def __init__(self) -> None:
        self.prompts: list[str] = []

    def execute(self, task: Sample, skills: str) -> dict[str, Any]:
        self.prompts.append(skills)
        steps = [{"role": "assistant", "content": f"computing {task.question}"}]
        if "/" in task.question:
            steps.append({"role": "tool", "content": "ZeroDivisionError: division by zero"})
            return {"steps": steps, "answer": "error"}
        return {"steps": steps, "answer": "4"}

    def to_trace(self, result: dict[str, Any], task: Sample) -> dict[str, Any]:
        return {
            "question": task.question,
            "steps": result["steps"],
            "answer": result["answer"],
            "feedback": "failed" if result["answer"] == "error" else "ok",
        }


def test_runner_executes_with_skills_injected_and_learns() -> None:
    team = Team(lesson="Check the divisor before dividing")
    calc = Calculator()
    runner = IntegrationRunner(
        calc, reflector=Reflector(team.name), skill_manager=SkillManager(team.name)
    )
    first = runner.run(["1/0", "2+2"])
    assert all(r.ok for r in first)
    assert calc.prompts[0] == ""  # nothing learned yet
    assert team.lesson in calc.prompts[1]  # learned from the first run, injected into the second
    trace = first[0].context.trace
    assert isinstance(trace, Trace) and trace.question == "1/0" and trace.feedback == "failed"
    assert "division by zero" in team.requests["reflector"][0].messages[-1]["content"]
    assert first[0].context.metadata["integration_result"]["answer"] == "error"


def test_steps_contract() -> None:
    calc = Calculator()
    assert ExecuteStep(calc).provides == {"trace"} and ToTraceStep(calc).requires == {
        "sample",
        "trace",
    }
    with pytest.raises(UsageError, match="give a string, a Sample or a dict"):
        IntegrationRunner(calc, reflector=Reflector("x/y"), skill_manager=SkillManager("x/y")).run(
            [42]
        )  # type: ignore[list-item]


def test_wrap_skillbook_context_keeps_the_one_argument_form_and_picks_relevant_skills() -> None:
    book = Skillbook()
    assert wrap_skillbook_context(book) == ""
    book.add_skill("math", "Check the divisor before dividing numbers")
    book.add_skill("web", "Wait for the page to load before clicking")
    unit = book.add_skill("units", "Convert miles to kilometres before adding distances")
    book.tag_skill(unit.id, "helpful", 2)
    everything = wrap_skillbook_context(book)
    assert all(s.id in everything for s in book.skills()) and "helpful 2" in everything
    picked = wrap_skillbook_context(SkillbookView(book), prompt="Add these distances in miles", k=1)
    assert unit.id in picked and "divisor" not in picked
    assert len(wrap_skillbook_context(book, k=2).split("\n- [")) == 3
    with pytest.raises(UsageError, match="k must be"):
        wrap_skillbook_context(book, k=0)
