"""The CLI front: output paths checked before anything is paid for, rescued after, one
JSON document with --json, clean one-line errors on garbage, fast errors, named causes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _cli_support import REPO, run_cli, who_and_when_record, write_labelled

from ace.cli import main

DEMO = REPO / "ace" / "cli" / "demo_data"
SCRIPTED = f"scripted:{DEMO / 'scripted_session.json'}"
TRACE = str(DEMO / "who_and_when_hand_crafted_3.json")


def clean_failure(result: object) -> str:
    """Exit 1 or 2, no traceback, no 'internal error', and the error line."""
    code, err = result.returncode, result.stderr  # type: ignore[attr-defined]
    assert code in (1, 2), (code, err)
    assert "Traceback" not in err and "internal error" not in err, err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1, err
    return errors[0]


# -- 1. output paths ---------------------------------------------------------------------------


@pytest.mark.parametrize("option", ["--save", "--html", "--record"])
def test_a_bad_output_path_is_refused_before_the_session(option: str, tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "folder" / "out.json"
    started = time.monotonic()
    result = run_cli(
        "rr", "analyse", TRACE, "--model", SCRIPTED, option, str(missing), cwd=tmp_path
    )
    line = clean_failure(result)
    assert option in line and str(missing) in line and "does not exist" in line
    assert time.monotonic() - started < 5  # no session ran
    folder = run_cli(
        "rr", "analyse", TRACE, "--model", SCRIPTED, option, str(tmp_path), cwd=tmp_path
    )
    assert "is a directory" in clean_failure(folder)


def test_eval_outputs_are_checked_first(tmp_path: Path) -> None:
    data = write_labelled(tmp_path / "set", [who_and_when_record(["a", "b"], "a", 0)])
    file = tmp_path / "a-file"
    file.write_text("x")
    out = run_cli(
        "rr", "eval", str(data), "--reflector", "random", "--out", str(tmp_path / "x" / "r.json")
    )
    assert "--out" in clean_failure(out)
    transcripts = run_cli(
        "rr", "eval", str(data), "--reflector", "random", "--transcripts", str(file),
        "--out", str(tmp_path / "r.json"),
    )  # fmt: skip
    assert "--transcripts" in clean_failure(transcripts) and "not a folder" in transcripts.stderr


@pytest.mark.skipif(
    os.geteuid() != 0, reason="needs a folder that passes the check but fails the write"
)
def test_a_write_that_fails_after_the_session_is_rescued(tmp_path: Path) -> None:
    # As root every folder looks writable; /proc refuses the file: the session is paid for.
    target = f"/proc/ace-test-{os.getpid()}.json"
    result = run_cli("rr", "analyse", TRACE, "--model", SCRIPTED, "--save", target, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Decisive error" in result.stdout  # the result is shown anyway
    rescued = list(tmp_path.glob("ace-rescued-*-transcript.json"))
    assert len(rescued) == 1 and str(rescued[0].name) in result.stderr
    assert json.loads(rescued[0].read_text())["outcome"] == "final"


# -- 2. named causes ------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_model_server_that_is_down_is_named_as_the_cause(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = run_cli(
        "rr", "analyse", TRACE, "--model", "openai/gpt-4o-mini", "--max-llm-calls", "4",
        env={"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": f"http://127.0.0.1:{port}/v1",
             "OPENAI_API_BASE": f"http://127.0.0.1:{port}/v1"},
        cwd=tmp_path, timeout=240,
    )  # fmt: skip
    assert result.returncode == 1
    assert "cause: connection refused" in result.stdout
    line = clean_failure(result)
    assert "connection refused" in line and "synthesis call was already used" not in line


# -- 3. one JSON document -------------------------------------------------------------------


def test_json_is_the_only_thing_on_stdout(tmp_path: Path) -> None:
    result = run_cli(
        "rr", "analyse", TRACE, "--model", SCRIPTED, "--json",
        "--save", str(tmp_path / "t.json"), "--html", str(tmp_path / "t.html"),
        "--record", str(tmp_path / "c.json"), cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["attribution"]["agent"] == "WebSurfer"
    assert "transcript:" in result.stderr and "cassette:" in result.stderr
    assert "session: final" in result.stderr


# -- 4. garbage in every command --------------------------------------------------------------


def garbage(tmp_path: Path) -> dict[str, Path]:
    files = {
        "binary": tmp_path / "binary.json",
        "truncated": tmp_path / "truncated.json",
        "empty": tmp_path / "empty.json",
        "directory": tmp_path / "a-directory",
        "missing": tmp_path / "missing.json",
    }
    files["binary"].write_bytes(bytes(range(256)) * 8)
    files["truncated"].write_text('{"question": "q", "steps": [{"content": "x"', encoding="utf-8")
    files["empty"].write_text("", encoding="utf-8")
    files["directory"].mkdir()
    return files


@pytest.mark.parametrize("kind", ["binary", "truncated", "empty", "directory", "missing"])
def test_every_command_turns_garbage_into_one_clean_line(kind: str, tmp_path: Path) -> None:
    path = str(garbage(tmp_path)[kind])
    commands = [
        ["rr", "analyse", path, "--model", SCRIPTED],
        ["rr", "show", path],
        ["rr", "show", path, "--html", str(tmp_path / "out.html")],
        ["rr", "eval", path, "--reflector", "random", "--out", str(tmp_path / "r.json")],
    ]
    for argv in commands:
        result = run_cli(*argv, cwd=tmp_path)
        if kind == "directory" and argv[1] == "eval":
            assert "no labelled trace files" in clean_failure(result)
            continue
        clean_failure(result)


@pytest.mark.parametrize(
    "argv",
    [
        ["rr", "analyse", TRACE, "--model", SCRIPTED, "--max-llm-calls", "1"],
        ["rr", "analyse", TRACE, "--model", SCRIPTED, "--max-iterations", "0"],
        ["rr", "analyse", TRACE, "--model", SCRIPTED, "--max-llm-calls", "ten"],
        ["rr", "show", TRACE, "--max-chars", "-5"],
        ["rr", "eval", TRACE, "--limit", "0", "--reflector", "random"],
        ["rr", "eval", TRACE, "--tolerance", "x", "--reflector", "random"],
        ["demo", "--out", TRACE],
    ],
)
def test_out_of_range_numbers_and_bad_folders_are_clean_errors(
    argv: list[str], tmp_path: Path
) -> None:
    line = clean_failure(run_cli(*argv, cwd=tmp_path))
    if "--max-llm-calls" in argv and "1" in argv:
        assert "max_llm_calls" in line.replace("-", "_") and ">= 2" in line


# -- 5. fast errors ---------------------------------------------------------------------------


NO_LITELLM = """
import json, sys
from ace.cli import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "litellm": "litellm" in sys.modules}))
"""


@pytest.mark.parametrize(
    "argv",
    [
        ["rr", "analyse", "/no/such/trace.json", "--model", "openai/gpt-4o-mini"],
        ["rr", "analyse", TRACE, "--model", "openai/gpt-4o-mini", "--save", "/no/such/dir/t.json"],
        ["rr", "analyse", TRACE, "--model", "openai/gpt-4o-mini"],
        ["rr", "analyse", TRACE, "--model", "anthropic/claude-sonnet-4-5"],
        ["rr", "analyse", TRACE, "--model", "gpt-4o"],
    ],
)
def test_errors_that_need_no_model_never_load_litellm(argv: list[str], tmp_path: Path) -> None:
    """litellm's import (3-4 s) is what made these errors slow: they come before it. (The
    wall time, ~0.45 s here, is a benchmark figure, not asserted.)"""
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        env.pop(name, None)
    done = subprocess.run(
        [sys.executable, "-c", NO_LITELLM, *argv],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome["code"] in (1, 2) and "error:" in done.stderr
    assert outcome["litellm"] is False


def test_the_known_provider_keys_match_litellm(monkeypatch: pytest.MonkeyPatch) -> None:
    from ace.config.keys import PROVIDER_KEYS
    from ace.llm import _litellm

    litellm = _litellm.load()
    samples = {
        "openai/": "openai/gpt-4o-mini", "anthropic/": "anthropic/claude-3-5-sonnet-20240620",
        "gemini/": "gemini/gemini-1.5-pro", "groq/": "groq/llama3-8b-8192",
        "mistral/": "mistral/mistral-small-latest", "deepseek/": "deepseek/deepseek-chat",
        "openrouter/": "openrouter/openai/gpt-4o", "together_ai/": "together_ai/meta-llama/x",
        "xai/": "xai/grok-2", "cohere/": "cohere/command-r",
        "fireworks_ai/": "fireworks_ai/accounts/fireworks/models/x",
        "perplexity/": "perplexity/sonar", "cerebras/": "cerebras/llama3.1-8b",
        "nvidia_nim/": "nvidia_nim/meta/llama3-8b-instruct",
    }  # fmt: skip
    assert set(samples) == set(PROVIDER_KEYS)
    for prefix, names in PROVIDER_KEYS.items():
        for name in names:
            monkeypatch.delenv(name, raising=False)
        missing = litellm.validate_environment(model=samples[prefix])["missing_keys"]
        assert set(names) <= set(missing), (prefix, missing)


def test_an_in_process_run_gets_the_same_checks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["rr", "analyse", TRACE, "--model", SCRIPTED, "--save", str(tmp_path / "x" / "t.json")]
    )
    assert code == 2 and "--save" in capsys.readouterr().err
