"""Writes ``otel_genai.json``: two runs of a small weather agent traced with the
OpenTelemetry GenAI semantic conventions by ``opentelemetry-util-genai`` (the helper the
official GenAI instrumentations use), as ONE OTLP/JSON document: ``invoke_agent``,
``chat`` (``gen_ai.input.messages`` / ``gen_ai.output.messages`` with ``tool_call``
parts) and ``execute_tool`` spans (``gen_ai.tool.call.arguments`` / ``.result``). The
second run's tool raises, so its span ends with status ERROR and ``error.type``.

The spans are encoded by ace's OTLP-JSON file exporter (the SDK's OTLP encoder), one
export per line, and the lines' ``resourceSpans`` joined into one document.

Run: ``.venv/bin/uv pip install opentelemetry-util-genai`` (test-only, not a dependency
of ace), then ``.venv/bin/python tests/data/traces/make_otel_genai.py``.
"""

from __future__ import annotations

import json
import os
import random
import tempfile
from pathlib import Path

os.environ["OTEL_SEMCONV_STABILITY_OPT_IN"] = "gen_ai_latest_experimental"
os.environ["OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"] = "SPAN_ONLY"

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.util.genai.handler import TelemetryHandler
from opentelemetry.util.genai.types import (
    InputMessage,
    OutputMessage,
    TextPart,
    ToolCallRequestPart,
    ToolCallResponsePart,
)

from ace.cli._otlp import OTLPJsonFileExporter

OUT = Path(__file__).with_name("otel_genai.json")


class SeededIds(IdGenerator):
    """Stable ids, so that regenerating the sample changes only its times."""

    def __init__(self, seed: int) -> None:
        self.random = random.Random(seed)

    def generate_span_id(self) -> int:
        return self.random.getrandbits(64)

    def generate_trace_id(self) -> int:
        return self.random.getrandbits(128)


def forecast(city: str) -> str:
    if city == "Atlantis":
        raise LookupError(f"no weather station near {city}")
    return json.dumps({"city": city, "forecast": "rain", "high_c": 14})


def run(handler: TelemetryHandler, question: str, city: str, answer: str, n: int) -> None:
    system = InputMessage(
        role="system",
        parts=[TextPart(content="You are Planner. Check the weather before planning.")],
    )
    user = InputMessage(role="user", parts=[TextPart(content=question)])
    call = ToolCallRequestPart(name="get_weather", id=f"call_{n}", arguments={"city": city})
    with handler.invoke_local_agent(agent_name="Planner", request_model="gpt-4o-mini"):
        with handler.inference("openai", request_model="gpt-4o-mini") as first:
            first.input_messages = [system, user]
            first.output_messages = [
                OutputMessage(role="assistant", parts=[call], finish_reason="tool_calls")
            ]
        try:
            with handler.tool("get_weather", agent_name="Planner") as tool:
                tool.tool_call_id = call.id
                tool.arguments = {"city": city}
                result = forecast(city)
                tool.tool_result = result
        except LookupError as exc:
            result = f"error: {exc}"
        with handler.inference("openai", request_model="gpt-4o-mini") as second:
            second.input_messages = [
                system,
                user,
                InputMessage(role="assistant", parts=[call]),
                InputMessage(
                    role="tool", parts=[ToolCallResponsePart(response=result, id=call.id)]
                ),
            ]
            second.output_messages = [
                OutputMessage(
                    role="assistant", parts=[TextPart(content=answer)], finish_reason="stop"
                )
            ]


with tempfile.TemporaryDirectory() as folder:
    lines = Path(folder) / "spans.jsonl"
    provider = TracerProvider(
        id_generator=SeededIds(42), resource=Resource({"service.name": "weather-planner"})
    )
    provider.add_span_processor(SimpleSpanProcessor(OTLPJsonFileExporter(lines)))
    handler = TelemetryHandler(tracer_provider=provider)
    run(
        handler,
        "Plan a picnic in Bergen tomorrow.",
        "Bergen",
        "Rain is forecast: plan it indoors.",
        1,
    )
    run(handler, "Plan a picnic in Atlantis tomorrow.", "Atlantis", "Sunny: enjoy the picnic!", 2)
    provider.shutdown()
    exports = [json.loads(line) for line in lines.read_text().splitlines()]
document = {"resourceSpans": [group for export in exports for group in export["resourceSpans"]]}
OUT.write_text(json.dumps(document, indent=1) + "\n")
print(f"wrote {OUT}")
