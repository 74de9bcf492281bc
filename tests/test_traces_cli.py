"""``ace traces inspect|convert``, ``ace rr analyse -`` and ``--index``, ``ace rr eval
--labels``: in-process where no kernel is needed, a subprocess for the real sessions."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from _cli_support import HOSTILE, session_file

from ace.cli import main
from ace.rr.transcript import Transcript
from ace.traces import FORMATS, load_traces

SAMPLES = Path(__file__).parent / "data" / "traces"


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("ace: error: ")
    return lines[0]


def feed_stdin(monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))


@pytest.mark.parametrize(
    "argv", [["traces", "--help"], ["traces", "inspect", "--help"], ["traces", "convert", "--help"]]
)
def test_traces_help_loads_nothing_heavy(argv: list[str]) -> None:
    code = (
        "import sys\n"
        "from ace.cli import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit as exc:\n"
        "    assert exc.code == 0, exc.code\n"
        "heavy = [m for m in ('litellm', 'logfire', 'jupyter_client', 'rich', 'pydantic')\n"
        "         if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "usage: ace traces" in result.stdout


def test_inspect_names_format_traces_agents_labels_and_steps(
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = SAMPLES / "tau_bench.json"
    assert main(["traces", "inspect", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{path}: format tau_bench · 3 traces · 18 steps"
    assert out[1].startswith("agents: assistant 7, user 4, system 2, get_user_details 2")
    assert out[2] == (
        "labels taken out (never shown to a reflector): reward 3, info.reward_info 2, "
        "info.task.actions 2, info.task.outputs 2"
    )
    assert out[3] == "#0 task-4-trial-0 · 10 steps"
    assert out[4].startswith("   first [0] system: # Retail agent policy Authenticate")
    assert out[4].endswith("…") and len(out[4]) < 130
    assert out[5] == "   last  [9] user: That was the keyboard, not the lamp! ###STOP###"
    assert out[-1] == "#2 task-11-trial-0 · 0 steps"


def test_inspect_json_has_time_spans_and_every_trace(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["traces", "inspect", str(SAMPLES / "tau2_bench.json"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["formats"], summary["traces"], summary["steps"]) == ({"tau2_bench": 2}, 2, 17)
    assert summary["labels"] == {
        "reward_info": 2,
        "task.evaluation_criteria": 2,
        "task.description": 2,
    }
    assert summary["time_span"] == {
        "start": "2025-06-12T10:15:00.120511",
        "end": "2025-06-12T10:16:20.000100",
        "seconds": pytest.approx(79.879589),
    }
    first = summary["items"][0]
    assert first["agents"] == {
        "assistant": 5,
        "user": 3,
        "get_user_details": 1,
        "get_reservation_details": 1,
        "update_reservation_baggages": 1,
    }
    assert first["first_step"] == "[0] assistant: Hi! How can I help you today?"
    assert first["time_span"]["seconds"] == pytest.approx(42.28149)


def test_inspect_an_unknown_file_names_every_format_tried(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["traces", "inspect", str(SAMPLES / "unknown.json")]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "unknown.json: no trace steps found (it read as json)" in line
    assert all(f"{name}: " in line for name in FORMATS)


def test_inspect_a_forced_format_stdin_and_hostile_text(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = str(SAMPLES / "openai_messages.json")
    assert main(["traces", "inspect", path, "--format", "step_list"]) == 0
    assert "format step_list · 1 trace · 5 steps" in capsys.readouterr().out
    assert main(["traces", "inspect", path, "--format", "nope"]) == 2
    assert "registered formats are normalised, tau2_bench" in one_error_line(
        capsys.readouterr().err
    )
    feed_stdin(monkeypatch, (SAMPLES / "chat.jsonl").read_bytes())
    assert main(["traces", "inspect", "-"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("<stdin>: format openai_messages · 1 trace · 5 steps")
    assert "time span: 2025-03-04T09:00:00Z → 2025-03-04T09:01:12Z (72 s)" in out
    hostile = tmp_path / "hostile.log"
    hostile.write_text(f"agent: {HOSTILE}\n", encoding="utf-8")
    assert main(["traces", "inspect", str(hostile)]) == 0
    shown = capsys.readouterr().out
    assert "\x1b" not in shown and "\x9b" not in shown and "\u202e" not in shown
    assert "red" in shown


def test_convert_writes_the_normalised_form_that_reads_back(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    source = SAMPLES / "tau_bench.json"
    out = tmp_path / "normalised.json"
    assert main(["traces", "convert", str(source), "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and f"wrote 3 traces to {out}" in captured.err
    again, original = load_traces(out), load_traces(source)
    assert [t.model_dump(exclude={"source"}) for t in again] == [
        t.model_dump(exclude={"source"}) for t in original
    ]
    assert "gt_data_hash" not in out.read_text(encoding="utf-8")
    assert main(["traces", "convert", str(source), "--with-labels"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed[0]["labels"]["other"]["reward"] == 0.0
    assert printed[0]["trace"]["id"] == "task-4-trial-0"
    missing = tmp_path / "no" / "out.json"
    assert main(["traces", "convert", str(source), "-o", str(missing)]) == 2
    assert "does not exist" in one_error_line(capsys.readouterr().err)


def test_analyse_a_file_of_several_traces_asks_for_an_index(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    runs = str(SAMPLES / "runs.jsonl")
    assert main(["rr", "analyse", runs, "--model", "openai/gpt-4o-mini"]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert f"{runs} holds 3 traces (openai_messages); analyse one with --index N (0 to 2" in line
    assert main(["rr", "analyse", runs, "--index", "3", "--model", "openai/gpt-4o-mini"]) == 2
    assert "--index 3: " in one_error_line(capsys.readouterr().err)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["rr", "analyse", str(empty), "--model", "openai/gpt-4o-mini"]) == 2
    assert "no trace files found" in one_error_line(capsys.readouterr().err)


def _labelled_set(tmp_path: Path) -> tuple[Path, Path]:
    folder = tmp_path / "set"
    folder.mkdir()
    for name in ("t1", "t2", "t3"):
        (folder / f"{name}.log").write_text(
            "planner: plan\ncoder: wrote code\ntester: failed\n", encoding="utf-8"
        )
    labels = [
        {"trajectory_id": "t1", "failures": [{"step_number": 1, "failed_agent": "coder"}]},
        {"trajectory_id": "t2.log", "failures": [{"step_number": 2, "failed_agent": "tester"}]},
    ]
    gt = tmp_path / "gt.json"
    gt.write_text(json.dumps(labels), encoding="utf-8")
    return folder, gt


def test_eval_scores_labels_from_a_separate_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    folder, gt = _labelled_set(tmp_path)
    out = tmp_path / "results.json"
    argv = ["rr", "eval", str(folder), "--reflector", "random", "--out", str(out)]
    assert main([*argv, "--labels", str(gt)]) == 0
    captured = capsys.readouterr()
    assert f"skipped 1 trace with no failure labelled in {gt}" in captured.out
    report = json.loads(out.read_text(encoding="utf-8"))
    assert [(r["trace_id"], r["label_agent"], r["label_step"]) for r in report["results"]] == [
        ("t1.log", "coder", 1),
        ("t2.log", "tester", 2),
    ]
    assert report["skipped"] == [
        {
            "path": f"trace file {folder / 't3.log'}",
            "reason": f"no entry in {gt}",
            "trace_id": "t3.log",
        }
    ]
    # without the file, the same logs carry no labels
    assert main(argv) == 2
    assert "no labelled trace files found" in one_error_line(capsys.readouterr().err)
    gt.write_text(json.dumps([{"trajectory_id": "t9", "failures": []}]), encoding="utf-8")
    assert main([*argv, "--labels", str(gt)]) == 2
    assert "1 entry matches no trajectory of the set: 't9'" in one_error_line(
        capsys.readouterr().err
    )


def _cli(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    env.pop("ACE_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "ace.cli", *args],
        input=stdin,
        capture_output=True,
        env=env,
        timeout=180,
    )


REPLIES = [
    "```python\nprint(trace.id, len(trace), trace.agents())\n```",
    "```python\nFINAL({'reasoning': 'misread', 'attribution': {'agent': 'assistant', 'step': 2}})\n```",
]


@pytest.mark.slow
def test_analyse_reads_a_conversation_from_standard_input(tmp_path: Path) -> None:
    session = session_file(tmp_path / "session.json", REPLIES)
    saved = tmp_path / "t.json"
    result = _cli(
        "rr", "analyse", "-", "--model", f"scripted:{session}", "--save", str(saved),
        stdin=(SAMPLES / "chat.jsonl").read_bytes(),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr.decode()
    assert "Decisive error: agent assistant · step 2" in result.stdout.decode()
    transcript = Transcript.load(saved)
    assert transcript.trace_id == "<stdin>"
    assert "<stdin> 5 ['system', 'user', 'assistant']" in transcript.iterations[0].stdout


@pytest.mark.slow
def test_analyse_index_picks_one_run_of_a_jsonl(tmp_path: Path) -> None:
    session = session_file(tmp_path / "session.json", REPLIES)
    saved = tmp_path / "t.json"
    result = _cli(
        "rr", "analyse", str(SAMPLES / "runs.jsonl"), "--index", "1",
        "--model", f"scripted:{session}", "--save", str(saved),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr.decode()
    assert Transcript.load(saved).trace_id == "run-2"
