"""Writes ``smolagents.json``: ``agent.memory.get_full_steps()`` of a real smolagents run.

The ``smolagents`` package runs a ``CodeAgent`` (its code executed by smolagents' own
local Python interpreter) with a planning step, a tool of ours, and a model that is a
scripted subclass of smolagents' ``Model``: each call returns the next prepared answer,
so no model is downloaded or called. The first code action fails (a ``KeyError`` the
agent records as the step's ``error``), the second recovers, the third gives the final
answer.

Install the package for this script only (it is not a dependency of the project), in
any Python 3.11+ environment, then run it from anywhere::

    pip install smolagents==1.26.0
    python tests/data/traces/make_smolagents.py

Times are moved to a fixed day afterwards so that the file does not change between runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from smolagents import CodeAgent, tool
from smolagents.models import ChatMessage, MessageRole, Model
from smolagents.monitoring import TokenUsage

OUT = Path(__file__).with_name("smolagents.json")

ANSWERS = [
    "## 1. Facts survey\nThe task asks for the cheapest warehouse for 40 pallets.\n\n"
    "## 2. Plan\n1. Get the quotes.\n2. Pick the cheapest one that has room.\n<end_plan>",
    "Thought: I will fetch the quotes and read the price of each.\n<code>\n"
    "quotes = get_quotes(pallets=40)\nprint(quotes['north']['price'], quotes['south']['price'])\n"
    "</code>",
    "Thought: The keys are not regions; I will print the quotes to see their shape.\n<code>\n"
    "quotes = get_quotes(pallets=40)\nprint(quotes)\n</code>",
    "Thought: Depot B is cheaper and has room.\n<code>\n"
    "final_answer('Depot B, 1,120 EUR a month')\n</code>",
]


class ScriptedModel(Model):
    """A smolagents model that answers from a script, call after call."""

    def __init__(self) -> None:
        super().__init__(model_id="scripted-model")
        self.calls = 0

    def generate(
        self,
        messages: list[Any],
        stop_sequences: list[str] | None = None,
        response_format: dict[str, str] | None = None,
        tools_to_call_from: list[Any] | None = None,
        **kwargs: Any,
    ) -> ChatMessage:
        text = ANSWERS[self.calls]
        self.calls += 1
        return ChatMessage(
            role=MessageRole.ASSISTANT,
            content=text,
            token_usage=TokenUsage(input_tokens=900 + 100 * self.calls, output_tokens=40),
        )


@tool
def get_quotes(pallets: int) -> dict:
    """Monthly storage quotes from the warehouses near the port.

    Args:
        pallets: How many pallets to store.
    """
    return {
        "depot_a": {"price_eur": 1380, "free_pallets": 60},
        "depot_b": {"price_eur": 1120, "free_pallets": 45},
    }


def main() -> None:
    agent = CodeAgent(
        tools=[get_quotes],
        model=ScriptedModel(),
        planning_interval=5,
        max_steps=5,
        verbosity_level=0,
    )
    answer = agent.run("Which warehouse is cheapest for 40 pallets a month?")
    steps = steady(agent.memory.get_full_steps())
    OUT.write_text(json.dumps(steps, indent=1, default=str) + "\n")
    print(f"{len(steps)} steps, answer: {answer}")


def steady(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The steps with their clock times moved to 2026-01-01 10:00 UTC (1767261600), each
    time kept in order and 1.5 s after the one before."""
    times = sorted(
        {
            value
            for step in steps
            for key, value in (step.get("timing") or {}).items()
            if key != "duration" and isinstance(value, float)
        }
    )
    moved = {old: 1767261600.0 + 1.5 * number for number, old in enumerate(times)}
    for step in steps:
        timing = step.get("timing")
        if timing:
            for key in ("start_time", "end_time"):
                if timing.get(key) is not None:
                    timing[key] = moved[timing[key]]
            if timing.get("end_time") is not None:
                timing["duration"] = timing["end_time"] - timing["start_time"]
    return steps


if __name__ == "__main__":
    main()
