"""A LangChain tool-calling agent that learns from its own recorded runs.

Runs offline: the chat model is LangChain's GenericFakeChatModel (taught to bind tools,
as real chat models do) and ACE's Reflector and SkillManager answer through a scripted
model on the real litellm path. Swap in ``ChatOpenAI(...)`` / ``ChatAnthropic(...)`` and
a real model string (``Reflector("gpt-4o-mini")``) to run it for real, or
``reflector=RRStep(model)`` for the Recursive Reflector.

To record any chain or agent run yourself, pass ``ACETraceRecorder()`` (from
``ace.integrations.langchain``) in its ``config={"callbacks": [...]}`` and read
``recorder.to_trace()``.

    python examples/langchain_agent.py
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.runnables import Runnable, RunnableLambda
from langchain_core.tools import BaseTool, tool
from langchain_core.utils.function_calling import convert_to_openai_tool

from ace import Reflector, SkillManager
from ace.runners.langchain import LangChain
from ace.testing import ScriptedModel

LESSON = "Check that a currency code is an ISO 4217 code before asking for its rate"


class FakeToolModel(GenericFakeChatModel):
    """LangChain's fake chat model, with ``bind_tools`` as a real chat model has it."""

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Runnable[Any, Any]:
        """Bind the tools' OpenAI schemas, as provider chat models do."""
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools])


@tool
def add(a: float, b: float) -> float:
    """Add two numbers."""
    return a + b


@tool
def exchange_rate(currency: str) -> float:
    """The rate of ``currency`` to US dollars."""
    rates = {"EUR": 1.08, "GBP": 1.27}
    if currency not in rates:
        raise ValueError(f"unknown currency {currency!r}")
    return rates[currency]


def agent(model: FakeToolModel, tools: list[BaseTool]) -> Runnable[Any, Any]:
    """A small tool-calling loop: a tool's error goes back to the model as its result."""
    bound, by_name = model.bind_tools(tools), {t.name: t for t in tools}

    def shopping_assistant(messages: list[BaseMessage]) -> AIMessage:
        history = list(messages)
        for _ in range(5):
            reply = bound.invoke(history)
            history.append(reply)
            if not reply.tool_calls:
                return reply
            for call in reply.tool_calls:
                try:
                    history.append(by_name[call["name"]].invoke(call))
                except Exception as exc:
                    history.append(ToolMessage(f"Error: {exc}", tool_call_id=call["id"]))
        raise RuntimeError("no answer after 5 turns")

    return RunnableLambda(shopping_assistant)


def replies() -> Iterator[AIMessage]:
    """What the fake chat model says: a wrong currency code first, then a right one."""
    ask = [{"name": "exchange_rate", "args": {"currency": "EURO"}, "id": "c1"}]
    yield AIMessage("", tool_calls=ask)
    yield AIMessage("I could not find the rate for EURO.")
    ask = [{"name": "exchange_rate", "args": {"currency": "EUR"}, "id": "c2"}]
    yield AIMessage("", tool_calls=ask)
    yield AIMessage("20 EUR is 21.60 USD.")


def ace_roles() -> ScriptedModel:
    """The Reflector's and the SkillManager's answers for the first run, in order."""
    return ScriptedModel(
        [
            json.dumps(
                {
                    "reasoning": "exchange_rate failed for 'EURO', which is not a currency code",
                    "error_identification": "the agent passed a currency name, not its code",
                    "key_insight": LESSON,
                    "extracted_learnings": [{"learning": LESSON, "atomicity_score": 0.9}],
                }
            ),
            json.dumps(
                {
                    "reasoning": "one new strategy",
                    "operations": [{"type": "ADD", "section": "tools", "content": LESSON}],
                }
            ),
        ]
    )


def main() -> None:
    """Record a run, learn from it, and show the lesson in the next run's system prompt."""
    model = FakeToolModel(messages=replies())
    roles = ace_roles()
    runner = LangChain(
        agent(model, [add, exchange_rate]),
        reflector=Reflector(roles.name),
        skill_manager=SkillManager(roles.name),
    )

    (first,) = runner.run(["How much is 20 euros in US dollars?"])
    print("Recorded trace of the first run:")
    print(first.context.trace.render(2_000))
    print("\nLearned:", [skill.content for skill in runner.skillbook.skills()])

    # The next run starts with the lesson in its system prompt (learning off here: the
    # scripted roles have no more answers).
    replay = LangChain(
        agent(model, [add, exchange_rate]), skillbook=runner.skillbook, is_learning=False
    )
    (second,) = replay.run(["And 20 EUR in dollars, please?"])
    trace = second.context.trace
    print("\nSecond run, the system prompt the model received:\n" + trace.steps[0].content)
    print("Second run answer:", trace.final_answer)


if __name__ == "__main__":
    main()
