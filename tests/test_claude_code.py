"""Claude Code: the signals that select sessions, the CLAUDE.md section, learning from a
project's sessions (Python and `ace claude-code learn`), and the ClaudeCode runner
driving a stand-in `claude` executable (a real subprocess writing a real session file)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _claude_code_support import (
    Session,
    clean,
    install_stand_in,
    path_with,
    stand_in_calls,
    with_correction,
    with_interrupt,
    with_tool_error,
)
from _cli_support import run_cli
from _roles_support import Team
from _service_support import FakeOpenAI, ServiceTeam, lesson, write_worker_config

from ace import ClaudeCode, Reflector, SkillManager, UsageError
from ace.integrations.claude_code import (
    BEGIN,
    END,
    find_sessions,
    learn_from_sessions,
    read_session,
    sessions_dir,
    signals,
    update_claude_md,
)
from ace.integrations.claude_code._claude_md import section_skills
from ace.traces import load_trace_file

LESSON = "Run pytest from the repository root"


def kinds(session: Session, tmp_path: Path) -> list[str]:
    return [s.kind for s in read_session(session.write(tmp_path)).signals]


# ----------------------------------------------------------------------------- signals
def test_a_failed_tool_call_is_a_signal(tmp_path: Path) -> None:
    assert kinds(with_tool_error(), tmp_path) == ["tool_error"]


def test_a_user_interrupt_is_a_signal(tmp_path: Path) -> None:
    assert kinds(with_interrupt(), tmp_path) == ["interrupt"]


def test_a_user_correction_is_a_signal(tmp_path: Path) -> None:
    (found,) = read_session(with_correction().write(tmp_path)).signals
    assert found.kind == "correction" and found.excerpt.startswith("No, don't rewrite")


@pytest.mark.parametrize(
    "text",
    [
        "Don't touch the tests",
        "that's wrong, the total is 41",
        "Actually, use the stdlib csv module",
        "Please revert that change",
        "I said only the exporter",
        "You forgot the header row",
        "stop",
    ],
)
def test_corrections_are_recognised_by_how_they_open(tmp_path: Path, text: str) -> None:
    session = Session("s").user("Fix the export").say("Changed it.").user(text)
    assert kinds(session, tmp_path) == ["correction"]


@pytest.mark.parametrize(
    "session",
    [
        clean(),  # follow-up requests are not corrections
        Session("s").user("No tests exist yet; write some"),  # the first request never is
        Session("s").user("Fix it").say("ok").user("No output was shown", isMeta=True),  # meta
        Session("s").user("Fix it").say("ok").user("Don't stop", isSidechain=True),  # subagent
    ],
)
def test_clean_sessions_have_no_signals(tmp_path: Path, session: Session) -> None:
    assert kinds(session, tmp_path) == []


def test_the_shipped_sample_session_has_every_kind_of_signal() -> None:
    sample = Path(__file__).parent / "data" / "traces" / "claude_code.jsonl"
    found = {s.kind for s in signals(load_trace_file(sample))}
    assert found == {"tool_error", "interrupt", "correction"}


# ----------------------------------------------------------------------------- sessions
def test_sessions_are_found_under_the_project_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "claude"))
    project = tmp_path / "my.project_dir"
    project.mkdir()
    folder = sessions_dir(project)
    assert folder.parent == tmp_path / "claude" / "projects"
    assert folder.name == str(project.resolve()).replace("/", "-").replace(".", "-").replace(
        "_", "-"
    )
    path = with_tool_error().write(folder)
    assert find_sessions(project) == [path]


def test_no_sessions_names_the_directory_looked_at(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "claude"))
    with pytest.raises(
        UsageError, match=r"no Claude Code sessions found: .*claude/projects/-.*does not exist"
    ):
        find_sessions(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match=r"empty holds no \*\.jsonl session files"):
        find_sessions(sessions=tmp_path / "empty")


# ----------------------------------------------------------------------------- CLAUDE.md
class _Skill:
    def __init__(self, content: str, section: str = "testing") -> None:
        self.content, self.section = content, section


def test_the_section_is_appended_replaced_in_place_and_never_touches_the_rest(
    tmp_path: Path,
) -> None:
    path = tmp_path / "CLAUDE.md"
    head, tail = "# Shop\n\nUse uv, not pip.\n", "\n## Notes\n\nKeep this.\n"
    path.write_text(head)
    diff = update_claude_md(path, [_Skill(LESSON)])
    assert "+- Run pytest from the repository root" in diff
    text = path.read_text()
    assert text.startswith(head) and BEGIN in text and text.rstrip().endswith(END)
    path.write_text(text + tail)
    update_claude_md(path, [_Skill(LESSON), _Skill("Edit only the lines asked for", "editing")])
    text = path.read_text()
    assert text.startswith(head) and text.endswith(tail)
    assert section_skills(text) == [LESSON, "Edit only the lines asked for"]
    assert (
        update_claude_md(path, [_Skill(LESSON), _Skill("Edit only the lines asked for", "editing")])
        == ""
    )
    assert (
        update_claude_md(path, [_Skill(LESSON), _Skill("run  PYTEST from the repository root.")])
        != ""
    )
    assert section_skills(path.read_text()) == [LESSON]  # the same text once


def test_broken_markers_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "CLAUDE.md"
    path.write_text(f"# Shop\n{BEGIN}\n- old\n")
    with pytest.raises(UsageError, match="fix the markers"):
        update_claude_md(path, [_Skill(LESSON)])
    assert path.read_text() == f"# Shop\n{BEGIN}\n- old\n"


# ----------------------------------------------------------------------------- learning
def project_with_sessions(tmp_path: Path) -> tuple[Path, Path]:
    project = tmp_path / "shop"
    project.mkdir()
    (project / "CLAUDE.md").write_text("# Shop\n\nUse uv.\n")
    folder = tmp_path / "sessions"
    for session in (clean(), with_tool_error(), with_correction()):
        session.write(folder)
    return project, folder


def test_learning_reflects_on_troubled_sessions_only_and_a_second_run_adds_nothing(
    tmp_path: Path,
) -> None:
    project, folder = project_with_sessions(tmp_path)
    team = Team(lesson=LESSON)
    roles = {"reflector": Reflector(team.name), "skill_manager": SkillManager(team.name)}
    report = learn_from_sessions(project, sessions=folder, **roles)
    assert {s.id for s in report.selected} == {"tool-error", "correction"}
    assert len(report.sessions) == 3 and report.added == [LESSON]
    prompts = [r.messages[-1]["content"] for r in team.requests["reflector"]]
    assert len(prompts) == 2
    assert any("tool error" in p and "no tests ran" in p for p in prompts)
    assert any("correction" in p and "don't rewrite the whole file" in p for p in prompts)
    text = (project / "CLAUDE.md").read_text()
    assert text.startswith("# Shop\n\nUse uv.\n\n" + BEGIN)
    assert section_skills(text) == [LESSON]
    assert (project / ".ace" / "claude-code-skillbook.json").exists()

    again = learn_from_sessions(project, sessions=folder, **roles)
    assert again.selected == [] and len(again.already_learned) == 2 and again.diff == ""
    assert len(team.requests["reflector"]) == 2  # no model call
    assert (project / "CLAUDE.md").read_text() == text

    forced = learn_from_sessions(project, sessions=folder, relearn=True, **roles)
    assert len(forced.selected) == 2 and forced.diff == ""
    assert section_skills((project / "CLAUDE.md").read_text()) == [LESSON]


def test_a_dry_run_shows_the_diff_and_writes_nothing(tmp_path: Path) -> None:
    project, folder = project_with_sessions(tmp_path)
    team = Team(lesson=LESSON)
    report = learn_from_sessions(
        project,
        sessions=folder,
        dry_run=True,
        reflector=Reflector(team.name),
        skill_manager=SkillManager(team.name),
    )
    assert f"+- {LESSON}" in report.diff and f"+{BEGIN}" in report.diff
    assert (project / "CLAUDE.md").read_text() == "# Shop\n\nUse uv.\n"
    assert not (project / ".ace").exists()


def test_no_sessions_raises_before_any_model_call(tmp_path: Path) -> None:
    team = Team()
    with pytest.raises(UsageError, match="no Claude Code sessions found"):
        learn_from_sessions(
            tmp_path,
            sessions=tmp_path / "nowhere",
            reflector=Reflector(team.name),
            skill_manager=SkillManager(team.name),
        )
    assert not team.requests


# ----------------------------------------------------------------------------- the CLI
@pytest.mark.slow
def test_ace_claude_code_learn_dry_run_then_write_then_nothing_new(tmp_path: Path) -> None:
    project = tmp_path / "shop"
    project.mkdir()
    (project / "CLAUDE.md").write_text("# Shop\n")
    claude_home = tmp_path / "claude"
    folder = claude_home / "projects" / str(project.resolve()).replace("/", "-")
    clean().write(folder)
    with_tool_error(lesson="LESSON-pytest").write(folder)
    team = ServiceTeam()
    with FakeOpenAI(team) as server:
        write_worker_config(tmp_path, server.api_base)
        env = {
            "CLAUDE_CONFIG_DIR": str(claude_home),
            "OPENAI_API_KEY": "sk-test",
            "ACE_MODEL": None,
        }

        dry = run_cli("claude-code", "learn", str(project), "--dry-run", cwd=tmp_path, env=env)
        assert dry.returncode == 0, dry.stderr
        assert "2 session(s)" in dry.stdout and "1 learned from" in dry.stdout
        assert f"+- {lesson('pytest')}" in dry.stdout
        assert (project / "CLAUDE.md").read_text() == "# Shop\n"

        done = run_cli("claude-code", "learn", str(project), cwd=tmp_path, env=env)
        assert done.returncode == 0, done.stderr
        assert "added 1 strategy" in done.stdout
        text = (project / "CLAUDE.md").read_text()
        assert text.startswith("# Shop\n\n" + BEGIN) and section_skills(text) == [lesson("pytest")]

        calls = team.count("reflector")
        again = run_cli("claude-code", "learn", str(project), cwd=tmp_path, env=env)
        assert again.returncode == 0, again.stderr
        assert "0 learned from, 1 learned from before" in again.stdout
        assert "added 0 strategies" in again.stdout
        assert team.count("reflector") == calls and (project / "CLAUDE.md").read_text() == text


def test_ace_claude_code_learn_without_sessions_names_the_directory(tmp_path: Path) -> None:
    result = run_cli(
        "claude-code",
        "learn",
        str(tmp_path),
        cwd=tmp_path,
        env={"CLAUDE_CONFIG_DIR": str(tmp_path / "claude"), "ACE_MODEL": None},
    )
    assert result.returncode == 2
    assert "no Claude Code sessions found" in result.stderr
    assert str(tmp_path / "claude" / "projects") in result.stderr


# ----------------------------------------------------------------------------- the runner
@pytest.fixture
def stand_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    install_stand_in(bin_dir)
    monkeypatch.setenv("PATH", path_with(bin_dir))
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "claude"))
    return bin_dir


def test_the_runner_runs_claude_and_learns_from_the_session_it_wrote(
    tmp_path: Path, stand_in: Path
) -> None:
    project = tmp_path / "shop"
    project.mkdir()
    team = Team(lesson=LESSON)
    runner = ClaudeCode(
        project, reflector=Reflector(team.name), skill_manager=SkillManager(team.name)
    )
    (result,) = runner.run(["Make the test suite pass"])
    assert result.error is None
    trace = result.context.trace
    assert trace is not None and trace.format == "claude_code"
    assert trace.question == "Make the test suite pass" and trace.final_answer == "All tests pass."
    assert trace.feedback is not None and "tool error" in trace.feedback
    raw = result.context.metadata["integration_result"]
    assert raw.session_file is not None and raw.session_file.parent == sessions_dir(project)
    assert [s.content for s in runner.skillbook.skills()] == [LESSON]
    (first,) = stand_in_calls(stand_in)
    assert first["cwd"] == str(project.resolve()) and "--append-system-prompt" not in first["args"]

    runner.run(["Add a test for the exporter"])
    second = stand_in_calls(stand_in)[1]["args"]
    assert LESSON in second[second.index("--append-system-prompt") + 1]
    assert f"- {LESSON}" in runner.update_claude_md()
    assert section_skills((project / "CLAUDE.md").read_text()) == [LESSON]


def test_a_failed_claude_run_is_learned_from(
    tmp_path: Path, stand_in: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STAND_IN_FAIL", "1")
    team = Team(lesson=LESSON)
    runner = ClaudeCode(
        tmp_path, reflector=Reflector(team.name), skill_manager=SkillManager(team.name)
    )
    (result,) = runner.run(["Fix everything"])
    trace = result.context.trace
    assert trace is not None and trace.feedback is not None
    assert trace.feedback.startswith("The Claude Code run failed: error_during_execution: gave up")
    assert len(team.requests["reflector"]) == 1


def test_the_runner_learns_from_past_sessions_too(tmp_path: Path, stand_in: Path) -> None:
    project = tmp_path / "shop"
    project.mkdir()
    with_interrupt().write(sessions_dir(project))
    team = Team(lesson=LESSON)
    runner = ClaudeCode(
        project, reflector=Reflector(team.name), skill_manager=SkillManager(team.name)
    )
    report = runner.learn_from_sessions()
    assert [s.id for s in report.selected] == ["interrupt"]
    assert [s.content for s in runner.skillbook.skills()] == [LESSON]
    assert section_skills((project / "CLAUDE.md").read_text()) == [LESSON]


def test_a_missing_claude_executable_raises_before_any_model_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    team = Team()
    runner = ClaudeCode(
        tmp_path, reflector=Reflector(team.name), skill_manager=SkillManager(team.name)
    )
    with pytest.raises(
        UsageError, match="no 'claude' executable found on PATH; install Claude Code"
    ):
        runner.run(["anything"])
    assert not team.requests


def test_roles_are_required_to_learn(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="missing reflector, skill_manager"):
        ClaudeCode(tmp_path)
    assert len(ClaudeCode(tmp_path, is_learning=False).pipeline.steps) == 2


def test_a_trace_of_the_streamed_events_when_no_session_file_is_found(tmp_path: Path) -> None:
    from ace.environments import Sample
    from ace.integrations.claude_code import ClaudeCodeResult, ClaudeCodeToTrace
    from ace.integrations.claude_code._execute import _read_events
    from ace.pipeline import ACEStepContext

    result = ClaudeCodeResult(task="List files", working_dir=tmp_path)
    events = [
        {"type": "system", "subtype": "init", "session_id": "s1"},
        {"type": "user", "message": {"role": "user", "content": "List files"}, "session_id": "s1"},
        {
            "type": "assistant",
            "message": {"role": "assistant", "content": [{"type": "text", "text": "a.py"}]},
            "session_id": "s1",
        },
        {
            "type": "result",
            "subtype": "success",
            "is_error": False,
            "result": "a.py",
            "session_id": "s1",
        },
    ]
    _read_events(result, "\n".join(json.dumps(e) for e in events) + "\nnot json\n")
    ctx = ACEStepContext(sample=Sample(question="List files"), trace=result)
    trace = ClaudeCodeToTrace()(ctx).trace
    assert trace.format == "claude_code" and [s.content for s in trace.steps] == [
        "List files",
        "a.py",
    ]
    assert trace.final_answer == "a.py" and trace.feedback is None


@pytest.mark.slow
def test_the_example_runs_offline() -> None:
    import os
    import subprocess
    import sys

    repo = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, str(repo / "examples" / "claude_code_learn.py")],
        capture_output=True,
        text=True,
        cwd=repo,
        timeout=300,
        env={**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"},
    )
    assert done.returncode == 0, done.stderr
    assert "step 2, tool_error: Bash: no tests ran" in done.stdout
    assert f"\n{BEGIN}\n## Learned strategies" in done.stdout


def test_a_project_without_troubled_sessions_keeps_its_claude_md(tmp_path: Path) -> None:
    clean().write(tmp_path / "sessions")
    (tmp_path / "CLAUDE.md").write_text("# Shop\n")
    team = Team()
    report = learn_from_sessions(
        tmp_path,
        sessions=tmp_path / "sessions",
        reflector=Reflector(team.name),
        skill_manager=SkillManager(team.name),
    )
    assert report.selected == [] and report.diff == "" and not team.requests
    assert (tmp_path / "CLAUDE.md").read_text() == "# Shop\n"


def test_strategies_already_in_the_section_are_kept_without_a_skillbook(tmp_path: Path) -> None:
    with_interrupt().write(tmp_path / "sessions")
    update_claude_md(tmp_path / "CLAUDE.md", [_Skill("Ask before a large refactor", "scope")])
    team = Team(lesson=LESSON)
    learn_from_sessions(
        tmp_path,
        sessions=tmp_path / "sessions",
        reflector=Reflector(team.name),
        skill_manager=SkillManager(team.name),
    )
    text = (tmp_path / "CLAUDE.md").read_text()
    assert section_skills(text) == ["Ask before a large refactor", LESSON]
    assert "### scope\n\n- Ask before a large refactor" in text
