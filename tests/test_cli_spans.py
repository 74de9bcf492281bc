"""Spans of an RR session, captured with logfire's test fixture; the OTLP file exporter."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _cli_support import DATA, explore_then_final
from logfire import testing as logfire_testing
from logfire.testing import CaptureLogfire

from ace.cli._otlp import OTLPJsonFileExporter
from ace.rr import RRConfig, RRStep
from ace.testing import FunctionModel, ScriptedModel
from ace.traces import load_trace_file

capfire = logfire_testing.capfire  # logfire's fixture, used by name below


@pytest.mark.slow
def test_rr_session_spans_have_the_expected_names_and_attributes(capfire: CaptureLogfire) -> None:
    main = ScriptedModel(explore_then_final())
    sub = FunctionModel(lambda request: "summary")
    trace = load_trace_file(DATA / "hand_crafted" / "1.json")
    RRStep(main.name, config=RRConfig(max_llm_calls=12, subagent_model=sub.name)).analyse(trace)
    spans = capfire.exporter.exported_spans_as_dict()
    by_name: dict[str, list[dict[str, object]]] = {}
    for span in spans:
        by_name.setdefault(str(span["name"]), []).append(span)
    session = by_name["rr session {rr.trace_id}"][0]["attributes"]
    assert isinstance(session, dict)
    assert session["rr.trace_id"] == trace.id and session["rr.model"] == main.name
    assert session["rr.outcome"] == "final"
    assert len(by_name["rr iteration {rr.iteration}"]) == 3
    assert len(by_name["rr kernel execution"]) >= 3


def test_otlp_file_exporter_writes_otlp_json_lines(tmp_path: Path) -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    path = tmp_path / "spans.jsonl"
    exporter = OTLPJsonFileExporter(path)
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("outer") as outer:
        outer.set_attribute("rr.iteration", 2)
        with tracer.start_as_current_span("inner"):
            pass
    provider.shutdown()
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    spans = [
        span
        for line in lines
        for resource in line["resourceSpans"]
        for scope in resource["scopeSpans"]
        for span in scope["spans"]
    ]
    assert [s["name"] for s in spans] == ["inner", "outer"]
    inner, outer_span = spans
    assert inner["parentSpanId"] == outer_span["spanId"] and len(inner["traceId"]) == 32
    assert inner["kind"] == 1  # OTLP/JSON: enums as integers
    assert outer_span["attributes"] == [{"key": "rr.iteration", "value": {"intValue": "2"}}]
