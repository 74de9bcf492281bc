"""Reading OpenTelemetry JSONL files trace by trace: the same traces as reading them
whole, in bounded memory (a trace dropped from memory is read again), and the CLI
commands that stream (``ace traces inspect``, ``ace rr eval``, ``ace rr analyse
--index``)."""

from __future__ import annotations

import json
import random
import tracemalloc
from pathlib import Path

import pytest

from ace.cli import main
from ace.cli._main import CLIError
from ace.cli._traces import pick_trace
from ace.errors import TraceFormatError
from ace.traces import LabelledTrace, load_traces
from ace.traces import load as load_module
from ace.traces.load import iter_labelled_traces, load_labelled_bytes

BASE_NS = 1_750_000_000_000_000_000


def attr(key: str, value: str) -> dict[str, object]:
    return {"key": key, "value": {"stringValue": value}}


def otlp_span(
    trace: str, number: int, parent: str | None, kind: str, text: str, name: str = ""
) -> dict[str, object]:
    span: dict[str, object] = {
        "traceId": trace,
        "spanId": f"{number:016x}",
        "name": name or kind.lower(),
        "startTimeUnixNano": str(BASE_NS + number * 1_000_000),
        "endTimeUnixNano": str(BASE_NS + number * 1_000_000 + 500),
        "attributes": [attr("openinference.span.kind", kind), attr("input.value", text)],
    }
    if parent:
        span["parentSpanId"] = parent
    return span


def line(*spans: dict[str, object]) -> str:
    export = {"resourceSpans": [{"resource": {}, "scopeSpans": [{"spans": list(spans)}]}]}
    return json.dumps(export) + "\n"


def interleaved_file(
    path: Path, traces: int, spans: int, seed: int = 0, pad: int = 200
) -> list[str]:
    """Runs that overlap: each line holds spans of several traces, each trace spreads
    over several lines; returns the trace ids in the order the traces end."""
    rng = random.Random(seed)
    pending: list[tuple[str, dict[str, object]]] = []
    number = 1  # an all-zero span id is invalid
    for t in range(traces):
        trace = f"{t + 1:032x}"
        root = number
        pending.append((trace, otlp_span(trace, root, None, "AGENT", f"task {t}", f"Agent{t % 2}")))
        number += 1
        for _ in range(spans - 1):
            text = "".join(rng.choice("abcdefgh ") for _ in range(pad))
            pending.append((trace, otlp_span(trace, number, f"{root:016x}", "CHAIN", text)))
            number += 1
    # a trace's root ends last; shuffle within a window so that traces interleave
    window = spans * 3
    order: list[tuple[str, dict[str, object]]] = []
    for start in range(0, len(pending), window):
        chunk = pending[start : start + window]
        rng.shuffle(chunk)
        order += chunk
    with path.open("w") as out:
        for i in range(0, len(order), 5):
            out.write(line(*(s for _, s in order[i : i + 5])))
    last: dict[str, int] = {}
    for i, (trace, _) in enumerate(order):
        last.pop(trace, None)
        last[trace] = i
    return list(last)


def whole(path: Path) -> list[LabelledTrace]:
    """The file read whole, by the rules of a file without a suffix (no streaming)."""
    return load_labelled_bytes(path.read_bytes(), name=str(path))


def test_streamed_traces_equal_the_file_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "runs.jsonl"
    ends = interleaved_file(path, traces=12, spans=9)
    streamed = list(iter_labelled_traces(path))
    assert [item.trace.id for item in streamed] == ends
    assert [item.trace.source.index for item in streamed if item.trace.source] == list(range(12))
    assert [item.trace.model_dump(exclude={"source"}) for item in streamed] == [
        item.trace.model_dump(exclude={"source"}) for item in whole(path)
    ]
    assert [t.id for t in load_traces(path)] == ends  # the list loader streams the same way
    for item in streamed:
        assert item.trace.steps[0].role == "agent"  # the root starts first
        assert len(item.trace.steps) == 9


def test_traces_over_the_budget_are_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "runs.jsonl"
    interleaved_file(path, traces=10, spans=12)
    expected = [item.trace.model_dump() for item in iter_labelled_traces(path)]
    reread: list[str] = []
    original = load_module._otel_reread

    def counting(file: Path, trace_id: str, entry: list[int], keys: frozenset[str]) -> object:
        reread.append(trace_id)
        return original(file, trace_id, entry, keys)

    monkeypatch.setattr(load_module, "_otel_reread", counting)
    monkeypatch.setattr(load_module, "OTEL_BUFFER_BYTES", 3_000)
    assert [item.trace.model_dump() for item in iter_labelled_traces(path)] == expected
    assert reread  # some traces were dropped and read again, with the same result


def test_one_trace_spread_from_the_first_line_to_the_last(tmp_path: Path) -> None:
    path = tmp_path / "spread.jsonl"
    long, other = "a" * 32, "b" * 32
    lines = [line(otlp_span(long, 1, None, "AGENT", "start"))]
    lines += [line(otlp_span(other, 10 + i, None, "CHAIN", f"other {i}")) for i in range(5)]
    lines.append(line(otlp_span(long, 2, f"{1:016x}", "CHAIN", "end")))
    path.write_text("".join(lines))
    first, second = list(iter_labelled_traces(path))
    assert (first.trace.id, len(first.trace.steps)) == (other, 5)
    assert (second.trace.id, [s.content for s in second.trace.steps]) == (
        long,
        ["(input) start", "(input) end"],
    )


def test_streaming_holds_a_few_traces_not_the_file(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    interleaved_file(path, traces=150, spans=10, pad=1000)
    tracemalloc.start()
    try:
        count = sum(1 for _ in iter_labelled_traces(path))
        _, streamed_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        everything = whole(path)
        _, whole_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == len(everything) == 150
    assert streamed_peak < whole_peak / 8, (streamed_peak, whole_peak)


def test_lines_that_are_not_otel_or_not_json_are_errors_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_text(line(otlp_span("c" * 32, 1, None, "AGENT", "x")) + '{"role": "user"}\n')
    with pytest.raises(TraceFormatError, match=r"mixed.jsonl line 2: expected an OTLP export"):
        list(iter_labelled_traces(path))
    path.write_text(line(otlp_span("c" * 32, 1, None, "AGENT", "x")) + "\n{oops\n")
    with pytest.raises(TraceFormatError, match=r"mixed.jsonl line 3: expected one JSON value"):
        load_traces(path)


def test_links_and_escaped_keys(tmp_path: Path) -> None:
    """A link names another trace (never made a trace of its own, nor holding one back);
    a label key spelled with escapes is still taken out."""
    path = tmp_path / "links.jsonl"
    first, second = "d" * 32, "e" * 32
    linked = otlp_span(second, 2, None, "AGENT", "second")
    linked["links"] = [
        {"traceId": first, "spanId": f"{1:016x}"},
        {"traceId": "f" * 32, "spanId": "1" * 16},
    ]
    flat_key = line(otlp_span(first, 1, None, "AGENT", "first")).replace(
        '"input.value"', '"mistake\\u005fagent"'
    )
    path.write_text(flat_key + line(linked))
    traces = load_traces(path)
    assert sorted(t.id for t in traces) == [first, second]
    assert "mistake_agent" not in json.dumps([t.model_dump(mode="json") for t in traces])


def test_inspect_and_analyse_stream_an_otel_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "runs.jsonl"
    ends = interleaved_file(path, traces=4, spans=3)
    assert main(["traces", "inspect", str(path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["formats"], summary["traces"], summary["steps"]) == ({"otel": 4}, 4, 12)
    assert [item["id"] for item in summary["items"]] == ends
    assert summary["agents"] == {"Agent0": 6, "Agent1": 6}
    assert summary["time_span"]["start"] == "2025-06-15T15:06:40.001000Z"
    assert pick_trace(str(path), 2).id == ends[2]
    with pytest.raises(CLIError, match=r"--index 4: .* holds 4 traces \(0 to 3\)"):
        pick_trace(str(path), 4)
    with pytest.raises(CLIError, match="holds 4 traces \\(otel\\); analyse one with --index N"):
        pick_trace(str(path), None)


def test_eval_streams_an_otel_file_with_labels_kept_apart(tmp_path: Path) -> None:
    path = tmp_path / "runs.jsonl"
    ends = interleaved_file(path, traces=6, spans=4)
    gt = tmp_path / "gt.json"
    gt.write_text(
        json.dumps(
            [{"trajectory_id": trace, "failures": [{"step_number": 1, "failed_agent": "Agent0"}]}
             for trace in ends[1:5]]
        )
    )  # fmt: skip
    out = tmp_path / "report.json"
    argv = [
        "rr",
        "eval",
        str(path),
        "--reflector",
        "random",
        "--labels",
        str(gt),
        "--out",
        str(out),
    ]
    assert main([*argv, "--limit", "3"]) == 0
    report = json.loads(out.read_text())
    assert [r["trace_id"] for r in report["results"]] == ends[1:4]
    assert {s["trace_id"] for s in report["skipped"]} == {ends[0], ends[5]}
    assert all(r["steps"] == 4 for r in report["results"])


def test_eval_refuses_a_file_that_changed_between_its_two_readings(tmp_path: Path) -> None:
    from ace.cli._eval import _load_set, _TraceSet

    path = tmp_path / "runs.jsonl"
    interleaved_file(path, traces=3, spans=2)
    headers, skipped, places = _load_set(path, need_labels=False)
    assert (len(headers), skipped) == (3, [])
    assert all(item.trace.steps == [] and item.trace.raw is None for item in headers)
    traces = _TraceSet(headers, places)
    assert [item.trace.id for item in traces] == [item.trace.id for item in headers]
    assert traces[1].trace.steps and len(traces[1:]) == 2
    interleaved_file(path, traces=2, spans=2, seed=1)
    with pytest.raises(CLIError, match="changed while it was evaluated"):
        list(traces)
