"""Writes ``openai_agents.jsonl``: the OpenAI Agents SDK's own trace and span exports.

The run is real: the ``openai-agents`` package runs a triage agent that looks an order up
(its function span), hands off to a refunds agent (a handoff span) whose refund tool
fails (a function span with an error), under an input guardrail and a custom span. The
model is the SDK's own ``OpenAIChatCompletionsModel`` (so its generation spans carry the
messages in and out) talking to an ``httpx.MockTransport`` that plays scripted chat
completions: nothing leaves the machine. A ``TracingProcessor`` writes
``trace.export()`` when the trace starts and ``span.export()`` as each span ends, one
JSON object per line, which is how such a processor would log them.

Install the package for this script only (it is not a dependency of the project), in
any Python 3.11+ environment, then run it from anywhere::

    pip install openai-agents==0.24.0
    python tests/data/traces/make_openai_agents.py

Ids and times are fixed afterwards (the SDK draws them at random and from the clock) so
that the file does not change from one run to the next.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

try:  # openai 3 talks through httpx2, earlier releases through httpx
    import httpx2 as httpx
except ImportError:
    import httpx  # type: ignore[no-redef]
from agents import (
    Agent,
    GuardrailFunctionOutput,
    OpenAIChatCompletionsModel,
    RunConfig,
    Runner,
    function_tool,
    input_guardrail,
    set_trace_processors,
    trace,
)
from agents.tracing import Span, Trace, TracingProcessor, custom_span
from openai import AsyncOpenAI

OUT = Path(__file__).with_name("openai_agents.jsonl")

SCRIPT: list[dict[str, Any]] = [
    {"tool_calls": [("call_lookup", "lookup_order", {"order_id": "A-1001"})]},
    {"tool_calls": [("call_handoff", "transfer_to_refunds", {})]},
    {"tool_calls": [("call_refund", "issue_refund", {"order_id": "A-1001", "amount": 42.0})]},
    {
        "content": "I could not issue the refund: the system says the refund window has "
        "closed. I have asked a supervisor to review order A-1001."
    },
]
"""What the scripted model answers, call after call."""


def completion(number: int) -> dict[str, Any]:
    """The chat completion the mock server returns for the ``number``-th call."""
    turn = SCRIPT[number]
    message: dict[str, Any] = {"role": "assistant", "content": turn.get("content")}
    if "tool_calls" in turn:
        message["tool_calls"] = [
            {"id": cid, "type": "function", "function": {"name": n, "arguments": json.dumps(a)}}
            for cid, n, a in turn["tool_calls"]
        ]
    return {
        "id": f"chatcmpl-{number}",
        "object": "chat.completion",
        "created": 1767261600 + number,
        "model": "gpt-4.1-mini",
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": "tool_calls" if "tool_calls" in turn else "stop",
            }
        ],
        "usage": {"prompt_tokens": 120 + 30 * number, "completion_tokens": 18, "total_tokens": 0},
    }


class JsonlProcessor(TracingProcessor):
    """Keeps every trace and span export, in the order the SDK reports them."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def on_trace_start(self, trace: Trace) -> None:
        exported = trace.export()
        if exported:
            self.items.append(exported)

    def on_trace_end(self, trace: Trace) -> None:
        pass

    def on_span_start(self, span: Span[Any]) -> None:
        pass

    def on_span_end(self, span: Span[Any]) -> None:
        exported = span.export()
        if exported:
            self.items.append(exported)

    def shutdown(self) -> None:
        pass

    def force_flush(self) -> None:
        pass


@function_tool
def lookup_order(order_id: str) -> str:
    """Look an order up by its id."""
    with custom_span("order_cache", {"order_id": order_id, "hit": False}):
        return json.dumps({"order_id": order_id, "status": "delivered", "total": 42.0})


@function_tool
def issue_refund(order_id: str, amount: float) -> str:
    """Refund an order."""
    raise RuntimeError(f"refund window closed for {order_id} (30 days after delivery)")


@input_guardrail
async def no_card_numbers(ctx: Any, agent: Agent[Any], text: Any) -> GuardrailFunctionOutput:
    """Trips when the request carries something that looks like a card number."""
    found = re.search(r"\b\d{13,16}\b", str(text)) is not None
    return GuardrailFunctionOutput(output_info={"card_number": found}, tripwire_triggered=found)


async def main() -> None:
    calls = 0

    async def answer(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        body = completion(calls)
        calls += 1
        return httpx.Response(200, json=body)

    client = AsyncOpenAI(
        api_key="sk-not-used",
        base_url="http://model.invalid/v1",
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(answer)),
    )
    model = OpenAIChatCompletionsModel(model="gpt-4.1-mini", openai_client=client)
    refunds = Agent(
        name="Refunds",
        instructions="Issue refunds for delivered orders.",
        tools=[issue_refund],
        model=model,
    )
    triage = Agent(
        name="Triage",
        instructions="Find the order, then hand refund requests to Refunds.",
        tools=[lookup_order],
        handoffs=[refunds],
        input_guardrails=[no_card_numbers],
        model=model,
    )
    processor = JsonlProcessor()
    set_trace_processors([processor])
    with trace("Refund desk", trace_id="trace_0123456789abcdef0123456789abcdef", group_id="conv-7"):
        result = await Runner.run(
            triage,
            "Please refund order A-1001, it arrived broken.",
            run_config=RunConfig(trace_include_sensitive_data=True),
        )
    print(result.final_output)
    OUT.write_text("".join(json.dumps(item) + "\n" for item in steady(processor.items)))


def steady(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same exports with the random span ids made fixed, and the clock's times moved
    to a fixed day, each one 100 ms after the one before in the order they happened."""
    text = "\n".join(json.dumps(item) for item in items)
    ids = dict.fromkeys(re.findall(r'"(span_[0-9a-f]{24})"', text))
    for number, old in enumerate(ids, start=1):
        text = text.replace(old, f"span_{number:024d}")
    times = sorted(set(re.findall(r'"(\d{4}-\d\d-\d\dT[0-9:.]+\+00:00)"', text)))
    for number, old in enumerate(times):
        text = text.replace(old, f"2026-01-01T10:00:{number // 10:02d}.{number % 10}00000+00:00")
    return [json.loads(line) for line in text.split("\n")]


if __name__ == "__main__":
    asyncio.run(main())
