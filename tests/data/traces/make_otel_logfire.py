"""Writes ``otel_logfire.jsonl``: one run of a small concierge agent traced by Logfire
(``logfire.instrument_openai`` around the OpenAI client, talking to a scripted fake of
the Chat Completions API on the loopback interface; the agent and its tools are
``logfire.span``s with GenAI attributes). Logfire is configured offline
(``send_to_logfire=False``) with ace's OTLP-JSON file exporter as its span processor, so
the lines are what Logfire itself exports, except that the machine's name and id and the
script's folder are replaced (they would say where it ran). The second tool call raises:
its span ends with status ERROR and an ``exception`` event.

Run: ``.venv/bin/python tests/data/traces/make_otel_logfire.py`` (``logfire`` and
``openai`` are already installed with ace).
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import logfire
from openai import OpenAI
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from ace.cli._otlp import OTLPJsonFileExporter

OUT = Path(__file__).with_name("otel_logfire.jsonl")
REPLIES = [
    {
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {
                    "name": "find_restaurant",
                    "arguments": '{"cuisine": "thai", "area": "Soho"}',
                },
            }
        ]
    },
    {
        "tool_calls": [
            {
                "id": "call_2",
                "type": "function",
                "function": {
                    "name": "book_table",
                    "arguments": '{"restaurant": "Kiln", "time": "19:30", "people": 2}',
                },
            }
        ]
    },
    {"content": "Your table at Kiln is booked for 19:30."},
]


class FakeOpenAI(BaseHTTPRequestHandler):
    """Answers each chat completion with the next scripted reply."""

    served = 0

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        reply = REPLIES[FakeOpenAI.served]
        FakeOpenAI.served += 1
        body = json.dumps(
            {
                "id": f"chatcmpl-{FakeOpenAI.served}",
                "object": "chat.completion",
                "created": 1735689600,
                "model": "gpt-4o-mini",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": None, **reply},
                        "finish_reason": "tool_calls" if "tool_calls" in reply else "stop",
                    }
                ],
                "usage": {"prompt_tokens": 50, "completion_tokens": 12, "total_tokens": 62},
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def find_restaurant(cuisine: str, area: str) -> str:
    return json.dumps([{"restaurant": "Kiln", "cuisine": cuisine, "area": area}])


def book_table(restaurant: str, time: str, people: int) -> str:
    raise TimeoutError(f"{restaurant} booking service did not answer")


server = ThreadingHTTPServer(("127.0.0.1", 0), FakeOpenAI)
threading.Thread(target=server.serve_forever, daemon=True).start()
logfire.configure(
    send_to_logfire=False,
    console=False,
    service_name="concierge",
    additional_span_processors=[SimpleSpanProcessor(OTLPJsonFileExporter(OUT))],
)
client = OpenAI(base_url=f"http://127.0.0.1:{server.server_port}/v1", api_key="not-a-key")
logfire.instrument_openai(client)
tools = {"find_restaurant": find_restaurant, "book_table": book_table}
question = "Book a Thai dinner in Soho for two at 19:30."
with logfire.span(
    "Concierge run", **{"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "Concierge"}
):
    messages: list[dict[str, object]] = [
        {"role": "system", "content": "You are Concierge. Use the tools to book restaurants."},
        {"role": "user", "content": question},
    ]
    while True:
        reply = client.chat.completions.create(model="gpt-4o-mini", messages=messages)  # type: ignore[arg-type]
        message = reply.choices[0].message
        messages.append(message.model_dump(exclude_none=True))
        if not message.tool_calls:
            break
        for call in message.tool_calls:
            attributes = {
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": call.function.name,
                "gen_ai.tool.call.id": call.id,
                "gen_ai.tool.call.arguments": call.function.arguments,
            }
            try:
                with logfire.span("running tool {gen_ai.tool.name}", **attributes) as span:
                    result = tools[call.function.name](**json.loads(call.function.arguments))
                    span.set_attribute("gen_ai.tool.call.result", result)
            except TimeoutError as exc:
                result = f"error: {exc}"
            messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
logfire.force_flush()
server.shutdown()
PLACEHOLDERS = {"host.name": "example-host", "host.id": "example-host-id", "process.pid": 4242}


def anonymised(attributes: list[dict[str, object]]) -> None:
    for pair in attributes:
        key, value = pair["key"], pair["value"]
        if key in PLACEHOLDERS:
            placeholder = PLACEHOLDERS[key]  # type: ignore[index]
            pair["value"] = (
                {"intValue": str(placeholder)}
                if isinstance(placeholder, int)
                else {"stringValue": placeholder}
            )
        elif key in ("code.filepath", "exception.stacktrace") and isinstance(value, dict):
            value["stringValue"] = str(value.get("stringValue", "")).replace(str(Path.cwd()), ".")


lines = []
for line in OUT.read_text().splitlines():
    export = json.loads(line)
    for group in export["resourceSpans"]:
        anonymised(group["resource"]["attributes"])
        for scope in group["scopeSpans"]:
            for span in scope["spans"]:
                anonymised(span.get("attributes", []))
                for event in span.get("events", []):
                    anonymised(event.get("attributes", []))
    lines.append(json.dumps(export, separators=(",", ":")))
OUT.write_text("\n".join(lines) + "\n")
print(f"wrote {OUT}")
