"""Batch analysis: ``ace rr analyse-batch`` and ``ace rr eval --jobs`` on real kernels and
the real litellm path (scripted models from ``ace.testing``), one run-wide budget, reports
that do not depend on ``--jobs``, caller mistakes refused before any model call, and
``TraceAnalyser.run(executor=...)`` building one skillbook whatever order reflections
finish in."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from _cli_support import DATA, run_cli, session_file, who_and_when_record, write_labelled

from ace import Skillbook, TraceAnalyser
from ace.cli import main
from ace.eval import evaluate
from ace.eval.reflectors import Analysis
from ace.executors import LocalExecutor
from ace.outputs import ReflectorOutput, SkillManagerOutput
from ace.testing import FunctionModel, RecordedRequest, code_reply, final_code
from ace.traces import Trace, load_labelled_traces, load_traces
from ace.updates import UpdateBatch, UpdateOperation

LAST_AGENT_FINAL = (
    final_code(
        {
            "reasoning": "scripted: blames the last step",
            "error_identification": "scripted",
            "attribution": {"agent": "AGENT", "step": "STEP", "reason": "last step"},
        }
    )
    .replace("'AGENT'", "trace.agents()[-1]")
    .replace("'STEP'", "len(trace) - 1")
)


def per_trace_model(delay_s: float = 0.0) -> FunctionModel:
    """Two turns per session whatever the order sessions run in: explore, then a FINAL
    the kernel computes from the trace (its last agent and step)."""

    def reply(request: RecordedRequest) -> str:
        turns = sum("[Iteration" in str(m.get("content") or "") for m in request.messages)
        if turns == 0:
            return code_reply("print(len(trace), trace.agents())")
        return code_reply(LAST_AGENT_FINAL, "I have enough evidence.")

    return FunctionModel(reply, delay_s=delay_s)


def unlabelled_set(folder: Path) -> Path:
    """The three shipped hand-crafted traces with their labels taken out (a batch needs none)."""
    folder.mkdir(parents=True, exist_ok=True)
    for file in sorted((DATA / "hand_crafted").glob("*.json")):
        record = json.loads(file.read_text(encoding="utf-8"))
        for key in [k for k in record if k.startswith("mistake_")]:
            del record[key]
        (folder / file.name).write_text(json.dumps(record), encoding="utf-8")
    return folder


def comparable(report: dict[str, Any]) -> dict[str, Any]:
    """A report without what differs between any two runs (times)."""
    report = {k: v for k, v in report.items() if k != "created_at"}
    report["results"] = [
        {k: v for k, v in r.items() if k != "duration_s"} for r in report["results"]
    ]
    report["summary"] = {k: v for k, v in report["summary"].items() if "seconds" not in k}
    return report


def test_analyse_batch_gives_the_same_report_with_one_or_two_jobs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = unlabelled_set(tmp_path / "set")
    model = per_trace_model()
    reports = {}
    for jobs in (1, 2):
        out = tmp_path / f"jobs{jobs}.json"
        argv = ["rr", "analyse-batch", str(data), "--model", model.name, "--jobs", str(jobs)]
        assert main([*argv, "--out", str(out)]) == 0, capsys.readouterr().err
        reports[jobs] = json.loads(out.read_text(encoding="utf-8"))
        assert not (tmp_path / f"jobs{jobs}.json.journal.jsonl").exists()
    err = capsys.readouterr().err
    assert "3/3 done · 0 failed · 6 calls" in err  # the live line, off a terminal
    one, two = reports[1], reports[2]
    assert comparable(one) == comparable(two)
    assert [r["trace_id"] for r in one["results"]] == [
        t.id for t in load_traces(data)
    ]  # input order
    assert all(r["outcome"] == "final" and r["calls"] == 2 for r in one["results"])
    assert all(r["predicted_agent"] and r["label_agent"] is None for r in one["results"])


def test_eval_with_three_jobs_scores_like_one_job(tmp_path: Path) -> None:
    base = ["rr", "eval", str(DATA / "algorithm_generated"), "--reflector", "random"]
    reports = []
    for jobs in ("1", "3"):
        out = tmp_path / f"jobs{jobs}.json"
        result = run_cli(*base, "--seed", "5", "--jobs", jobs, "--out", str(out))
        assert result.returncode == 0, result.stderr
        reports.append(comparable(json.loads(out.read_text(encoding="utf-8"))))
    assert reports[0] == reports[1] and len(reports[0]["results"]) == 9


def test_a_spent_run_budget_leaves_traces_not_run_and_resume_finishes_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = unlabelled_set(tmp_path / "set")
    model = per_trace_model()
    out = tmp_path / "batch.json"
    journal = tmp_path / "batch.json.journal.jsonl"
    argv = ["rr", "analyse-batch", str(data), "--model", model.name, "--jobs", "2"]
    assert main([*argv, "--out", str(out), "--max-llm-calls-total", "3"]) == 0
    err = capsys.readouterr().err
    first = json.loads(out.read_text(encoding="utf-8"))
    not_run = [s for s in first["skipped"] if s["reason"].startswith("not run")]
    assert first["run_usage"]["calls"] <= 3 and first["run_usage"]["max_calls"] == 3
    assert len(first["results"]) + len(not_run) == 3 and not_run
    assert "batch's LLM call budget" in not_run[0]["reason"]
    assert f"--resume {out}" in err and journal.exists()  # the journal is kept to continue
    assert sum(r["calls"] for r in first["results"]) <= 3

    assert main([*argv, "--resume", str(out), "--max-llm-calls-total", "20"]) == 0
    resumed = json.loads(out.read_text(encoding="utf-8"))
    assert len(resumed["results"]) == 3 and not resumed["skipped"]
    assert resumed["run_usage"]["calls"] <= 20 and not journal.exists()
    kept = {r["trace_id"]: r for r in first["results"]}
    for r in resumed["results"]:  # what was saved is kept, not analysed again
        if r["trace_id"] in kept:
            assert r == kept[r["trace_id"]]


def test_a_trace_that_fails_is_an_entry_naming_the_cause_and_the_batch_goes_on(
    tmp_path: Path,
) -> None:
    data = write_labelled(
        tmp_path, [who_and_when_record(["a", "b", "c"], "b", i % 3) for i in range(5)]
    )
    items = load_labelled_traces(data)
    broken = items[2].trace.id

    class Flaky:
        name = "flaky"

        def analyse(self, trace: Trace) -> Analysis:
            if trace.id == broken:
                raise KeyError("a bug in the reflector")
            return Analysis(attribution=None, calls=1)

    with LocalExecutor(2) as executor:
        report = evaluate(items, Flaky(), executor=executor)
    assert [r.trace_id for r in report.results] == [i.trace.id for i in items]
    failed = [r for r in report.results if r.error]
    assert [r.trace_id for r in failed] == [broken]
    assert failed[0].error == "KeyError: 'a bug in the reflector'"


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--jobs", "0"], "--jobs: expected a number >= 1"),
        (["--max-cost-usd", "-1"], "--max-cost-usd: expected a number > 0"),
        (["--max-llm-calls-total", "0"], "--max-llm-calls-total: expected a number >= 1"),
        (["--resume", "RESUME"], "no journal"),
    ],
)
def test_caller_mistakes_are_refused_before_any_model_call(
    tmp_path: Path, extra: list[str], expected: str
) -> None:
    data = unlabelled_set(tmp_path / "set")
    calls = tmp_path / "replies.json"
    session = session_file(calls, [code_reply("print(1)")] * 8)
    extra = [str(tmp_path / "old.json") if a == "RESUME" else a for a in extra]
    result = run_cli(
        "rr", "analyse-batch", str(data), "--model", f"scripted:{session}", *extra,
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert expected in result.stderr
    assert not list(tmp_path.glob("ace-batch-*")) and not list(tmp_path.glob("*.journal.jsonl"))


def test_a_cost_limit_with_an_unpriced_model_is_refused_before_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = unlabelled_set(tmp_path / "set")
    model = per_trace_model()
    out = tmp_path / "batch.json"
    argv = ["rr", "analyse-batch", str(data), "--model", model.name, "--out", str(out)]
    assert main([*argv, "--max-cost-usd", "1"]) == 2
    assert "cannot price" in capsys.readouterr().err
    assert model.requests == [] and not out.exists()
    assert not (tmp_path / "batch.json.journal.jsonl").exists()


def test_a_missing_folder_is_one_line(tmp_path: Path) -> None:
    result = run_cli("rr", "analyse-batch", str(tmp_path / "nowhere"), "--model", "x/y")
    assert result.returncode == 2 and "no such file or directory" in result.stderr


# ----------------------------------------------------------------------- TraceAnalyser
class _SlowFirstReflector:
    """Reflects on a trace after a delay that makes earlier traces finish last."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.seen_skills: list[int] = []
        self._lock = threading.Lock()

    def reflect(self, **kwargs: Any) -> ReflectorOutput:
        trace = kwargs["trace"]
        index = int(trace.question.rsplit(" ", 1)[-1])
        time.sleep(0.03 * (self.count - index))
        with self._lock:
            self.seen_skills.append(len(kwargs["skillbook"].skills()))
        return ReflectorOutput(reasoning=f"r{index}", key_insight=f"insight {index}")


class _OneSkillPerReflection:
    """Adds a skill naming the reflection and how many skills it saw."""

    def update_skills(self, **kwargs: Any) -> SkillManagerOutput:
        (reflection,) = kwargs["reflections"]
        seen = len(kwargs["skillbook"].skills())
        content = f"{reflection.key_insight} after {seen} skills"
        return SkillManagerOutput(
            update=UpdateBatch(
                operations=[UpdateOperation(type="ADD", section="s", content=content)]
            )
        )


def _traces(count: int) -> list[dict[str, Any]]:
    return [
        {"question": f"task {i}", "steps": [{"role": "assistant", "content": f"answer {i}"}]}
        for i in range(count)
    ]


def test_trace_analyser_on_an_executor_builds_the_sequential_skillbook() -> None:
    count = 6
    sequential = TraceAnalyser(
        reflector=_SlowFirstReflector(count), skill_manager=_OneSkillPerReflection()
    )
    sequential.run(_traces(count))
    reflector = _SlowFirstReflector(count)
    parallel = TraceAnalyser(reflector=reflector, skill_manager=_OneSkillPerReflection())
    with LocalExecutor(3) as executor:
        results = parallel.run(_traces(count), executor=executor, epochs=2)
    assert [r.index for r in results] == list(range(count)) * 2 and all(r.ok for r in results)
    # Every reflection of epoch 1 read the skillbook as the epoch began (empty); epoch 2's
    # read the six skills of epoch 1, however they were scheduled.
    assert sorted(reflector.seen_skills) == [0] * count + [count] * count
    contents = [s.content for s in parallel.skillbook.skills()]
    assert contents[:count] == [s.content for s in sequential.skillbook.skills()]
    assert contents[:3] == [
        "insight 0 after 0 skills",
        "insight 1 after 1 skills",
        "insight 2 after 2 skills",
    ]


def test_trace_analyser_without_a_reflecting_step_refuses_an_executor() -> None:
    from ace.pipeline import Pipeline
    from ace.steps import LoadTracesStep

    runner = TraceAnalyser(pipeline=Pipeline([LoadTracesStep()]), skillbook=Skillbook())
    with LocalExecutor(1) as executor, pytest.raises(ValueError, match="providing 'reflections'"):
        runner.run(_traces(1), executor=executor)


def test_a_run_wide_cost_limit_holds_across_parallel_sessions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = unlabelled_set(tmp_path / "set")
    model = per_trace_model()
    model.set_price(input_per_token=1e-4, output_per_token=1e-4)
    out = tmp_path / "batch.json"
    argv = ["rr", "analyse-batch", str(data), "--model", model.name, "--out", str(out)]
    assert main([*argv, "--jobs", "2", "--max-cost-usd", "1.2"]) == 0, capsys.readouterr().err
    report = json.loads(out.read_text(encoding="utf-8"))
    spent = sum(r["cost_usd"] for r in report["results"])
    assert 0 < spent <= report["run_usage"]["cost_usd"] + 1e-9 <= 1.2 + 1e-9
    not_run = [s for s in report["skipped"] if s["reason"].startswith("not run")]
    assert not_run and len(report["results"]) + len(not_run) == 3
    assert "cost" in not_run[0]["reason"]


SLOW_RANDOM = """
import sys, time
from ace.eval import reflectors
original = reflectors.RandomReflector.analyse
def slow(self, trace):
    time.sleep(0.2)
    return original(self, trace)
reflectors.RandomReflector.analyse = slow
from ace.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_an_interrupted_parallel_run_keeps_its_journal_and_resumes_to_the_same_report(
    tmp_path: Path,
) -> None:
    import signal
    import subprocess
    import sys

    data = write_labelled(
        tmp_path / "set",
        [who_and_when_record([f"a{i % 3}", "b", "c"], f"a{i % 3}", i % 3) for i in range(12)],
    )
    script = tmp_path / "slow.py"
    script.write_text(SLOW_RANDOM)
    out, journal = tmp_path / "r.json", tmp_path / "r.json.journal.jsonl"
    base = [sys.executable, str(script), "rr", "eval", str(data), "--reflector", "random"]

    def start(*argv: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [*base, *argv], cwd=tmp_path, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )

    first = start("--jobs", "3", "--out", str(out))
    deadline = time.monotonic() + 60
    while not (journal.exists() and len(journal.read_text().splitlines()) >= 1 + 4):
        assert time.monotonic() < deadline, "the journal never filled"
        time.sleep(0.05)
    first.send_signal(signal.SIGTERM)  # this child only
    _stdout, stderr = first.communicate(timeout=60)
    assert first.returncode == 143, stderr
    partial = json.loads(out.read_text())
    assert partial["interrupted"] is True and 4 <= len(partial["results"]) < 12
    second = start("--jobs", "2", "--resume", str(out))
    assert second.wait(timeout=120) == 0, second.communicate()[1]
    whole = tmp_path / "whole.json"
    assert start("--out", str(whole)).wait(timeout=120) == 0
    assert comparable(json.loads(out.read_text())) == comparable(json.loads(whole.read_text()))
    assert not journal.exists()


@pytest.mark.slow
def test_a_replayed_batch_gives_the_recorded_report_at_any_jobs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from ace.replay import Recorder

    data = unlabelled_set(tmp_path / "set")
    model = per_trace_model()
    cassette = tmp_path / "batch.cassette.json"
    with Recorder(model=model.name) as recorder:
        argv = ["rr", "analyse-batch", str(data), "--model", model.name]
        assert main([*argv, "--out", str(tmp_path / "recorded.json")]) == 0
    recorder.save(cassette)
    reports = []
    for jobs in ("1", "3"):
        out = tmp_path / f"replay{jobs}.json"
        argv = ["rr", "analyse-batch", str(data), "--model", f"replay:{cassette}"]
        assert main([*argv, "--jobs", jobs, "--out", str(out)]) == 0, capsys.readouterr().err
        reports.append(comparable(json.loads(out.read_text(encoding="utf-8"))))
    assert reports[0]["results"] == reports[1]["results"]
    recorded = comparable(json.loads((tmp_path / "recorded.json").read_text(encoding="utf-8")))
    assert reports[0]["results"] == recorded["results"]


def test_the_live_line_counts_done_failed_calls_cost_and_gives_an_eta() -> None:
    import io

    from ace.cli._batch_progress import BatchLine
    from ace.eval import TraceResult

    stream = io.StringIO()
    with BatchLine(4, stream) as line:
        line(0, TraceResult(trace_id="old", calls=9, cost_usd=0.5), resumed=True)
        line(1, TraceResult(trace_id="a", calls=3, cost_usd=0.25, outcome="final"))
        line(2, TraceResult(trace_id="b", calls=1, cost_usd=0.0, outcome="timeout"))
    lines = stream.getvalue().splitlines()
    assert lines[1].startswith("a: done · 2/4 done · 0 failed · 12 calls · $0.7500 · ETA ")
    assert lines[2].startswith("b: failed · 3/4 done · 1 failed · 13 calls · $0.7500 · ETA ")
    unpriced = BatchLine(1, io.StringIO())
    unpriced(0, TraceResult(trace_id="c", calls=1, cost_usd=None, outcome="final"))
    assert "unpriced" in unpriced.describe() and "ETA" not in unpriced.describe()


def test_a_jsonl_file_of_unlabelled_traces_is_a_batch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    records = []
    for agents in (["planner", "coder"], ["coder", "tester", "planner"]):
        record = who_and_when_record(agents, agents[0], 0)
        records.append({k: v for k, v in record.items() if not k.startswith("mistake_")})
    file = tmp_path / "runs.jsonl"
    file.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    model = per_trace_model()
    argv = ["rr", "analyse-batch", str(file), "--model", model.name, "--jobs", "2"]
    assert main(argv) == 0, capsys.readouterr().err  # default --out: ace-batch-runs.jsonl.json
    report = json.loads((tmp_path / "ace-batch-runs.jsonl.json").read_text(encoding="utf-8"))
    assert [(r["predicted_agent"], r["predicted_step"]) for r in report["results"]] == [
        ("coder", 1),
        ("planner", 2),
    ]


KILLED_BATCH = """
import json, os, sys, threading, time
from pathlib import Path
from ace.testing import FunctionModel, code_reply
FINAL_CODE = sys.argv[4]

def reply(request):
    turns = sum("[Iteration" in str(m.get("content") or "") for m in request.messages)
    if turns == 0:
        return code_reply("print(len(trace))")
    return code_reply(FINAL_CODE)

def kernels():
    found, todo = [], [os.getpid()]
    while todo:
        pid = todo.pop()
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                children = [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
            for child in children:
                todo.append(child)
                try:
                    if b"sandbox._kernel" in Path(f"/proc/{child}/cmdline").read_bytes():
                        found.append(child)
                except OSError:
                    pass
    return found

pids = Path(sys.argv[1])
def watch():
    seen = set()
    while True:
        seen.update(kernels())
        tmp = pids.with_suffix(".tmp")
        tmp.write_text(json.dumps(sorted(seen)))
        tmp.replace(pids)
        time.sleep(0.1)
threading.Thread(target=watch, daemon=True).start()
model = FunctionModel(reply, delay_s=1.0)
from ace.cli import main
sys.exit(main(["rr", "analyse-batch", sys.argv[2], "--model", model.name, "--jobs", "2", "--out", sys.argv[3]]))
"""


@pytest.mark.slow
def test_an_interrupted_parallel_batch_leaves_no_kernel_behind(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys

    data = unlabelled_set(tmp_path / "set")
    script = tmp_path / "batch.py"
    script.write_text(KILLED_BATCH)
    out, journal, pids = tmp_path / "r.json", tmp_path / "r.json.journal.jsonl", tmp_path / "k"
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    argv = [sys.executable, str(script), str(pids), str(data), str(out), LAST_AGENT_FINAL]
    child = subprocess.Popen(
        argv, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 120
    while not (
        journal.exists()
        and len(journal.read_text().splitlines()) >= 2
        and pids.exists()
        and any(Path(f"/proc/{pid}").exists() for pid in json.loads(pids.read_text() or "[]"))
    ):
        assert time.monotonic() < deadline and child.poll() is None, "no result, or no kernel"
        time.sleep(0.1)
    child.send_signal(signal.SIGTERM)  # this child only
    _stdout, stderr = child.communicate(timeout=60)
    assert child.returncode == 143, stderr
    kernels = json.loads(pids.read_text())
    assert kernels
    gone_by = time.monotonic() + 5
    while any(Path(f"/proc/{pid}").exists() for pid in kernels):
        assert time.monotonic() < gone_by, "a kernel outlived its batch"
        time.sleep(0.1)
    partial = json.loads(out.read_text())
    assert partial["interrupted"] is True and 1 <= len(partial["results"]) < 3
