"""browser-use: a recorded history as a trace, learning from it, the missing extra, and a
real headless run (Debian's chromium driven by the real browser-use package, its LLM a
scripted OpenAI-compatible server on 127.0.0.1, the page served on 127.0.0.1)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from _browser_support import (
    CLOSED_URL,
    LOOPBACK_ONLY,
    PageServer,
    ScriptedBrowserLLM,
    quiet_env,
    shop_script,
)
from _roles_support import Team
from conftest import skip_missing_system_package

from ace import (
    ACEStepContext,
    BrowserUse,
    Pipeline,
    Reflector,
    Sample,
    Skillbook,
    SkillbookView,
    SkillManager,
    UsageError,
    learning_tail,
)
from ace.integrations.browser_use import BrowserExecuteStep, BrowserToTrace, history_trace

REPO = Path(__file__).resolve().parent.parent
HISTORY = REPO / "tests" / "data" / "browser_use" / "history.json"
LESSON = "Check that a URL is served before navigating to it"
SKILL = "Read the price from the page text, not from the page title"


def test_a_recorded_history_is_a_trace_of_pages_actions_results_and_errors() -> None:
    trace = history_trace(HISTORY, question="What does the widget cost?")
    assert trace.format == "browser_use" and trace.question == "What does the widget cost?"
    roles = [s.role for s in trace.steps]
    assert roles == ["assistant", "tool (error)", "assistant", "tool", "assistant", "tool"]
    first, failed, second = trace.steps[0], trace.steps[1], trace.steps[2]
    assert (
        first.content.startswith("page: chrome://") and "next goal: open the shop" in first.content
    )
    assert [(c.name, c.arguments) for c in first.tool_calls] == [
        ("navigate", {"url": CLOSED_URL, "new_tab": False})
    ]
    assert failed.agent == "navigate" and "Navigation failed" in failed.content
    assert second.content.startswith(f"page: {CLOSED_URL}")
    assert trace.steps[4].tool_calls[0].name == "done"
    assert trace.final_answer == "The widget costs 42 euros."
    assert trace.feedback == (
        f"Errors during the run:\n- step 1: Navigation failed - site unavailable: {CLOSED_URL}"
    )
    assert all(s.timestamp for s in trace.steps)
    assert "state_message" not in str(trace.raw)


def test_reading_a_history_needs_no_browser_use_and_import_ace_stays_light() -> None:
    code = (
        "import sys, ace\n"
        "from ace.integrations.browser_use import BrowserToTrace, history_trace\n"
        "import ace.runners.browser_use\n"
        f"trace = history_trace({str(HISTORY)!r})\n"
        "assert trace.final_answer == 'The widget costs 42 euros.'\n"
        "assert 'browser_use' not in sys.modules, 'browser_use was imported'\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120
    )
    assert done.returncode == 0, done.stderr


def test_learning_from_a_recorded_history(tmp_path: Path) -> None:
    team = Team(lesson=LESSON)
    skillbook = Skillbook()
    pipe = Pipeline(
        [BrowserToTrace(), *learning_tail(Reflector(team.name), SkillManager(team.name), skillbook)]
    )
    ctx = ACEStepContext(
        sample=Sample(question="What does the widget cost?", ground_truth="42 euros"),
        skillbook=SkillbookView(skillbook),
        trace=HISTORY,
    )
    (result,) = pipe.run([ctx])
    pipe.wait_for_background()
    assert result.error is None
    assert [s.content for s in skillbook.skills()] == [LESSON]
    prompt = team.requests["reflector"][0].messages[-1]["content"]
    assert "Navigation failed - site unavailable" in prompt and "42 euros" in prompt


def test_a_bad_history_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="expected an AgentHistoryList or its saved JSON"):
        history_trace({"steps": []})
    (tmp_path / "h.json").write_text("{not json")
    with pytest.raises(UsageError, match=r"h\.json: cannot read it as JSON"):
        history_trace(tmp_path / "h.json")


def test_without_the_extra_the_step_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "browser_use", None)
    with pytest.raises(UsageError, match=r"pip install 'ace-rr\[browser-use\]'"):
        BrowserExecuteStep(object())
    with pytest.raises(UsageError, match=r"pip install 'ace-rr\[browser-use\]'"):
        BrowserUse(object(), reflector=Reflector("x"), skill_manager=SkillManager("x"))


def _need_browser() -> None:
    """Skip without chromium (a failure under CI=true) or browser-use (the same)."""
    if shutil.which("chromium") is None:
        skip_missing_system_package("chromium", "the real-browser test")
    try:
        import browser_use  # noqa: F401
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true: browser-use is not installed (make test installs the extra)")
        pytest.skip("browser-use is not installed: pip install 'ace-rr[browser-use]'")


@pytest.fixture
def quiet_browser_use(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for key, value in quiet_env(tmp_path).items():
        monkeypatch.setenv(key, value)
    return tmp_path


@pytest.mark.slow
def test_a_real_headless_run_learns_and_sees_the_skills(quiet_browser_use: Path) -> None:
    _need_browser()
    from browser_use import BrowserProfile
    from browser_use.llm.openai.chat import ChatOpenAI

    team = Team(lesson=LESSON)
    skillbook = Skillbook()
    skillbook.add_skill("shopping", SKILL)
    with PageServer() as page, ScriptedBrowserLLM(shop_script(page.url + "/")) as server:
        runner = BrowserUse(
            ChatOpenAI(model="gpt-4o-mini", base_url=server.api_base, api_key="sk-test"),
            reflector=Reflector(team.name),
            skill_manager=SkillManager(team.name),
            skillbook=skillbook,
            browser_profile=BrowserProfile(
                executable_path=shutil.which("chromium"),
                headless=True,
                user_data_dir=str(quiet_browser_use / "profile"),
                args=[LOOPBACK_ONLY],
            ),
            max_steps=5,
            agent_options={"use_vision": False, "use_judge": False},
        )
        (result,) = runner.run(["What does the widget cost?"])
        page_url = page.url + "/"
    assert result.error is None
    system = server.requests[0]["messages"][0]["content"]
    assert SKILL in system
    trace = result.context.trace
    assert trace is not None and trace.format == "browser_use"
    assert trace.final_answer == "The widget costs 42 euros."
    assert [c.name for s in trace.steps for c in s.tool_calls] == ["navigate", "navigate", "done"]
    assert trace.steps[1].role == "tool (error)" and CLOSED_URL in trace.steps[1].content
    assert trace.steps[4].content.startswith(f"page: {page_url}")
    raw = result.context.metadata["integration_result"]
    assert raw.success is True and raw.final_result == "The widget costs 42 euros."
    assert [s.content for s in runner.skillbook.skills()] == [SKILL, LESSON]


def test_a_run_that_raised_is_a_failed_trace_to_learn_from() -> None:
    from ace.integrations.browser_use import BrowserUseResult

    trace = history_trace(BrowserUseResult(task="Buy a widget", error="TimeoutError: no page"))
    assert trace.question == "Buy a widget" and trace.steps == []
    assert trace.feedback == (
        "The browser run failed: TimeoutError: no page\n"
        "The browser agent stopped before finishing the task (0 step(s))."
    )


@pytest.mark.slow
def test_the_example_runs_offline() -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "examples" / "browser_use_agent.py")],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
        env={**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"},
    )
    assert done.returncode == 0, done.stderr
    assert "Learned: ['Before navigating, check the address" in done.stdout
