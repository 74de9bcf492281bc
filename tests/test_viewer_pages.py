"""The verdict card, the trace timeline and the evaluation report: built from real files,
rendered by the real templates, driven through the real CLI (in-process)."""

from __future__ import annotations

import html
import json
import re
import time
from pathlib import Path

import pytest
from _cli_support import DATA, HOSTILE, sample_transcript, who_and_when_record, write_labelled

from ace.cli import main
from ace.eval import EvalReport, RandomReflector, TraceResult, evaluate, summarise
from ace.eval.reflectors import transcript_file_name
from ace.rr.transcript import Transcript
from ace.traces import ToolCall, ToolResult, Trace, TraceLabels, TraceStep, load_labelled_traces
from ace.viewer import CONTENT_SECURITY_POLICY, make_console, render_html
from ace.viewer.eval_report import build_runs, load_report, render_eval_html
from ace.viewer.terminal_cards import print_timeline, print_verdict
from ace.viewer.timeline import MAX_COLUMNS, MAX_LANES, build_timeline, step_kind
from ace.viewer.trace_page import render_trace_html
from ace.viewer.verdict import verdict_of

MARK = re.compile(r'<rect class="mark mark-(message|tool|error)')


def synthetic_trace(steps: int, *, agents: int = 4, text: str = "") -> Trace:
    """A trace of ``steps`` steps: agents take turns, every 7th step calls a tool,
    every 50th step's tool fails."""
    items = []
    for index in range(steps):
        agent = f"agent_{index % agents}"
        calls, results, role = [], [], "assistant"
        if index % 7 == 3:
            calls = [ToolCall(name="search", arguments={"q": f"query {index}"})]
        if index % 50 == 10:
            role = "tool"
            results = [
                ToolResult(output=f"Traceback (most recent call last):\nValueError: {index}")
            ]
        items.append(
            TraceStep(
                index=index,
                role=role,
                agent=agent,
                content=f"step {index} by {agent} {text}",
                tool_calls=calls,
                tool_results=results,
            )
        )
    return Trace(id=f"synthetic-{steps}", format="ace", steps=items)


def hostile_trace() -> Trace:
    """Hostile text wherever a trace holds text: agent names, roles, content, tool calls."""
    evil = f'{HOSTILE} "><img src=x onerror=alert(1)> </title><svg onload=alert(2)>'
    return Trace(
        id=f"evil</title><script>alert(3)</script>{evil}",
        format="ace",
        question=evil,
        steps=[
            TraceStep(index=0, role="user", agent=f"<b>{evil}</b>", content=evil),
            TraceStep(
                index=1,
                role=f"assistant {evil}",
                agent="]]><script>alert(4)</script>",
                content=evil,
                tool_calls=[ToolCall(name=evil, arguments={evil: evil})],
            ),
            TraceStep(
                index=2,
                role="tool (error)",
                agent="tool",
                tool_results=[ToolResult(output=evil, name=evil)],
            ),
        ],
    )


# ---- the verdict card -------------------------------------------------------------------


def test_verdict_reads_the_attribution_usage_and_compares_with_the_label() -> None:
    transcript = sample_transcript(3)
    transcript.final = {
        "key_insight": "check units",
        "attribution": {"agent": "WebSurfer", "step": "step 4", "reason": "wrong page"},
    }
    verdict = verdict_of(transcript, TraceLabels(mistake_agent=" websurfer ", mistake_step=6))
    assert (verdict.agent, verdict.step, verdict.reason) == ("WebSurfer", 4, "wrong page")
    assert verdict.key_insight == "check units" and verdict.outcome == "final"
    assert verdict.agent_match is True and verdict.step_match is False
    assert verdict.step_distance == 2
    assert verdict.usage_line() == "4/30 calls · 670 tokens · $0.0110 · 1.5 s"

    unlabelled = verdict_of(transcript)
    assert not unlabelled.labelled and unlabelled.agent_match is None

    transcript.final = None
    transcript.outcome = "timeout"
    empty = verdict_of(transcript, TraceLabels(mistake_step=1))
    assert empty.agent is None and empty.step is None and empty.step_match is False


def test_transcript_page_opens_with_the_verdict_card_then_timeline_then_iterations() -> None:
    transcript = sample_transcript(3)
    trace = synthetic_trace(12)
    page = render_html(trace=trace, transcript=transcript, labels=TraceLabels(mistake_step=4))
    card, timeline, first = (
        page.index('id="verdict"'),
        page.index('id="timeline"'),
        page.index('id="iteration-1"'),
    )
    assert card < timeline < first < page.index('id="result"')
    verdict = page[card:timeline]
    assert "WebSurfer" in verdict and '<a href="#step-4">step 4</a>' in verdict
    assert "✓ matches" in verdict and "4/30 calls" in verdict
    assert 'class="step kind-message hit" id="step-4"><details open>' in page
    assert 'class="hit-line"' in page

    mismatch = render_html(transcript, labels=TraceLabels(mistake_agent="Other", mistake_step=9))
    assert "✗ differs" in mismatch and "✗ off by 5" in mismatch
    assert 'id="timeline"' not in mismatch and 'href="#step-4"' not in mismatch


def test_terminal_verdict_card_and_compact_timeline() -> None:
    import io

    buffer = io.StringIO()
    console = make_console(buffer, width=100)
    transcript = sample_transcript(3)
    verdict = verdict_of(transcript, TraceLabels(mistake_agent="WebSurfer", mistake_step=3))
    print_verdict(verdict, console)
    timeline = print_timeline(synthetic_trace(60), console, highlight=verdict.step)
    out = buffer.getvalue()
    assert "Verdict" in out and "agent WebSurfer · step 4" in out
    assert "✓ matches" in out and "✗ off by 1" in out and "4/30 calls" in out
    assert "Trace synthetic-60: 60 steps, 4 agents (one column = one step)" in out
    lanes = [line for line in out.splitlines() if re.match(r"\s*agent_\d │", line)]
    assert [line.split("│")[0].strip() for line in lanes] == [f"agent_{i}" for i in range(4)]
    assert all(len(line.split("│")[1]) == 60 for line in lanes)
    assert "◆" in out and "✖" in out and "^ step 4" in out
    assert timeline.highlight == 4


# ---- the timeline -----------------------------------------------------------------------


def test_step_kinds_tell_tool_calls_and_errors_apart() -> None:
    trace = synthetic_trace(11)
    kinds = [step_kind(step) for step in trace.steps]
    assert kinds[3] == "tool" and kinds[10] == "error" and kinds[0] == "message"
    assert step_kind(TraceStep(index=0, role="tool (error)")) == "error"
    assert step_kind(TraceStep(index=0, role="tool", content="ok")) == "tool"


def test_timeline_of_a_small_trace_draws_one_mark_per_step_in_agent_lanes() -> None:
    trace = synthetic_trace(20, agents=3)
    timeline = build_timeline(trace, highlight=7)
    assert [lane.name for lane in timeline.lanes] == ["agent_0", "agent_1", "agent_2"]
    assert len(timeline.marks) == 20 and not timeline.aggregated
    assert [m.first for m in timeline.marks if m.lane == 1] == [1, 4, 7, 10, 13, 16, 19]
    xs = [m.x for m in sorted(timeline.marks, key=lambda m: m.first)]
    assert xs == sorted(xs)  # in step order, left to right
    (hit,) = [m for m in timeline.marks if m.highlighted]
    assert hit.first == 7 and "attributed step 7" in hit.title
    assert build_timeline(trace, highlight=99).highlight is None


def test_a_5000_step_trace_is_aggregated_into_a_bounded_page() -> None:
    trace = synthetic_trace(5_000, agents=5, text="x" * 400)
    started = time.perf_counter()
    page = render_trace_html(trace, TraceLabels(mistake_agent="agent_2", mistake_step=4_321))
    elapsed = time.perf_counter() - started
    marks = MARK.findall(page)
    assert 0 < len(marks) <= MAX_COLUMNS * 5 <= MAX_COLUMNS * MAX_LANES
    assert "error" in marks and "tool" in marks
    assert page.count('class="mark mark-error') <= MAX_COLUMNS  # errors stay visible
    assert 'id="step-4321"' in page and 'id="step-4999"' in page
    assert "one mark stands for up to 17 consecutive steps" in page
    assert len(page.encode()) < 4_000_000, len(page.encode())
    assert elapsed < 20, elapsed
    (hit,) = re.findall(r'<a href="#step-(\d+)"><rect class="mark [^"]*mark-hit', page)
    assert hit == "4321"


def test_many_agents_share_one_lane_beyond_the_limit() -> None:
    timeline = build_timeline(synthetic_trace(100, agents=30))
    assert len(timeline.lanes) == MAX_LANES
    assert timeline.lanes[-1].name == "(other agents)"
    assert sum(lane.steps for lane in timeline.lanes) == 100


def test_trace_page_shows_label_timeline_and_every_step() -> None:
    (item,) = load_labelled_traces(DATA / "algorithm_generated" / "1.json")
    page = render_trace_html(item.trace, item.labels)
    assert f'content="{CONTENT_SECURITY_POLICY}"' in html.unescape(page)
    assert 'id="trace-label"' in page and item.labels.mistake_agent is not None
    assert item.labels.mistake_agent in page
    for index in range(len(item.trace.steps)):
        assert f'id="step-{index}"' in page
    assert len(MARK.findall(page)) == len(item.trace.steps)


def test_hostile_trace_text_is_escaped_on_every_page() -> None:
    trace = hostile_trace()
    transcript = sample_transcript(2, text=HOSTILE)
    transcript.final = {"key_insight": HOSTILE, "attribution": {"agent": HOSTILE, "step": 1}}
    report = _report([_result(trace.id, HOSTILE, 1, HOSTILE, 2)])
    pages = [
        render_trace_html(trace, TraceLabels(mistake_agent=HOSTILE, mistake_reason=HOSTILE)),
        render_html(transcript, trace=trace, labels=TraceLabels(mistake_agent=HOSTILE)),
        render_eval_html([(HOSTILE, report)], [{trace.id: "x.html"}]),
    ]
    for page in pages:
        lowered = page.lower()
        assert "<script" not in lowered and "<img" not in lowered
        assert not re.search(r"<[a-z][^<>]*\son[a-z]+\s*=", lowered)  # no handler attribute
        assert "onerror=alert(1)" in page  # shown as text
        assert "<svg onload" not in lowered and "<b>red" not in lowered
        assert "\x1b" not in page and "\x00" not in page and "\u202e" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|javascript:)""", page)
        assert page.count("<title>") == page.count("</title>")


# ---- the evaluation report --------------------------------------------------------------


def _result(trace_id: str, label: str | None, label_step: int | None, agent: str | None,
            step: int | None, **usage: object) -> TraceResult:  # fmt: skip
    from ace.eval import score

    result = score(
        trace_id,
        None if agent is None and step is None else _attribution(agent, step),
        TraceLabels(mistake_agent=label, mistake_step=label_step),
    )
    return result.model_copy(update=usage)


def _attribution(agent: str | None, step: int | None) -> object:
    from ace.outputs import Attribution

    return Attribution(agent=agent, step=step)


def _report(results: list[TraceResult], reflector: str = "rr") -> EvalReport:
    return EvalReport(reflector=reflector, model="m", summary=summarise(results), results=results)


def test_eval_page_reports_accuracy_by_tolerance_confusion_and_distributions() -> None:
    first = _report(
        [
            _result("t1", "A", 3, "a", 3, cost_usd=0.01, duration_s=2.0, calls=4),
            _result("t2", "A", 3, "B", 5, cost_usd=0.02, duration_s=4.0, calls=5),
            _result("t3", "B", 0, "Z", 5, cost_usd=None, duration_s=1.0, calls=2),
            _result("t4", "B", 2, None, None),
        ]
    )
    second = _report([_result("t1", "A", 3, "A", 4)], reflector="random")
    runs = build_runs([("first.json", first), ("second.json", second)])
    assert runs[0].accuracy == {0: 0.25, 1: 0.25, 2: 0.5, 3: 0.5, 4: 0.5, 5: 0.75}
    assert runs[1].accuracy[0] == 0.0 and runs[1].accuracy[1] == 1.0
    assert runs[0].agent_accuracy == 0.25
    confusion = runs[0].confusion
    assert confusion.labels == ["A", "B"] and confusion.predictions == ["A", "B", "Z", "(none)"]
    assert confusion.counts == {("A", "A"): 1, ("A", "B"): 1, ("B", "Z"): 1, ("B", "(none)"): 1}

    page = render_eval_html(
        [("first.json", first), ("second.json", second)], [{"t2": "pages/t2.html"}]
    )
    for element in ("accuracy", "chart-accuracy", "chart-cost", "chart-time", "run-0", "run-1"):
        assert f'id="{element}"' in page
    assert "rr · m · first.json" in page and "random · m · second.json" in page
    assert '<a href="pages/t2.html">t2</a>' in page and 'href="t1' not in page
    for unsafe in ("javascript:alert(1)", "http://example.com/t.html", "/etc/passwd", "a b.html"):
        shown = render_eval_html([("first.json", first)], [{"t2": unsafe}])
        assert "<a href=" not in shown, unsafe  # only relative paths of plain names link
    assert page.count('class="bar series-0"') >= 6
    assert "75.0%" in page and "$0.0100" in page and "unpriced" in page


def test_load_report_names_the_file_and_what_to_give(tmp_path: Path) -> None:
    from ace.errors import InputError

    with pytest.raises(InputError, match=r"results file .*missing.json: no such file; give"):
        load_report(tmp_path / "missing.json")
    trace = tmp_path / "trace.json"
    trace.write_text(json.dumps(who_and_when_record(["A", "B"], "A", 1)), encoding="utf-8")
    with pytest.raises(InputError, match=r"trace.json: not an evaluation report \(reflector"):
        load_report(trace)


# ---- the commands -----------------------------------------------------------------------


def test_traces_show_prints_a_timeline_and_writes_a_page(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = write_labelled(tmp_path / "set", [who_and_when_record(["A", "B", "A"], "B", 1)])
    trace_file = folder / "1.json"
    assert main(["traces", "show", str(trace_file)]) == 0
    out = capsys.readouterr().out
    assert "3 steps, 2 agents" in out and "^ step 1" in out and "label: agent B · step 1" in out

    monkeypatch.chdir(tmp_path)
    assert main(["traces", "show", str(trace_file), "--html"]) == 0
    assert "wrote 1.html (3 steps)" in capsys.readouterr().out
    page = (tmp_path / "1.html").read_text(encoding="utf-8")
    assert 'id="timeline"' in page and 'id="trace-label"' in page

    out_file = tmp_path / "pages" / "t.html"
    (tmp_path / "pages").mkdir()
    assert main(["traces", "show", str(trace_file), "--html", str(out_file)]) == 0
    assert out_file.is_file()


def test_traces_show_errors_are_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["traces", "show", str(tmp_path / "none.json")]) == 2
    assert "none.json" in capsys.readouterr().err
    folder = write_labelled(tmp_path / "set", [who_and_when_record(["A"], "A", 0)])
    assert (
        main(["traces", "show", str(folder / "1.json"), "--html", str(tmp_path / "no/x.html")]) == 2
    )
    assert "the folder" in capsys.readouterr().err


def test_rr_show_with_the_trace_adds_timeline_and_label(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = write_labelled(
        tmp_path / "set", [who_and_when_record(["A", "WebSurfer"] * 3, "WebSurfer", 4)]
    )
    transcript = sample_transcript(3)
    transcript.trace_id = "1.json"
    saved = transcript.save(tmp_path / "t.json")
    assert main(["rr", "show", str(saved), "--trace", str(folder / "1.json")]) == 0
    out = capsys.readouterr().out
    assert out.index("Verdict") < out.index("Trace ") < out.index("Iteration 1")
    assert "agent WebSurfer · step 4" in out and "✓ matches" in out and "^ step 4" in out

    page = tmp_path / "t.html"
    assert (
        main(["rr", "show", str(saved), "--trace", str(folder / "1.json"), "--html", str(page)])
        == 0
    )
    text = page.read_text(encoding="utf-8")
    assert 'id="verdict-label"' in text and 'id="step-4"' in text

    assert main(["rr", "show", str(saved), "--index", "1"]) == 2
    assert "--index chooses a trace of --trace FILE" in capsys.readouterr().err


def test_eval_report_command_prints_writes_and_refuses_bad_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = write_labelled(
        tmp_path / "set",
        [
            who_and_when_record(["A", "B", "C", "A"], "B", 1),
            who_and_when_record(["A", "B"], "A", 0),
        ],
    )
    items = load_labelled_traces(folder)
    first = evaluate(items, RandomReflector(0)).save(tmp_path / "a.json")
    second = evaluate(items, RandomReflector(1)).save(tmp_path / "b.json")
    assert main(["rr", "eval-report", str(first), str(second)]) == 0
    out = capsys.readouterr().out
    assert out.count("step by tolerance") == 2 and "±5" in out

    page = tmp_path / "report.html"
    assert main(["rr", "eval-report", str(first), str(second), "--html", str(page)]) == 0
    assert f"wrote {page} (2 runs)" in capsys.readouterr().out
    assert page.read_text(encoding="utf-8").count('class="panel run"') == 2

    assert main(["rr", "eval-report", str(tmp_path / "nope.json"), "--html", str(page)]) == 2
    err = capsys.readouterr().err
    assert "nope.json: no such file" in err and "ace rr eval" in err
    assert main(["rr", "eval-report", str(folder / "1.json")]) == 2
    assert "1.json: not an evaluation report" in capsys.readouterr().err
    args = ["rr", "eval-report", str(first), str(second), "--html", str(page)]
    assert (
        main(
            [
                *args,
                "--transcripts",
                str(tmp_path),
                "--transcripts",
                str(tmp_path),
                "--transcripts",
                str(tmp_path),
            ]
        )
        == 2
    )
    assert "--transcripts given 3 times for 2 results files" in capsys.readouterr().err


def test_eval_report_links_each_trace_to_its_transcript_page(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = write_labelled(
        tmp_path / "set",
        [who_and_when_record(["A", "B", "C"], "B", 1), who_and_when_record(["A", "B"], "A", 0)],
    )
    items = load_labelled_traces(folder)
    report = evaluate(items, RandomReflector(0))
    saved = report.save(tmp_path / "a.json")
    transcripts = tmp_path / "transcripts"
    transcripts.mkdir()
    first = report.results[0]
    transcript = sample_transcript(2)
    transcript.trace_id = first.trace_id
    transcript.save(transcripts / transcript_file_name(first.trace_id))

    page = tmp_path / "out" / "report.html"
    page.parent.mkdir()
    argv = ["rr", "eval-report", str(saved), "--html", str(page), "--transcripts", str(transcripts)]
    assert main(argv) == 0
    assert "1 transcript page" in capsys.readouterr().out
    stem = transcript_file_name(first.trace_id).removesuffix(".json")
    text = page.read_text(encoding="utf-8")
    assert f'<a href="../transcripts/{stem}.html">' in text
    own = (transcripts / f"{stem}.html").read_text(encoding="utf-8")
    assert 'id="verdict-label"' in own and 'id="timeline"' in own  # label and source trace
    assert f'id="step-{first.label_step}"' in own
    assert text.count("<a href=") == 1


def test_eval_command_writes_the_report_page(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = write_labelled(tmp_path / "set", [who_and_when_record(["A", "B"], "B", 1)])
    out, page = tmp_path / "r.json", tmp_path / "r.html"
    argv = [
        "rr",
        "eval",
        str(folder),
        "--reflector",
        "random",
        "--out",
        str(out),
        "--html",
        str(page),
    ]
    assert main(argv) == 0
    assert f"report page: {page}" in capsys.readouterr().out
    assert 'id="chart-accuracy"' in page.read_text(encoding="utf-8")
    assert main([*argv[:-1], str(tmp_path / "missing" / "r.html")]) == 2
    assert "--html" in capsys.readouterr().err
    assert Transcript is not None


def test_a_trace_without_steps_still_renders() -> None:
    import io

    empty = Trace(id="empty", format="json", raw={"anything": 1})
    assert "The trace has no steps." in render_trace_html(empty)
    buffer = io.StringIO()
    timeline = print_timeline(empty, make_console(buffer, width=80), highlight=0)
    assert timeline.marks == [] and timeline.highlight is None
    assert "0 steps, 0 agents" in buffer.getvalue()
