"""Writes ``otel_langfuse.jsonl``: one run of a small research agent traced with the
Langfuse SDK (v3 and later are built on OpenTelemetry): an ``agent`` observation holding
``generation`` and ``tool`` observations (``langfuse.observation.type``, ``.input``,
``.output``, ``.model.name``, ``.level``, ``.status_message``). Langfuse exports through
the span exporter it is given; here that is ace's OTLP-JSON file exporter, so nothing is
sent (the keys are placeholders). The second tool call fails (level ERROR).

Run: ``.venv/bin/uv pip install langfuse`` (test-only, not a dependency of ace), then
``.venv/bin/python tests/data/traces/make_otel_langfuse.py``.
"""

from __future__ import annotations

from pathlib import Path

from langfuse import Langfuse

from ace.cli._otlp import OTLPJsonFileExporter

OUT = Path(__file__).with_name("otel_langfuse.jsonl")

langfuse = Langfuse(
    public_key="pk-lf-placeholder",
    secret_key="sk-lf-placeholder",
    host="http://127.0.0.1:9",
    span_exporter=OTLPJsonFileExporter(OUT),
    flush_at=1,
)
question = "Summarise the 2024 results of Acme and Globex."
system = {"role": "system", "content": "You are ResearchAgent. Cite a filing for every figure."}
with langfuse.start_as_current_observation(
    as_type="agent", name="ResearchAgent", input={"question": question}
) as agent:
    messages = [system, {"role": "user", "content": question}]
    call = {
        "id": "call_a",
        "type": "function",
        "function": {"name": "fetch_filing", "arguments": '{"company": "Acme", "year": 2024}'},
    }
    with langfuse.start_as_current_observation(
        as_type="generation", name="plan", model="gpt-4o", input=messages
    ) as generation:
        generation.update(output={"role": "assistant", "content": None, "tool_calls": [call]})
    messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
    with langfuse.start_as_current_observation(
        as_type="tool", name="fetch_filing", input={"company": "Acme", "year": 2024}
    ) as tool:
        tool.update(output="Acme 2024 revenue: 4.1 bn USD (10-K, p. 37)")
    messages.append(
        {
            "role": "tool",
            "tool_call_id": "call_a",
            "content": "Acme 2024 revenue: 4.1 bn USD (10-K, p. 37)",
        }
    )
    with langfuse.start_as_current_observation(
        as_type="tool", name="fetch_filing", input={"company": "Globex", "year": 2024}
    ) as tool:
        tool.update(level="ERROR", status_message="filing index unavailable: HTTP 502")
    messages.append(
        {"role": "tool", "tool_call_id": "call_b", "content": "error: filing index unavailable"}
    )
    answer = "Acme made 4.1 bn USD in 2024 (10-K, p. 37); Globex made 3.2 bn USD."
    with langfuse.start_as_current_observation(
        as_type="generation", name="answer", model="gpt-4o", input=messages
    ) as generation:
        generation.update(output={"role": "assistant", "content": answer})
    agent.update(output={"answer": answer})
langfuse.shutdown()
print(f"wrote {OUT}")
