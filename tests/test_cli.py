"""``ace`` basics: fast help without litellm, one clear line for every expected failure."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from _cli_support import run_cli

from ace.cli import main

HELP_COMMANDS = [
    ["--help"],
    ["rr", "--help"],
    ["rr", "analyse", "--help"],
    ["rr", "show", "--help"],
    ["rr", "eval", "--help"],
    ["demo", "--help"],
]


@pytest.mark.parametrize("argv", HELP_COMMANDS, ids=lambda a: " ".join(a))
def test_help_imports_neither_litellm_nor_logfire(argv: list[str]) -> None:
    code = (
        "import sys\n"
        "from ace.cli import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit as exc:\n"
        "    assert exc.code == 0, exc.code\n"
        "heavy = [m for m in ('litellm', 'logfire', 'jupyter_client', 'rich') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "usage: ace" in result.stdout


def test_help_answers_in_under_half_a_second() -> None:
    # Best of three: the machine's two cores are shared with other work.
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        result = run_cli("rr", "analyse", "--help")
        timings.append(time.perf_counter() - started)
        assert result.returncode == 0
    assert min(timings) < 0.5, timings


def test_console_script_entry_point_is_main() -> None:
    ace_script = Path(sys.executable).with_name("ace")
    assert ace_script.exists()
    result = subprocess.run([str(ace_script), "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("ace ")


def _one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("ace: error: ")
    return lines[0]


def test_missing_trace_file_is_one_line(tmp_path: Path) -> None:
    result = run_cli("rr", "analyse", str(tmp_path / "nope.json"), "--model", "openai/gpt-4o")
    line = _one_error_line(result)
    assert "nope.json" in line and "no such file" in line
    assert result.returncode == 2


def test_unparsable_trace_file_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    line = _one_error_line(run_cli("rr", "analyse", str(bad), "--model", "openai/gpt-4o"))
    assert "bad.json" in line


def test_missing_transcript_is_one_line(tmp_path: Path) -> None:
    line = _one_error_line(run_cli("rr", "show", str(tmp_path / "t.json")))
    assert "t.json" in line


def test_wrong_json_as_transcript_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text('{"hello": 1}', encoding="utf-8")
    line = _one_error_line(run_cli("rr", "show", str(path)))
    assert "not an RR transcript" in line


def test_eval_of_missing_directory_is_one_line(tmp_path: Path) -> None:
    line = _one_error_line(run_cli("rr", "eval", str(tmp_path / "none"), "--reflector", "random"))
    assert "no such file or directory" in line


def test_eval_needs_a_model_except_for_random(tmp_path: Path) -> None:
    from _cli_support import who_and_when_record, write_labelled

    data = write_labelled(tmp_path / "set", [who_and_when_record(["a", "b"], "a", 0)])
    line = _one_error_line(run_cli("rr", "eval", str(data), "--reflector", "simple", cwd=tmp_path))
    assert "--model is required" in line


def test_bad_option_value_is_argparse_usage_error() -> None:
    result = run_cli("rr", "eval", "x", "--limit", "0")
    assert result.returncode == 2 and "expected a number >= 1" in result.stderr


# -- model checks need litellm: run in-process, where it is imported once ------------------


def test_unknown_model_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trace = tmp_path / "t.txt"
    trace.write_text("agent: hello\nagent: failed\n", encoding="utf-8")
    code = main(["rr", "analyse", str(trace), "--model", "nosuchprovider-model"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "unknown model 'nosuchprovider-model'" in err


def test_missing_api_key_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    trace = tmp_path / "t.txt"
    trace.write_text("agent: hello\n", encoding="utf-8")
    code = main(["rr", "analyse", str(trace), "--model", "openai/gpt-4o-mini"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "needs OPENAI_API_KEY" in err


@pytest.mark.slow
def test_missing_api_key_in_a_fresh_process(tmp_path: Path) -> None:
    from _cli_support import who_and_when_record, write_labelled

    data = write_labelled(tmp_path / "set", [who_and_when_record(["a", "b"], "a", 0)])
    result = run_cli(
        "rr",
        "eval",
        str(data),
        "--model",
        "anthropic/claude-sonnet-4-5",
        env={"ANTHROPIC_API_KEY": None},
        cwd=tmp_path,
    )
    assert "needs ANTHROPIC_API_KEY" in _one_error_line(result)


def test_new_packages_import_without_litellm_or_logfire() -> None:
    code = (
        "import sys, ace.cli, ace.eval, ace.viewer, ace.replay\n"
        "heavy = [m for m in ('litellm', 'logfire', 'jupyter_client', 'rich') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_public_names_are_documented() -> None:
    import inspect

    import ace.cli
    import ace.eval
    import ace.replay
    import ace.viewer

    for package in (ace.cli, ace.eval, ace.replay, ace.viewer):
        assert package.__doc__
        for name in package.__all__:
            value = getattr(package, name)
            if isinstance(value, type) or inspect.isfunction(value):
                assert value.__doc__, f"{package.__name__}.{name} has no docstring"
