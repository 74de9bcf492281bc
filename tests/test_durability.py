"""Durability: interrupted evaluations and sessions keep what exists, evaluations resume
from their journal, kernels are closed, saves respect the file. Real processes, real
signals (only ever to a child this test started), real kill -9."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from _cli_support import REPO, who_and_when_record, write_labelled

from ace import Skillbook
from ace._files import atomic_write
from ace.errors import SkillbookFileError

DEMO_TRACE = REPO / "ace" / "cli" / "demo_data" / "who_and_when_hand_crafted_3.json"


def labelled_set(folder: Path, count: int = 12) -> Path:
    records = [
        who_and_when_record([f"a{i % 3}", "b", "c"], f"a{i % 3}", i % 3) for i in range(count)
    ]
    data = write_labelled(folder, records)
    (data / "config.json").write_text('{"model": "x", "max_tokens": 3}')  # not a trace
    return data


SLOW_EVAL = textwrap.dedent(
    """
    import sys, time
    from ace.eval import reflectors
    original = reflectors.RandomReflector.analyse
    def slow(self, trace):
        time.sleep(0.25)
        return original(self, trace)
    reflectors.RandomReflector.analyse = slow
    from ace.cli import main
    sys.exit(main(sys.argv[1:]))
    """
)


def eval_process(tmp_path: Path, *argv: str) -> subprocess.Popen[str]:
    script = tmp_path / "slow_eval.py"
    script.write_text(SLOW_EVAL)
    return subprocess.Popen(
        [sys.executable, str(script), *argv], cwd=tmp_path, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def wait_for_lines(path: Path, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and len(path.read_text().splitlines()) >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"{path} never reached {count} lines")


def comparable(report: dict) -> dict:
    """A report without what differs between any two runs (times)."""
    report = {k: v for k, v in report.items() if k not in ("created_at",)}
    report["results"] = [
        {k: v for k, v in r.items() if k != "duration_s"} for r in report["results"]
    ]
    report["summary"] = {k: v for k, v in report["summary"].items() if "seconds" not in k}
    return report


@pytest.mark.slow
@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGINT])
def test_an_interrupted_eval_keeps_its_results_and_resumes_to_the_same_report(
    tmp_path: Path, how: signal.Signals
) -> None:
    data = labelled_set(tmp_path / "set")
    out = tmp_path / "results.json"
    journal = tmp_path / "results.json.journal.jsonl"
    base = ["rr", "eval", str(data), "--reflector", "random", "--seed", "3"]

    first = eval_process(tmp_path, *base, "--out", str(out))
    wait_for_lines(journal, 1 + 4)  # header and four finished traces
    first.send_signal(how)  # this child only
    _stdout, stderr = first.communicate(timeout=60)
    assert first.returncode == (143 if how == signal.SIGTERM else 130), stderr
    partial = json.loads(out.read_text())
    assert partial["interrupted"] is True and 4 <= len(partial["results"]) < 12
    assert "--resume" in stderr

    refused = eval_process(tmp_path, *base[:-1], "4", "--resume", str(out))
    _out, err = refused.communicate(timeout=60)
    assert refused.returncode == 2 and "seed: 3 then, 4 now" in err

    second = eval_process(tmp_path, *base, "--resume", str(out))
    _out, err = second.communicate(timeout=120)
    assert second.returncode == 0, err
    resumed = json.loads(out.read_text())
    assert resumed["interrupted"] is False and len(resumed["results"]) == 12
    assert not journal.exists()

    whole = tmp_path / "whole.json"
    third = eval_process(tmp_path, *base, "--out", str(whole))
    assert third.wait(timeout=120) == 0
    assert comparable(resumed) == comparable(json.loads(whole.read_text()))
    assert [s["path"].endswith("config.json") for s in resumed["skipped"]] == [True]


SLOW_ANALYSE = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from ace.testing import FunctionModel, code_reply
    calls = Path(sys.argv[1])
    def reply(request):
        with calls.open("a") as f:
            f.write("call\\n")
        time.sleep(0.3)
        return code_reply("print(len(trace))")
    model = FunctionModel(reply)
    from ace.cli import main
    sys.exit(main(["rr", "analyse", sys.argv[2], "--model", model.name, "--max-iterations", "50",
                   "--max-llm-calls", "60", *sys.argv[3:]]))
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("save", [True, False])
def test_an_interrupted_analysis_writes_its_transcript_so_far(tmp_path: Path, save: bool) -> None:
    script = tmp_path / "slow_analyse.py"
    script.write_text(SLOW_ANALYSE)
    calls = tmp_path / "calls.txt"
    target = tmp_path / "t.json"
    extra = ["--save", str(target)] if save else []
    process = subprocess.Popen(
        [sys.executable, str(script), str(calls), str(DEMO_TRACE), *extra],
        cwd=tmp_path, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    wait_for_lines(calls, 3)
    process.send_signal(signal.SIGINT)
    _out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    written = target if save else next(tmp_path.glob("ace-interrupted-*.json"))
    transcript = json.loads(written.read_text())
    assert transcript["outcome"] == "interrupted" and len(transcript["iterations"]) >= 2
    assert str(written.name) in err


KERNELS = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from ace.rr import RRStep
    from ace.testing import FunctionModel, code_reply, reflection
    import json

    def reply(request):
        turns = sum(1 for m in request.messages if m["role"] == "assistant")
        if turns == 0:
            return code_reply("print(len(trace))")
        return code_reply("FINAL(" + repr(reflection("a", 1)) + ")")

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

    model = FunctionModel(reply)
    trace = {"question": "q", "steps": [{"content": "x", "agent": "a"}]}
    seen = []
    for _ in range(8):
        RRStep(model.name).analyse(trace)
        seen.append(kernels())
    print(json.dumps(seen))
    """
)


@pytest.mark.slow
def test_eight_one_shot_analyses_leave_no_kernel_behind(tmp_path: Path) -> None:
    script = tmp_path / "kernels.py"
    script.write_text(KERNELS)
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert all(len(alive) <= 1 for alive in seen), seen
    every = {pid for alive in seen for pid in alive}
    time.sleep(0.5)
    assert not [pid for pid in every if Path(f"/proc/{pid}").exists()]


@pytest.mark.slow
def test_warm_kernels_stop_when_idle_and_when_closed() -> None:
    from ace.rr import RRConfig, RRStep
    from ace.testing import FunctionModel, explore_then_final, reflection

    replies: list[str] = []
    model = FunctionModel(lambda request: replies.pop(0))
    trace = {"question": "q", "steps": [{"content": "x", "agent": "a"}]}
    with RRStep(model.name, RRConfig(warm_idle_s=1.0)) as rr:
        for _ in range(2):
            replies[:] = explore_then_final(["print(1)"], reflection("a", 0))
            rr.analyse(trace)
        pool = rr._pools["warm"]
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not pool._idle:  # the refill starts one
            time.sleep(0.05)
        assert pool._idle, "the pool never warmed a kernel"
        warmed = time.monotonic()
        while time.monotonic() < warmed + 10 and pool._idle:  # then idle for 1 s: stopped
            time.sleep(0.05)
        assert not pool._idle and time.monotonic() - warmed < 5
    assert rr._pools == {}


# -- saves ----------------------------------------------------------------------------------


def test_a_save_keeps_the_files_mode_and_writes_through_a_symlink(tmp_path: Path) -> None:
    target = tmp_path / "real.json"
    target.write_text("{}")
    target.chmod(0o644)
    atomic_write(target, "[1]")
    assert stat.S_IMODE(target.stat().st_mode) == 0o644 and target.read_text() == "[1]"
    link = tmp_path / "link.json"
    link.symlink_to(target)
    atomic_write(link, "[2]")
    assert link.is_symlink() and target.read_text() == "[2]"
    fresh = tmp_path / "new.json"
    atomic_write(fresh, "x")
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o666 & ~_umask()


def _umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current


def test_a_failed_save_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "busy"
    target.mkdir()
    (target / "inside").write_text("x")  # a non-empty folder cannot be replaced by a file
    with pytest.raises(OSError):
        atomic_write(target, "data")
    assert [p.name for p in tmp_path.iterdir()] == ["busy"]


KILLED_WRITER = textwrap.dedent(
    """
    import sys
    from ace._files import atomic_write
    payload = b"x" * (10 * 1024 * 1024)
    print("ready", flush=True)
    while True:
        atomic_write(sys.argv[1], payload)
    """
)


@pytest.mark.slow
def test_temporary_files_of_killed_writers_are_cleaned_by_the_next_save(tmp_path: Path) -> None:
    script = tmp_path / "writer.py"
    script.write_text(KILLED_WRITER)
    target = tmp_path / "data" / "big.bin"
    target.parent.mkdir()
    left = 0
    for _ in range(8):
        writer = subprocess.Popen(
            [sys.executable, str(script), str(target)], stdout=subprocess.PIPE, text=True
        )
        assert writer.stdout is not None and writer.stdout.readline().strip() == "ready"
        time.sleep(0.15)
        writer.kill()  # SIGKILL, this child only
        writer.wait()
        left += len(list(target.parent.glob(".big.bin.*.tmp")))
        atomic_write(target, b"clean")
        assert list(target.parent.glob(".big.bin.*.tmp")) == []
    assert target.read_bytes() == b"clean"
    # A temporary file of a live writer is left alone.
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        live = target.parent / f".big.bin.{sleeper.pid}.abcd1234.tmp"
        live.write_bytes(b"in progress")
        atomic_write(target, b"again")
        assert live.exists()
    finally:
        sleeper.kill()
        sleeper.wait()
    atomic_write(target, b"once more")
    assert not live.exists()


def test_a_json_file_that_is_not_a_skillbook_is_refused_and_never_overwritten(
    tmp_path: Path,
) -> None:
    config = tmp_path / "config.json"
    config.write_text('{"model": "gpt-4o", "temperature": 0}')
    with pytest.raises(SkillbookFileError, match="not a skillbook"):
        Skillbook.load(config)
    with pytest.raises(SkillbookFileError):
        Skillbook().save(config)
    assert json.loads(config.read_text()) == {"model": "gpt-4o", "temperature": 0}
    empty = tmp_path / "empty.json"
    empty.write_text('{"skills": {}}')
    assert len(Skillbook.load(empty).skills()) == 0
