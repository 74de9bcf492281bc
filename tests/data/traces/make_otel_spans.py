"""Writes ``otel_spans.jsonl``: one span per line as the OpenTelemetry Python SDK writes
spans on their own (``ReadableSpan.to_json()``, what its ``ConsoleSpanExporter`` prints;
given a one-line formatter here). Two runs of a small coding agent overlap, so their
spans interleave; the spans use the older GenAI conventions: the prompt and the
completion as span events (``gen_ai.content.prompt`` holding ``gen_ai.prompt``,
``gen_ai.content.completion`` holding ``gen_ai.completion``, JSON text), and a tool
that fails records an ``exception`` event and status ERROR.

Run: ``.venv/bin/python tests/data/traces/make_otel_spans.py`` (the SDK is installed with
ace).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor
from opentelemetry.sdk.trace.id_generator import IdGenerator

OUT = Path(__file__).with_name("otel_spans.jsonl")


class SeededIds(IdGenerator):
    """Stable ids, so that regenerating the sample changes only its times."""

    def __init__(self, seed: int) -> None:
        self.random = random.Random(seed)

    def generate_span_id(self) -> int:
        return self.random.getrandbits(64)

    def generate_trace_id(self) -> int:
        return self.random.getrandbits(128)


def chat(tracer: trace.Tracer, parent: trace.Span, prompt: list[dict], reply: dict) -> None:
    context = trace.set_span_in_context(parent)
    with tracer.start_as_current_span("chat gpt-4o", context=context) as span:
        span.set_attribute("gen_ai.operation.name", "chat")
        span.set_attribute("gen_ai.system", "openai")
        span.set_attribute("gen_ai.request.model", "gpt-4o")
        span.add_event("gen_ai.content.prompt", {"gen_ai.prompt": json.dumps(prompt)})
        span.add_event("gen_ai.content.completion", {"gen_ai.completion": json.dumps([reply])})


def run_tests(tracer: trace.Tracer, parent: trace.Span, path: str, fails: bool) -> None:
    context = trace.set_span_in_context(parent)
    with tracer.start_as_current_span("execute_tool run_tests", context=context) as span:
        span.set_attribute("gen_ai.operation.name", "execute_tool")
        span.set_attribute("gen_ai.tool.name", "run_tests")
        span.set_attribute("gen_ai.tool.call.arguments", json.dumps({"path": path}))
        if fails:
            error = AssertionError("test_parse_dates failed: expected 2024-02-29, got 2024-03-01")
            span.record_exception(error)
            span.set_status(trace.StatusCode.ERROR, str(error))
        else:
            span.set_attribute("gen_ai.tool.call.result", "12 passed")


provider = TracerProvider(id_generator=SeededIds(7), resource=Resource({"service.name": "coder"}))
with OUT.open("w") as out:
    provider.add_span_processor(
        SimpleSpanProcessor(
            ConsoleSpanExporter(out=out, formatter=lambda span: span.to_json(indent=None) + "\n")
        )
    )
    tracer = provider.get_tracer("coder")
    system = {"role": "system", "content": "You are Coder. Fix the bug, then run the tests."}
    runs = []
    for task in ("Fix the leap-year bug in dates.py", "Add a --verbose flag to cli.py"):
        root = tracer.start_span("invoke_agent Coder")
        root.set_attribute("gen_ai.operation.name", "invoke_agent")
        root.set_attribute("gen_ai.agent.name", "Coder")
        runs.append((root, task))
    for root, task in runs:
        user = {"role": "user", "content": task}
        chat(tracer, root, [system, user], {"role": "assistant", "content": f"Patched for: {task}"})
    for (root, _), fails in zip(runs, (True, False), strict=True):
        run_tests(tracer, root, "tests/", fails)
    for root, _ in runs:
        root.end()
provider.shutdown()
print(f"wrote {OUT}")
