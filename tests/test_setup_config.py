"""Compatibility 3: ``ace setup / models / validate / config``, ``ace.toml`` + ``.env``,
per-role models and one precedence (flags > environment > .env > ace.toml > defaults).

Every CLI call runs in this process (``ace.cli._main.run``) so scripted models answer;
HOME and the working directory are temporary, and the tripwire fails any request to a
real provider.
"""

from __future__ import annotations

import io
import json
import os
import stat
import sys
from pathlib import Path

import pytest

from ace import ACELiteLLM, RRStep
from ace.cli._main import run as cli_run
from ace.config import (
    ACEModelConfig,
    ModelConfig,
    load_config,
    read_dotenv,
    resolve_config,
    save_config,
    write_dotenv,
)
from ace.errors import ConfigurationError, LLMError
from ace.testing import Fail, FunctionModel, RecordedRequest, ScriptedModel

SECRET = "sk-test-DO-NOT-PRINT-7f3a9c"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home, proj = tmp_path / "home", tmp_path / "proj"
    home.mkdir()
    proj.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(proj)
    for name in list(os.environ):
        if name.startswith("ACE_") or name.endswith("_API_KEY"):
            monkeypatch.delenv(name)
    return proj


def cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *argv: str, stdin: str = ""
) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = cli_run(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def ok_model() -> FunctionModel:
    return FunctionModel(lambda request: "OK")


def test_models_lists_the_bundled_price_map(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(monkeypatch, capsys, "models", "gpt-4o-mini", "--provider", "openai")
    assert code == 0
    row = next(line for line in out.splitlines() if line.startswith("gpt-4o-mini "))
    assert "openai" in row and "128,000" in row and "0.15" in row and "0.60" in row
    code, out, _ = cli(monkeypatch, capsys, "models", "claude", "--json", "--limit", "3")
    rows = json.loads(out)
    assert code == 0 and len(rows) == 3 and all("claude" in r["model"] for r in rows)
    assert {"context", "input_per_million", "output_per_million", "provider"} <= set(rows[0])
    code, _, err = cli(monkeypatch, capsys, "models", "no-such-model-xyz")
    assert code == 2 and "no model matches" in err


def test_validate_answers_latency_or_the_cause(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    good = ScriptedModel(["OK"])
    code, out, _ = cli(monkeypatch, capsys, "validate", good.name)
    assert code == 0 and "OK in" in out and "'OK'" in out
    assert len(good.requests) == 1 and good.requests[0].max_tokens == 8
    bad = ScriptedModel([Fail("auth", "invalid api key")])
    code, out, _ = cli(monkeypatch, capsys, "validate", bad.name)
    assert code == 1 and "failed" in out and "invalid api key" in out
    code, _, err = cli(monkeypatch, capsys, "validate", "openai/gpt-4o-mini")
    assert code == 2 and "needs OPENAI_API_KEY" in err  # before any call


def test_setup_non_interactive_writes_ace_toml(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    main, cheap = ok_model(), ok_model()
    code, _, err = cli(
        monkeypatch,
        capsys,
        "setup",
        "--non-interactive",
        "--model",
        main.name,
        "--subagent-model",
        cheap.name,
    )
    assert code == 0, err
    config = load_config(project / "ace.toml")
    assert config.default.model == main.name and config.subagent is not None
    assert config.subagent.model == cheap.name and config.agent is None
    assert len(main.requests) == 1 and len(cheap.requests) == 1  # one check per distinct model
    assert not (project / ".env").exists()


def test_setup_validation_failure_writes_nothing(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = ScriptedModel([Fail("auth", "invalid api key")])
    code, _, err = cli(monkeypatch, capsys, "setup", "--non-interactive", "--model", bad.name)
    assert code == 1 and "nothing written" in err and "invalid api key" in err
    assert not (project / "ace.toml").exists()


def test_setup_keys_go_to_dotenv_0600_and_are_never_shown(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(
        monkeypatch, capsys,
        "setup", "--non-interactive", "--no-validate", "--model", "openai/gpt-4o-mini", "--key-stdin",
        stdin=f"OPENAI_API_KEY={SECRET}\n",
    )  # fmt: skip
    assert code == 0, err
    env_file = project / ".env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert read_dotenv(env_file) == {"OPENAI_API_KEY": SECRET}
    assert SECRET not in out + err and SECRET not in (project / "ace.toml").read_text()
    code, out, err = cli(monkeypatch, capsys, "config")
    assert code == 0 and "OPENAI_API_KEY: set (.env" in out and SECRET not in out + err


def test_setup_interactive_asks_each_role_and_the_key(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    answers = "\n".join(["openai/gpt-4o", "", "openai/gpt-4o-mini", "", "", SECRET]) + "\n"
    code, out, err = cli(monkeypatch, capsys, "setup", "--no-validate", stdin=answers)
    assert code == 0, err
    assert "Agent model" in err and "RR sub-agent model" in err and "input hidden" in err
    assert SECRET not in out + err
    config = load_config(project / "ace.toml")
    assert config.default.model == "openai/gpt-4o" and config.agent is None
    assert config.for_role("reflector").model == "openai/gpt-4o-mini"
    assert config.for_role("subagent").model == "openai/gpt-4o-mini"  # follows the reflector
    assert read_dotenv(project / ".env") == {"OPENAI_API_KEY": SECRET}


def test_one_precedence_with_sources(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    save_config(
        ACEModelConfig(
            ModelConfig("toml-default"), agent=ModelConfig("toml-agent", temperature=0.3)
        ),
        project,
    )
    (project / "sub").mkdir()
    monkeypatch.chdir(project / "sub")  # found in a parent directory

    def sources() -> dict[str, tuple[str, str]]:
        code, out, _ = cli(monkeypatch, capsys, "config", "--json", *flags)
        assert code == 0
        return {
            k: (v["model"], v["source"].split(" (")[0])
            for k, v in json.loads(out)["models"].items()
        }

    flags: list[str] = []
    got = sources()
    assert got["default"] == ("toml-default", "ace.toml [default]")
    assert got["agent"] == ("toml-agent", "ace.toml [agent]")
    assert got["skill_manager"] == ("toml-default", "same as default")
    write_dotenv(project / ".env", {"ACE_AGENT_MODEL": "dotenv-agent"})
    assert sources()["agent"] == ("dotenv-agent", ".env ACE_AGENT_MODEL")
    monkeypatch.setenv("ACE_AGENT_MODEL", "env-agent")
    assert sources()["agent"] == ("env-agent", "environment ACE_AGENT_MODEL")
    flags = ["--agent-model", "flag-agent"]
    assert sources()["agent"] == ("flag-agent", "flag --agent-model")
    resolved = resolve_config({"agent": "flag-agent"})
    assert resolved.config.for_role("agent").temperature == 0.3  # settings stay with the role


def test_bad_files_are_clear_errors(project: Path) -> None:
    (project / "ace.toml").write_text('[default]\nmodel = "m"\ntemprature = 0.2\n')
    with pytest.raises(ConfigurationError, match=r"unknown key.*temprature"):
        resolve_config()
    (project / "ace.toml").write_text("[default\n")
    with pytest.raises(ConfigurationError, match="not valid TOML"):
        resolve_config()
    (project / "ace.toml").write_text('[planner]\nmodel = "m"\n')
    with pytest.raises(ConfigurationError, match=r"unknown table.*planner"):
        resolve_config()


def test_from_config_and_from_setup_use_a_model_per_role(project: Path) -> None:
    def role_model(answer: str) -> FunctionModel:
        def reply(request: RecordedRequest) -> str:
            if "You are solving a task" in request.messages[-1]["content"]:
                return json.dumps({"reasoning": "r", "final_answer": answer, "skill_ids": []})
            return "OK"

        return FunctionModel(reply)

    agent_model, other = role_model("from the agent model"), role_model("wrong model")
    save_config(
        ACEModelConfig(ModelConfig(other.name), agent=ModelConfig(agent_model.name, max_tokens=77)),
        project,
    )
    runner = ACELiteLLM.from_setup(validate=True)
    assert runner.ask("q?") == "from the agent model"
    assert agent_model.requests[-1].max_tokens == 77
    assert runner.reflector.client.model == other.name  # type: ignore[attr-defined]
    recursive = ACELiteLLM.from_config(
        ACEModelConfig(ModelConfig(other.name), subagent=ModelConfig(agent_model.name)),
        reflector_mode="recursive",
    )
    assert isinstance(recursive.reflector, RRStep)
    assert recursive.reflector.sub.model == agent_model.name
    failing = ScriptedModel([Fail("auth", "invalid api key")])
    with pytest.raises(ConnectionError, match="invalid api key") as raised:
        ACELiteLLM.from_config(ACEModelConfig(ModelConfig(failing.name)), validate=True)
    assert isinstance(raised.value, LLMError)
    (project / "ace.toml").unlink()
    with pytest.raises(FileNotFoundError, match="ace setup"):
        ACELiteLLM.from_setup()


def test_rr_analyse_takes_its_models_from_the_configuration(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from ace.testing import final_code, reflection
    from ace.testing.rr import code_reply

    final = code_reply(final_code(reflection(key_insight="configured model ran")))
    rr_model = FunctionModel(lambda request: final)
    save_config(
        ACEModelConfig(ModelConfig("openai/unused"), reflector=ModelConfig(rr_model.name)), project
    )
    trace = project / "trace.json"
    trace.write_text(
        json.dumps({"question": "2+2?", "reasoning": "5", "answer": "5", "feedback": "wrong"})
    )
    code, out, err = cli(monkeypatch, capsys, "rr", "analyse", str(trace))
    assert code == 0, err
    assert "configured model ran" in out and len(rr_model.requests) >= 1


def test_config_command_in_its_own_process(tmp_path: Path) -> None:
    """The real entry point: the environment names the default model, nothing else."""
    from _cli_support import run_cli

    out = run_cli(
        "config",
        "--json",
        cwd=tmp_path,
        env={"ACE_MODEL": "anthropic/claude-x", "HOME": str(tmp_path)},
    )
    assert out.returncode == 0, out.stderr
    models = json.loads(out.stdout)["models"]
    assert models["default"] == {"model": "anthropic/claude-x", "source": "environment ACE_MODEL"}
    assert models["agent"]["source"] == "same as default"
    assert json.loads(out.stdout)["keys"]["ANTHROPIC_API_KEY"]["set"] is False
