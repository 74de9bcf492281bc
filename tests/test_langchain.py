"""LangChain: runs recorded as traces by a real callback handler, skills injected into the
system prompt, and learning from the recording (Reflector, and the RR in a real kernel).

The chat models are LangChain's own fakes; the agent is a small tool-calling loop over
``bind_tools`` running real ``@tool`` functions; ACE's roles answer through scripted
models on the real litellm path.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _roles_support import Team
from langchain_core.language_models.fake_chat_models import (
    GenericFakeChatModel,
    ParrotFakeChatModel,
)
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable, RunnableLambda
from langchain_core.tools import BaseTool, tool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import Field

from ace import ACERunner, Pipeline, Reflector, Sample, Skillbook, SkillbookView, SkillManager
from ace.errors import UsageError
from ace.integrations.langchain import (
    ACETraceRecorder,
    LangChainExecuteStep,
    LangChainResult,
    LangChainToTrace,
)
from ace.pipeline import ACEStepContext
from ace.rr import RRStep
from ace.runners.langchain import LangChain
from ace.steps import ApplyStep, ReflectStep, UpdateStep
from ace.testing import ScriptedModel, explore_then_final, reflection
from ace.traces import Trace, load_trace, load_trace_file

QUESTION = "What is 2 + 3, and what is the XYZ exchange rate?"
LESSON = "Check that a currency code exists before asking for its rate"


class ToolCallingFake(GenericFakeChatModel):
    """LangChain's GenericFakeChatModel with tools bound the way real chat models bind
    them, remembering every message list it is sent."""

    received: list[list[BaseMessage]] = Field(default_factory=list)

    def bind_tools(self, tools: Any, *, tool_choice: str | None = None, **kwargs: Any) -> Any:
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], **kwargs)

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> Any:
        self.received.append(list(messages))
        return super()._generate(messages, *args, **kwargs)


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@tool
def lookup_rate(currency: str) -> float:
    """The exchange rate of a currency to US dollars."""
    raise ValueError(f"unknown currency {currency}")


def script() -> Iterator[AIMessage]:
    """Two turns: ask for both tools, then answer."""
    calls = [
        {"name": "add", "args": {"a": 2, "b": 3}, "id": "call_add"},
        {"name": "lookup_rate", "args": {"currency": "XYZ"}, "id": "call_rate"},
    ]
    return iter(
        [
            AIMessage(content="I will use the tools.", tool_calls=calls),
            AIMessage(content="2 + 3 = 5; the XYZ rate is not available."),
        ]
    )


def calculator_agent(
    model: ToolCallingFake, tools: list[BaseTool], *, plain: bool = False
) -> Runnable[Any, Any]:
    """A tool-calling loop: the model asks, the tools run (an error goes back to the model
    as the tool's message), until the model answers without tool calls. ``plain`` runs
    each tool with its arguments and builds the tool message itself."""
    bound = model.bind_tools(tools)
    by_name = {t.name: t for t in tools}

    def calculator(messages: list[BaseMessage]) -> AIMessage:
        history = list(messages)
        for _ in range(4):
            reply = bound.invoke(history)
            history.append(reply)
            if not reply.tool_calls:
                return reply
            for call in reply.tool_calls:
                try:
                    if plain:
                        output = by_name[call["name"]].invoke(call["args"])
                        history.append(ToolMessage(str(output), tool_call_id=call["id"]))
                    else:
                        history.append(by_name[call["name"]].invoke(call))
                except Exception as exc:
                    history.append(
                        ToolMessage(
                            content=f"Error: {exc}", tool_call_id=call["id"], status="error"
                        )
                    )
        raise RuntimeError("the agent did not answer in 4 turns")

    return RunnableLambda(calculator)


@pytest.mark.parametrize("plain", [False, True], ids=["tool-calls", "plain-arguments"])
def test_the_recorder_turns_a_tool_calling_agent_run_into_a_trace(
    tmp_path: Path, plain: bool
) -> None:
    model = ToolCallingFake(messages=script())
    recorder = ACETraceRecorder()
    answer = calculator_agent(model, [add, lookup_rate], plain=plain).invoke(
        [SystemMessage("You are a calculator."), HumanMessage(QUESTION)],
        config={"callbacks": [recorder]},
    )
    assert answer.content == "2 + 3 = 5; the XYZ rate is not available."
    assert len(model.received) == 2 and len(model.received[1]) == 5  # history re-sent

    record = recorder.to_record()
    path = tmp_path / "run.json"
    path.write_text(json.dumps(record))
    trace = load_trace(record)
    assert load_trace_file(path).model_dump(exclude={"source", "id"}) == trace.model_dump(
        exclude={"source", "id"}
    )
    assert trace.format == "openai_messages" and trace.question == QUESTION
    assert trace.final_answer == answer.content
    shape = [(s.role, s.agent) for s in trace.steps]
    assert shape == [
        ("system", "system"),
        ("user", "user"),
        ("assistant", "calculator"),  # the enclosing chain names the agent
        ("tool", "add"),
        ("tool", "lookup_rate"),
        ("assistant", "calculator"),
    ]  # each message once, although the second call was sent the whole history
    ask = trace.steps[2]
    assert [(c.name, c.arguments, c.id) for c in ask.tool_calls] == [
        ("add", {"a": 2, "b": 3}, "call_add"),
        ("lookup_rate", {"currency": "XYZ"}, "call_rate"),
    ]
    assert [(r.output, r.call_id) for s in trace.steps[3:5] for r in s.tool_results] == [
        ("5", "call_add"),
        ("Error: ValueError: unknown currency XYZ", "call_rate"),
    ]
    assert all(not s.tool_calls for s in trace.steps[3:5])  # the model's step holds them
    assert all(s.timestamp and s.timestamp.endswith("Z") for s in trace.steps)

    runs = {r["run_id"]: r for r in record["runs"]}
    (root,) = [r for r in runs.values() if r["parent_run_id"] is None]
    assert (root["kind"], root["name"], record["id"]) == ("chain", "calculator", root["run_id"])
    kinds = sorted(r["kind"] for r in runs.values() if r["parent_run_id"] == root["run_id"])
    assert kinds == ["chat_model", "chat_model", "tool", "tool"]
    steps = record["messages"]
    assert all(s["parent_run_id"] == root["run_id"] for s in steps)
    assert runs[steps[4]["run_id"]]["error"] == "ValueError: unknown currency XYZ"
    assert steps[4]["error"] == "ValueError: unknown currency XYZ"
    assert runs[steps[2]["run_id"]]["kind"] == "chat_model" and steps[2]["started_at"]


def test_model_and_chain_errors_are_steps_recorded_once() -> None:
    silent = ToolCallingFake(messages=iter([]))  # a model that fails on its first call
    recorder = ACETraceRecorder()
    with pytest.raises(StopIteration):
        calculator_agent(silent, [add]).invoke([HumanMessage("2+2?")], {"callbacks": [recorder]})
    trace = recorder.to_trace()
    assert [(s.role, s.agent) for s in trace.steps] == [("user", "user"), ("error", "calculator")]
    assert trace.steps[1].content == "the model ToolCallingFake failed: StopIteration"
    assert {r["kind"]: r.get("error") for r in recorder.runs} == {
        "chain": "StopIteration",
        "chat_model": "StopIteration",
    }

    recorder.reset()
    direct = RunnableLambda(lambda code: lookup_rate.invoke({"currency": code}), name="rates")
    with pytest.raises(ValueError, match="unknown currency EUR"):
        direct.invoke("EUR", {"callbacks": [recorder]})
    (step,) = recorder.to_trace().steps  # the tool's error, not again as the chain's
    assert step.agent == "lookup_rate" and step.tool_calls[0].arguments == {"currency": "EUR"}
    assert step.tool_results[0].output == "Error: ValueError: unknown currency EUR"
    assert [r.get("error") for r in recorder.runs] == ["ValueError: unknown currency EUR"] * 2


def test_the_recorder_is_thread_safe_under_a_concurrent_batch() -> None:
    parrot = ParrotFakeChatModel()

    def echo(question: str) -> BaseMessage:
        add.invoke({"a": len(question), "b": 1})
        return parrot.invoke([HumanMessage(question)])

    recorder = ACETraceRecorder(agent_name="echo")
    questions = [f"question {i}" for i in range(24)]
    answers = RunnableLambda(echo).batch(
        questions, config={"callbacks": [recorder], "max_concurrency": 8}
    )
    assert [a.content for a in answers] == questions
    steps = recorder.steps
    assert len(recorder.runs) == 24 * 3 and len(steps) == 24 * 3
    by_parent: dict[str, dict[str, list[str]]] = {}
    for s in steps:
        by_parent.setdefault(s["parent_run_id"], {}).setdefault(s["role"], []).append(s["content"])
    assert len(by_parent) == 24
    for group in by_parent.values():  # each run's steps stayed together under its chain
        assert group["user"] == group["assistant"] and len(group["tool"]) == 1
        assert group["tool"] == [str(len(group["user"][0]) + 1)]
    assert {s["name"] for s in steps if s["role"] == "assistant"} == {"echo"}


def skillbook_with(*lessons: str) -> Skillbook:
    book = Skillbook()
    for lesson in lessons:
        book.add_skill("tools", lesson)
    return book


def test_skills_go_into_the_system_prompt_the_model_receives() -> None:
    book = skillbook_with(LESSON)

    # a chat model with tools bound, given a string: [system(skills), human]
    model = ToolCallingFake(messages=iter(["ok"]))
    LangChain(model.bind_tools([add]), skillbook=book, is_learning=False).run([QUESTION])
    (sent,) = model.received
    assert isinstance(sent[0], SystemMessage) and LESSON in str(sent[0].content)
    assert [type(m) for m in sent] == [SystemMessage, HumanMessage]

    # a message list with its own system message: that one is extended
    model = ToolCallingFake(messages=script())
    runner = LangChain(
        calculator_agent(model, [add, lookup_rate]), skillbook=book, is_learning=False
    )
    (result,) = runner.run([[("system", "You are a calculator."), ("human", QUESTION)]])
    first = model.received[0]
    assert [type(m) for m in first] == [SystemMessage, HumanMessage]
    assert str(first[0].content).startswith("You are a calculator.\n\n") and LESSON in str(
        first[0].content
    )
    assert result.context.trace.steps[0].content == first[0].content  # the trace shows it

    # a prompt template naming {skillbook_context}: the skills fill it; none fill ""
    model = ToolCallingFake(messages=iter(["5 km", "3 mi"]))
    prompt = ChatPromptTemplate.from_messages(
        [("system", "You convert units.\n{skillbook_context}"), ("human", "{question}")]
    )
    LangChain(prompt | model, skillbook=book, is_learning=False).run(["8 km in miles?"])
    LangChain(prompt | model, is_learning=False).run([{"question": "5 km in miles?"}])
    with_skills, without = model.received
    assert LESSON in str(with_skills[0].content) and with_skills[1].content == "8 km in miles?"
    assert without[0].content == "You convert units.\n"

    # a graph-like runnable taking {"messages": [...]}: the string becomes that state
    model = ToolCallingFake(messages=iter(["done"]))

    def node(state):  # unannotated, so LangChain reads the keys it uses: {"messages"}
        return {"messages": [*state["messages"], model.invoke(state["messages"])]}

    (result,) = LangChain(RunnableLambda(node), skillbook=book, is_learning=False).run(["go"])
    assert result.context.metadata["integration_result"].success
    assert [type(m) for m in model.received[0]] == [SystemMessage, HumanMessage]
    assert result.context.trace.final_answer == "done"
    assert result.context.trace.steps[-1].agent == "node"


def test_caller_mistakes_raise_before_any_model_call() -> None:
    model = ToolCallingFake(messages=iter(["never"]))
    plain = ChatPromptTemplate.from_messages([("system", "Be brief."), ("human", "{question}")])
    two = ChatPromptTemplate.from_messages(
        [("system", "{skillbook_context}"), ("human", "{question} in {unit}")]
    )
    team = Team()
    roles = {"reflector": Reflector(team.name), "skill_manager": SkillManager(team.name)}
    cases: list[tuple[Any, Any, str]] = [
        (plain | model, {"question": "hi"}, "add \\{skillbook_context\\} to its system prompt"),
        (plain | model, "hi", "a string task leaves the skills nowhere to go"),
        (plain | model, [("human", "hi")], "a message list leaves the skills nowhere"),
        (two | model, "hi", "one variable besides"),
        (two | model, {"question": "hi"}, r"lacks the runnable's required variables \['unit'\]"),
        (two | model, {"question": "a", "unit": "b", "skillbook_context": "x"}, "ACE fills it"),
        (model, 42, "give a string, a list of messages"),
        (model, [object()], "expected messages"),
    ]
    for runnable, value, message in cases:
        with pytest.raises(UsageError, match=message):
            LangChain(runnable, **roles).run([value])
    with pytest.raises(UsageError, match="wrap it in a list"):
        LangChain(model, **roles).run("hi")
    with pytest.raises(UsageError, match="must be a LangChain Runnable"):
        LangChain(lambda x: x, **roles)
    with pytest.raises(UsageError, match="missing reflector, skill_manager"):
        LangChain(model)
    assert model.received == [] and team.requests == {}


def test_a_failing_run_is_learned_from_and_the_lesson_reaches_the_next_run() -> None:
    team = Team(lesson=LESSON)
    model = ToolCallingFake(messages=iter([]))  # fails on the first call
    runner = LangChain(
        calculator_agent(model, [add]),
        reflector=Reflector(team.name),
        skill_manager=SkillManager(team.name),
    )
    (result,) = runner.run([Sample(question=QUESTION, ground_truth="5")])
    assert result.ok
    trace = result.context.trace
    raw = result.context.metadata["integration_result"]
    assert isinstance(raw, LangChainResult) and not raw.success and raw.result_type == "error"
    assert trace.feedback == "The run failed: StopIteration" and trace.ground_truth == "5"
    assert (
        "the model ToolCallingFake failed: StopIteration"
        in (team.requests["reflector"][0].messages[-1]["content"])
    )
    assert [s.content for s in runner.skillbook.skills()] == [LESSON]
    assert LESSON in runner.get_strategies()

    model.messages = iter(["5"])
    runner.run([QUESTION])
    assert LESSON in str(model.received[-1][0].content)


def test_the_recursive_reflector_analyses_the_recorded_run_and_a_skill_is_added() -> None:
    explore = "print(trace.overview(80))\nprint(trace.errors())"
    rr_model = ScriptedModel(
        explore_then_final(
            [explore],
            reflection(
                agent="calculator",
                step=1,
                key_insight=LESSON,
                extracted_learnings=[{"learning": LESSON, "atomicity_score": 0.9}],
            ),
        )
    )
    team = Team(lesson=LESSON)
    model = ToolCallingFake(messages=script())
    book = Skillbook()
    rr = RRStep(rr_model.name)
    runner = LangChain(
        calculator_agent(model, [add, lookup_rate]),
        reflector=rr,
        skill_manager=SkillManager(team.name),
        skillbook=book,
    )
    (result,) = runner.run([QUESTION])
    assert result.ok and [s.content for s in book.skills()] == [LESSON]

    trace = result.context.trace
    assert isinstance(trace, Trace) and trace.final_answer.startswith("2 + 3 = 5")
    transcript = rr.last_result.transcript
    assert transcript.outcome == "final"
    seen = transcript.iterations[0].stdout  # the kernel read the recorded steps
    assert "#3 [lookup_rate] [tool result] Error: ValueError: unknown currency XYZ" in seen
    assert "'index': 3, 'agent': 'lookup_rate'" in seen
    attribution = result.context.reflections[0].attribution
    assert attribution is not None and (attribution.agent, attribution.step) == ("calculator", 1)
    assert LESSON in team.requests["skill_manager"][0].messages[-1]["content"]

    model.messages = script()
    LangChain(calculator_agent(model, [add, lookup_rate]), skillbook=book, is_learning=False).run(
        [QUESTION]
    )
    assert LESSON in str(model.received[-1][0].content)


def test_the_established_names_and_shapes() -> None:
    team = Team(lesson=LESSON)
    book = Skillbook()
    model = ToolCallingFake(messages=iter(["four", "five"]))
    steps = LangChain.build_steps(
        runnable=model, reflector=Reflector(team.name), skill_manager=SkillManager(team.name),
        skillbook=book,
    )  # fmt: skip
    assert [type(s) for s in steps] == [
        LangChainExecuteStep, LangChainToTrace, ReflectStep, UpdateStep, ApplyStep,
    ]  # fmt: skip
    assert LangChainToTrace().requires == {"trace"} and steps[0].runnable is model

    # the established pipeline: ctx.sample is the raw input, and stays so
    (done,) = Pipeline(steps).run([ACEStepContext(sample="2+2?", skillbook=SkillbookView(book))])
    assert done.ok and done.output.sample == "2+2?"
    assert done.output.trace.question == "2+2?" and done.output.trace.final_answer == "four"
    assert len(book) == 1

    runner = ACERunner(pipeline=Pipeline(steps), skillbook=book)
    (again,) = runner.run([ACEStepContext(sample="3+2?", skillbook=SkillbookView(book))])
    assert again.output.trace.final_answer == "five" and LESSON in str(
        model.received[-1][0].content
    )

    model.messages = iter(["six"])
    via = LangChain.from_roles(
        runnable=model,
        reflector=Reflector(team.name),
        skill_manager=SkillManager(team.name),
        skillbook=book,
    )
    (one,) = via.invoke("3+3?")
    assert one.context.trace.final_answer == "six"
    assert isinstance(LangChain.from_model(model, ace_model=team.name), LangChain)
    with pytest.raises(UsageError, match="a runnable or a pipeline, not both"):
        LangChain(model, pipeline=Pipeline(steps))


def test_importing_ace_does_not_import_langchain() -> None:
    code = (
        "import sys, ace, ace.integrations, ace.runners\n"
        "ace.integrations.Integration\n"
        "assert 'langchain_core' not in sys.modules, 'langchain imported'\n"
        "import ace.integrations.langchain\n"
        "assert 'langchain_core' in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
