"""Writes ``openai_responses.json``: a Responses API item list, as the OpenAI Agents SDK
keeps a conversation (``RunResult.to_input_list()``).

The run is real: the ``openai-agents`` package runs an agent on its own
``OpenAIResponsesModel`` (the Responses API client of the ``openai`` package), talking to
an ``httpx.MockTransport`` that plays scripted responses, so nothing leaves the machine.
The model reasons (a ``reasoning`` item), calls a function tool that fails once and then
answers (``function_call`` / ``function_call_output``), looks at the screen through the
computer tool (``computer_call`` / ``computer_call_output``, the computer a small
in-memory one) and answers (a ``message``).

Install the package for this script only (it is not a dependency of the project), in
any Python 3.11+ environment, then run it from anywhere::

    pip install openai-agents==0.24.0
    python tests/data/traces/make_openai_responses.py
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, Literal

try:  # openai 3 talks through httpx2, earlier releases through httpx
    import httpx2 as httpx
except ImportError:
    import httpx  # type: ignore[no-redef]
from agents import (
    Agent,
    AsyncComputer,
    ComputerTool,
    OpenAIResponsesModel,
    Runner,
    function_tool,
    set_tracing_disabled,
)
from openai import AsyncOpenAI

OUT = Path(__file__).with_name("openai_responses.json")
PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
"""A 1x1 PNG: the screenshot the in-memory computer returns."""


def output_items(number: int) -> list[dict[str, Any]]:
    """The output items of the ``number``-th response."""
    if number == 0:
        return [
            {
                "type": "reasoning",
                "id": "rs_1",
                "summary": [
                    {"type": "summary_text", "text": "Check the invoice total before paying."}
                ],
            },
            {
                "type": "function_call",
                "id": "fc_1",
                "call_id": "call_inv_1",
                "name": "get_invoice",
                "arguments": json.dumps({"invoice_id": "INV-77"}),
                "status": "completed",
            },
        ]
    if number == 1:
        return [
            {
                "type": "function_call",
                "id": "fc_2",
                "call_id": "call_inv_2",
                "name": "get_invoice",
                "arguments": json.dumps({"invoice_id": "INV-077"}),
                "status": "completed",
            }
        ]
    if number == 2:
        return [
            {
                "type": "computer_call",
                "id": "cu_1",
                "call_id": "call_screen_1",
                "action": {"type": "click", "x": 412, "y": 230, "button": "left"},
                "pending_safety_checks": [],
                "status": "completed",
            }
        ]
    return [
        {
            "type": "message",
            "id": "msg_1",
            "role": "assistant",
            "status": "completed",
            "content": [
                {
                    "type": "output_text",
                    "text": "Invoice INV-077 is 318.40 EUR; I opened the payment form but "
                    "did not submit it.",
                    "annotations": [],
                }
            ],
        }
    ]


def response(number: int) -> dict[str, Any]:
    """The whole Responses API answer the mock server returns for the ``number``-th call."""
    return {
        "id": f"resp_{number + 1}",
        "object": "response",
        "created_at": 1767261600 + number,
        "status": "completed",
        "model": "computer-use-preview",
        "output": output_items(number),
        "parallel_tool_calls": False,
        "tool_choice": "auto",
        "tools": [],
        "usage": {
            "input_tokens": 200,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": 20,
            "output_tokens_details": {"reasoning_tokens": 8},
            "total_tokens": 220,
        },
    }


@function_tool
def get_invoice(invoice_id: str) -> str:
    """An invoice's amount and state."""
    if invoice_id != "INV-077":
        raise LookupError(f"no invoice {invoice_id}")
    return json.dumps({"invoice_id": invoice_id, "amount": "318.40", "currency": "EUR"})


class Screen(AsyncComputer):
    """A browser that is only ever at the payment page."""

    @property
    def environment(self) -> Literal["browser"]:
        return "browser"

    @property
    def dimensions(self) -> tuple[int, int]:
        return (1024, 768)

    async def screenshot(self) -> str:
        return PIXEL

    async def click(self, x: int, y: int, button: str) -> None:
        pass

    async def double_click(self, x: int, y: int) -> None:
        pass

    async def scroll(self, x: int, y: int, scroll_x: int, scroll_y: int) -> None:
        pass

    async def type(self, text: str) -> None:
        pass

    async def wait(self) -> None:
        pass

    async def move(self, x: int, y: int) -> None:
        pass

    async def keypress(self, keys: list[str]) -> None:
        pass

    async def drag(self, path: list[tuple[int, int]]) -> None:
        pass


async def main() -> None:
    calls = 0

    async def answer(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        body = response(calls)
        calls += 1
        return httpx.Response(200, json=body)

    set_tracing_disabled(True)
    client = AsyncOpenAI(
        api_key="sk-not-used",
        base_url="http://model.invalid/v1",
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(answer)),
    )
    agent = Agent(
        name="Payments",
        instructions="Look invoices up and prepare payments; never submit one.",
        tools=[get_invoice, ComputerTool(Screen())],
        model=OpenAIResponsesModel(model="computer-use-preview", openai_client=client),
    )
    result = await Runner.run(agent, "Prepare the payment for invoice INV-077.")
    items = result.to_input_list()
    OUT.write_text(json.dumps(items, indent=1) + "\n")
    print(f"{len(items)} items, final output: {result.final_output}")


if __name__ == "__main__":
    asyncio.run(main())
