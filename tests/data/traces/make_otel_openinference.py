"""Writes ``otel_openinference.jsonl``: OpenInference spans of two runs of a small travel
agent, as ace's OTLP-JSON file exporter writes them (one export per line; the simple span
processor exports each span as it ends, so a trace's spans are spread over lines).

The LLM calls go through litellm to ace's scripted provider (``ace.testing``), traced by
``openinference-instrumentation-litellm``; the agent and its tools are traced with
OpenInference's own tracer (``openinference-instrumentation``). The second run's booking
tool raises, so its span ends with status ERROR and an ``exception`` event (its stack
trace's paths made relative to the repository).

Run: ``.venv/bin/uv pip install openinference-instrumentation-litellm`` (test-only, not a
dependency of ace), then ``.venv/bin/python tests/data/traces/make_otel_openinference.py``.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network

import litellm
from openinference.instrumentation import OITracer, TraceConfig
from openinference.instrumentation.litellm import LiteLLMInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.id_generator import IdGenerator

from ace.cli._otlp import OTLPJsonFileExporter
from ace.testing import ScriptedModel

OUT = Path(__file__).with_name("otel_openinference.jsonl")


class SeededIds(IdGenerator):
    """Stable ids, so that regenerating the sample changes only its times."""

    def __init__(self, seed: int) -> None:
        self.random = random.Random(seed)

    def generate_span_id(self) -> int:
        return self.random.getrandbits(64)

    def generate_trace_id(self) -> int:
        return self.random.getrandbits(128)


provider = TracerProvider(
    id_generator=SeededIds(27), resource=Resource({"service.name": "travel-agent"})
)
provider.add_span_processor(SimpleSpanProcessor(OTLPJsonFileExporter(OUT)))
LiteLLMInstrumentor().instrument(tracer_provider=provider)
tracer = OITracer(provider.get_tracer("travel-agent"), config=TraceConfig())

SYSTEM = "You are TravelAgent. Use search_flights and book_flight; answer briefly."
model = ScriptedModel(
    [
        'CALL search_flights {"origin": "LIS", "destination": "OSL", "date": "2025-03-14"}',
        "The cheapest flight is TP1234 at 08:05 for 212 EUR.",
        'CALL book_flight {"flight": "TP1234", "passenger": "Ana Lima"}',
        "I booked TP1234 for Ana Lima.",
    ]
)


@tracer.tool(name="search_flights", description="Find flights between two airports")
def search_flights(origin: str, destination: str, date: str) -> str:
    return json.dumps([{"flight": "TP1234", "departs": "08:05", "price_eur": 212}])


@tracer.tool(name="book_flight", description="Book a seat on a flight")
def book_flight(flight: str, passenger: str) -> str:
    raise RuntimeError(f"seat map for {flight} unavailable (HTTP 503)")


def run(question: str, tool: object) -> None:
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}]
    with tracer.start_as_current_span("TravelAgent", openinference_span_kind="agent") as agent:
        agent.set_input(question)
        agent.set_attribute("agent.name", "TravelAgent")
        first = litellm.completion(model=model.name, messages=messages)
        action = first.choices[0].message.content
        messages.append({"role": "assistant", "content": action})
        arguments = json.loads(action.split(" ", 2)[2])
        try:
            observation = tool(**arguments)  # type: ignore[operator]
        except RuntimeError as exc:  # the agent tells the model, which answers anyway
            observation = f"error: {exc}"
        messages.append({"role": "user", "content": f"Observation: {observation}"})
        final = litellm.completion(model=model.name, messages=messages)
        answer = final.choices[0].message.content
        agent.set_output(answer)


run("Find me the cheapest flight from Lisbon to Oslo on 14 March.", search_flights)
run("Book TP1234 for Ana Lima.", book_flight)
provider.shutdown()
# the stack traces name the folder this ran in: make them relative to the repository
OUT.write_text(OUT.read_text().replace(str(Path(__file__).resolve().parents[3]), "."))
print(f"wrote {OUT}")
