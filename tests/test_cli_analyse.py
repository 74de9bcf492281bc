"""``ace rr analyse`` and ``ace demo`` end to end, with scripted models and a real kernel."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _cli_support import DATA, explore_then_final, run_cli, session_file

from ace.rr.transcript import Transcript

pytestmark = pytest.mark.slow

TRACE = DATA / "hand_crafted" / "1.json"


def test_analyse_prints_the_reflection_and_writes_every_file(tmp_path: Path) -> None:
    session = session_file(tmp_path / "session.json", explore_then_final("WebSurfer", 4))
    saved, page, spans = tmp_path / "t.json", tmp_path / "t.html", tmp_path / "spans.jsonl"
    result = run_cli(
        "rr",
        "analyse",
        str(TRACE),
        "--model",
        f"scripted:{session}",
        "--max-llm-calls",
        "9",
        "--save",
        str(saved),
        "--html",
        str(page),
        "--otlp-file",
        str(spans),
    )
    assert result.returncode == 0, result.stderr
    assert "Decisive error: agent WebSurfer · step 4" in result.stdout
    assert "What went wrong: wrong step" in result.stdout
    assert "session: final · 3 iterations · 6/9 calls" in result.stdout
    assert (
        f"transcript: {saved} (view with: ace rr show {saved})" in result.stderr
    )  # human lines go to stderr
    # The live line, off a terminal: one line per event, with the budget.
    progress = [line for line in result.stderr.splitlines() if line.startswith("[rr] ")]
    assert progress[0].startswith("[rr] iteration 0/12 · calls 0/9")
    assert progress[-1].endswith("done") and "calls 6/9" in progress[-1]

    transcript = Transcript.load(saved)
    assert [it.index for it in transcript.iterations] == [1, 2, 3]
    assert len(transcript.iterations[1].subcalls) == 3
    html = page.read_text(encoding="utf-8")
    assert all(f'id="iteration-{i}"' in html for i in (1, 2, 3))
    # The page opens with the verdict, the label of the labelled trace, and its timeline.
    assert html.index('id="verdict"') < html.index('id="timeline"') < html.index('id="iteration-1"')
    assert 'id="verdict-label"' in html and 'class="mark mark-' in html

    names = []
    for line in spans.read_text(encoding="utf-8").splitlines():
        for resource in json.loads(line)["resourceSpans"]:
            for scope in resource["scopeSpans"]:
                for span in scope["spans"]:
                    assert len(span["traceId"]) == 32 and len(span["spanId"]) == 16
                    names.append(span["name"])
    assert "rr session {rr.trace_id}" in names
    assert names.count("rr iteration {rr.iteration}") == 3


def test_analyse_json_output(tmp_path: Path) -> None:
    session = session_file(tmp_path / "session.json", explore_then_final("Orchestrator", 2))
    result = run_cli("rr", "analyse", str(TRACE), "--model", f"scripted:{session}", "--json")
    assert result.returncode == 0, result.stderr
    body = result.stdout[: result.stdout.rindex("}") + 1]
    reflection = json.loads(body)
    assert reflection["attribution"] == {"agent": "Orchestrator", "step": 2, "reason": "it erred"}


def test_analyse_plain_text_log(tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    log.write_text("planner: plan the task\ncoder: wrote code\ntester: FAILED\n", encoding="utf-8")
    replies = [
        "```python\nprint(len(trace), trace.agents())\n```",
        "```python\nFINAL({'reasoning': 'the coder broke it', 'attribution': {'agent': 'coder', 'step': 1}})\n```",
    ]
    session = session_file(tmp_path / "session.json", replies)
    result = run_cli("rr", "analyse", str(log), "--model", f"scripted:{session}")
    assert result.returncode == 0, result.stderr
    assert "Decisive error: agent coder · step 1" in result.stdout


def test_a_session_that_never_finishes_exits_non_zero(tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    log.write_text("planner: plan\ncoder: FAILED\n", encoding="utf-8")
    session = session_file(tmp_path / "session.json", ["```python\nprint(len(trace))\n```"])
    result = run_cli("rr", "analyse", str(log), "--model", f"scripted:{session}")
    assert result.returncode == 1
    error = [line for line in result.stderr.splitlines() if line.startswith("ace: error:")]
    assert len(error) == 1 and "outcome 'timeout'" in error[0] and "ran out of replies" in error[0]


def test_demo_runs_the_scripted_session_and_renders_it(tmp_path: Path) -> None:
    result = run_cli("demo", "--no-local", "--out", str(tmp_path / "demo"))
    assert result.returncode == 0, result.stderr
    assert "The model is SCRIPTED" in result.stdout
    assert "Decisive error: agent WebSurfer · step 32" in result.stdout
    assert "Who&When's label for this trace: agent WebSurfer, step 32" in result.stdout
    assert "--model openai/gpt-4o-mini" in result.stdout
    transcript = Transcript.load(tmp_path / "demo" / "transcript.json")
    assert transcript.outcome == "final" and len(transcript.iterations) == 5
    assert (tmp_path / "demo" / "transcript.html").stat().st_size > 10_000
