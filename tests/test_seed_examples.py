"""Every Python example of seeds 000, 001 and 003, run as written.

Each example is kept below exactly as the seed prints it (the seeds lost their
indentation when they were extracted; the examples here have it back, and
``test_examples_are_the_seeds_own`` checks every line against the seed text). The model
strings ``"gpt-4o-mini"`` / ``"gpt-4o"`` are swapped for a scripted model that answers
through the real litellm path, and the names an example assumes (``skillbook``,
``my_agent``, ``samples``, ...) are made by the test before it runs.

The Recursive Reflector examples start a real sandboxed kernel. 003 "Mixing
Integrations" drives the real browser-use with Debian's chromium, headless; its
``browser_llm`` is browser-use's own OpenAI client pointed at a scripted server on
127.0.0.1 (``_browser_support``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from _roles_support import Team

from ace import (
    ACEStepContext,
    Agent,
    AgentOutput,
    EnvironmentResult,
    Reflector,
    ReflectorMode,
    Sample,
    SimpleEnvironment,
    Skillbook,
    SkillbookView,
    SkillManager,
    SkillManagerOutput,
)
from ace.dedup import DeduplicationManager

SEEDS = Path(__file__).resolve().parents[2] / "shared" / "seeds"


@dataclass(frozen=True)
class Example:
    seed: str
    code: str
    replaced: str | None = None


EXAMPLES: dict[str, Example] = {
    "000 quick start": Example(
        "000",
        """
from ace import ACELiteLLM
agent = ACELiteLLM(model="gpt-4o-mini")
# First attempt \u03b2 the agent may hallucinate
answer = agent.ask("Is there a seahorse emoji?")
# Feed a correction \u03b2 ACE extracts a strategy and updates the Skillbook
agent.learn_from_feedback("There is no seahorse emoji in Unicode.")
# Subsequent calls benefit from the learned strategy
answer = agent.ask("Is there a seahorse emoji?")
# Inspect what the agent has learned
print(agent.get_strategies())
""",
    ),
    "000 existing logs": Example(
        "000",
        """
from ace import ACELiteLLM
agent = ACELiteLLM(model="gpt-4o-mini")
agent.learn_from_traces(your_existing_traces)
print(agent.get_strategies())
""",
    ),
    "000 pipeline": Example(
        "000",
        """
from ace import Pipeline, AgentStep, EvaluateStep, learning_tail
steps = [AgentStep(agent, skillbook), EvaluateStep(env)] + learning_tail(reflector, skill_manager, skillbook)
pipeline = Pipeline(steps)
""",
    ),
    "001 agent": Example(
        "001",
        """
from ace import Agent
agent = Agent("gpt-4o-mini")
output = agent.generate(
    question="What is 2+2?",
    context="Show your work",
    skillbook=skillbook,
    reflection=None, # Optional: reflection from a previous attempt
)
""",
    ),
    "001 reflector": Example(
        "001",
        """
from ace import Reflector
reflector = Reflector(llm)
reflection = reflector.reflect(
    question="What is 2+2?",
    agent_output=output,
    skillbook=skillbook,
    ground_truth="4",
    feedback="Correct!",
)
""",
    ),
    "001 skill manager": Example(
        "001",
        """
from ace import SkillManager
skill_manager = SkillManager(llm)
sm_output = skill_manager.update_skills(
    reflections=(reflection,),
    skillbook=skillbook,
    question_context="Math problems",
    progress="3/5 correct",
)
# Apply the updates
skillbook.apply_update(sm_output.update)
""",
    ),
    "001 shared llm": Example(
        "001",
        """
from ace import Agent, Reflector, SkillManager
agent = Agent("gpt-4o-mini")
reflector = Reflector("gpt-4o-mini")
skill_manager = SkillManager("gpt-4o-mini")
""",
    ),
    "001 cheaper learning roles": Example(
        "001",
        """
agent = Agent("gpt-4o")
reflector = Reflector("gpt-4o-mini")
skill_manager = SkillManager("gpt-4o-mini")
""",
    ),
    "003 composing from steps": Example(
        "003",
        """
from ace import (
    # Pipeline engine
    Pipeline, Branch, MergeStrategy, StepProtocol, SampleResult,
    # ACE context
    ACEStepContext, SkillbookView,
    # Roles
    Agent, Reflector, SkillManager,
    # Steps
    AgentStep, EvaluateStep, learning_tail,
    # Types
    Sample, Skillbook, SimpleEnvironment,
)
skillbook = Skillbook()
pipe = Pipeline([
    AgentStep(Agent("gpt-4o-mini")),
    EvaluateStep(SimpleEnvironment()),
    *learning_tail(Reflector("gpt-4o-mini"), SkillManager("gpt-4o-mini"), skillbook),
])
""",
    ),
    "003 learning_tail": Example(
        "003",
        """
from ace import learning_tail, Reflector, SkillManager, Skillbook
steps = learning_tail(
    Reflector(llm),
    SkillManager(llm),
    Skillbook(),
    dedup_manager=my_dedup_manager, # optional
    checkpoint_dir="/tmp/checkpoints", # optional
)
# Returns: [ReflectStep, UpdateStep, ApplyStep,
# DeduplicateStep, CheckpointStep]
""",
    ),
    "003 custom step": Example(
        "003",
        """
from ace import ACEStepContext
class MyLoggingStep:
    requires = frozenset({"agent_output"})
    provides = frozenset()
    def __call__(self, ctx: ACEStepContext) -> ACEStepContext:
        print(f"Agent answered: {ctx.agent_output.final_answer}")
        return ctx
""",
    ),
    "003 build_steps": Example(
        "003",
        """
from ace import ACE, Pipeline, ACERunner, Skillbook
# Get the default steps
steps = ACE.build_steps(
    agent=my_agent,
    reflector=my_reflector,
    skill_manager=my_skill_manager,
    environment=my_env,
)
# Insert a custom step after EvaluateStep
steps.insert(2, MyLoggingStep())
# Build your own pipeline and runner
skillbook = Skillbook()
pipe = Pipeline(steps)
runner = ACERunner(pipeline=pipe, skillbook=skillbook)
results = runner.run(samples)
""",
    ),
    "003 mixing integrations": Example(
        "003",
        """
from ace import Pipeline, learning_tail, Reflector, SkillManager, Skillbook
from ace.integrations.browser_use import BrowserExecuteStep, BrowserToTrace
skillbook = Skillbook()
pipe = Pipeline([
    BrowserExecuteStep(browser_llm),
    BrowserToTrace(),
    MyCustomFilterStep(), # your custom step
    *learning_tail(Reflector(llm), SkillManager(llm), skillbook),
])
""",
    ),
    "003 with a runner": Example(
        "003",
        """
from ace import ACERunner, Sample, Skillbook
runner = ACERunner(pipeline=pipe, skillbook=skillbook)
results = runner.run(
    [Sample(question="What is 2+2?", ground_truth="4")],
    epochs=1,
)
""",
    ),
    "003 directly": Example(
        "003",
        """
from ace import Pipeline, ACEStepContext, SkillbookView, Sample, Skillbook
ctx = ACEStepContext(
    sample=Sample(question="What is 2+2?", ground_truth="4"),
    skillbook=SkillbookView(skillbook),
)
results = pipe.run([ctx])
pipe.wait_for_background() # wait for async learning steps
""",
    ),
    "003 branching": Example(
        "003",
        """
from ace import Pipeline, Branch, MergeStrategy
pipe = Pipeline([
    AgentStep(agent),
    Branch(
        [EvaluateStep(env_a), EvaluateStep(env_b)],
        merge=MergeStrategy.LAST,
    ),
    *learning_tail(reflector, skill_manager, skillbook),
])
""",
    ),
    "003 rr drop-in": Example(
        "003",
        """
from ace import ACELiteLLM
from ace.rr import RRStep, RRConfig
ace = ACELiteLLM.from_model("gpt-4o-mini", reflector=RRStep("gpt-4o-mini", config=RRConfig(max_llm_calls=10)))
""",
    ),
    "003 rr as a step": Example(
        "003",
        """
from ace import Pipeline, learning_tail, SkillManager, Skillbook
from ace.rr import RRStep, RRConfig
skillbook = Skillbook()
rr = RRStep("gpt-4o-mini", config=RRConfig(max_llm_calls=15))
pipe = Pipeline([
    MyExecuteStep(),
    MyToTrace(),
    rr, # replaces ReflectStep \u2014 provides "reflections"
    *learning_tail(None, SkillManager("gpt-4o-mini"), skillbook)[1:], # skip ReflectStep
])
""",
    ),
    "003 rr sub-agent model": Example(
        "003",
        """
from ace.rr import RRStep, RRConfig
rr = RRStep(
    "gpt-4o",
    config=RRConfig(max_llm_calls=40, subagent_model="gpt-4o-mini"),
)
""",
    ),
}


def run(name: str, team: Team, **namespace: Any) -> dict[str, Any]:
    """Run example ``name`` with the model strings swapped for ``team``'s scripted model."""
    code = EXAMPLES[name].code
    for literal in ('"gpt-4o-mini"', '"gpt-4o"'):
        code = code.replace(literal, repr(team.name))
    namespace.setdefault("llm", team.name)
    exec(compile(code, f"<seed example {name}>", "exec"), namespace)
    return namespace


class MyExecuteStep:
    """An execute step of the test's own: answers the sample with a fixed output."""

    requires = frozenset({"sample"})
    provides = frozenset({"agent_output"})

    def __call__(self, ctx: ACEStepContext) -> ACEStepContext:
        return ctx.replace(agent_output=AgentOutput(reasoning="added", final_answer="5"))


class MyToTrace:
    """Turns the attempt into a trace dict, as an integration's to-trace step would."""

    requires = frozenset({"sample", "agent_output"})
    provides = frozenset({"trace"})

    def __call__(self, ctx: ACEStepContext) -> ACEStepContext:
        assert ctx.sample is not None and ctx.agent_output is not None
        return ctx.replace(
            trace={
                "question": ctx.sample.question,
                "steps": [{"role": "assistant", "content": "2 + 2 = 5"}],
                "answer": ctx.agent_output.final_answer,
                "feedback": "wrong: 2 + 2 = 4",
            }
        )


class MyCustomFilterStep:
    """A pass-through custom step."""

    requires = frozenset({"trace"})
    provides: frozenset[str] = frozenset()

    def __call__(self, ctx: ACEStepContext) -> ACEStepContext:
        return ctx


@pytest.fixture
def team() -> Team:
    return Team()


def _seed_lines(seed: str) -> set[str]:
    (path,) = SEEDS.glob(f"{seed}_*.txt")
    return {line.strip() for line in path.read_text(encoding="utf-8").splitlines()}


def test_examples_are_the_seeds_own() -> None:
    for name, example in EXAMPLES.items():
        if example.replaced:
            continue
        seed = _seed_lines(example.seed)
        # an example's last line may run into the prose after it ("...())No fine-tuning")
        missing = [
            line.strip()
            for line in example.code.splitlines()
            if line.strip() and not any(s.startswith(line.strip()) for s in seed)
        ]
        assert not missing, f"{name}: not in seed {example.seed}: {missing}"


def test_000_quick_start_learns_from_feedback(
    team: Team, capsys: pytest.CaptureFixture[str]
) -> None:
    ns = run("000 quick start", team)
    assert ns["answer"] == "4"
    assert team.lesson in capsys.readouterr().out
    assert len(team.requests["agent"]) == 2 and len(team.requests["reflector"]) == 1
    # the second answer was given with the learned skill in the prompt
    assert team.lesson in team.requests["agent"][1].messages[-1]["content"]


def test_000_existing_logs(team: Team, capsys: pytest.CaptureFixture[str]) -> None:
    traces = [
        {"question": "What is 2+2?", "reasoning": "2+2=5", "answer": "5", "feedback": "wrong"},
        {"question": "What is 3+3?", "reasoning": "3+3=6", "answer": "6", "feedback": "right"},
    ]
    run("000 existing logs", team, your_existing_traces=traces)
    assert team.lesson in capsys.readouterr().out
    assert len(team.requests["reflector"]) == 2


def test_000_pipeline_runs(team: Team) -> None:
    from ace import ACERunner

    skillbook = Skillbook()
    ns = run(
        "000 pipeline",
        team,
        agent=Agent(team.name),
        skillbook=skillbook,
        env=SimpleEnvironment(),
        reflector=Reflector(team.name),
        skill_manager=SkillManager(team.name),
    )
    (result,) = ACERunner(pipeline=ns["pipeline"], skillbook=skillbook).run(
        [Sample(question="What is 2+2?", ground_truth="4")]
    )
    assert result.ok and result.output is not None
    assert [s.content for s in skillbook.skills()] == [team.lesson]


def test_001_roles_one_by_one(team: Team) -> None:
    skillbook = Skillbook()
    ns = run("001 agent", team, skillbook=skillbook)
    assert isinstance(ns["output"], AgentOutput) and ns["output"].final_answer == "4"
    ns = run("001 reflector", team, **ns)
    assert ns["reflection"].key_insight == team.lesson
    ns = run("001 skill manager", team, **ns)
    assert [s.content for s in skillbook.skills()] == [team.lesson]
    sm_output = ns["sm_output"]
    assert isinstance(sm_output, SkillManagerOutput) and sm_output.consolidation_ops == []
    assert {m.name for m in ReflectorMode} >= {"SIMPLE", "RECURSIVE"}


def test_001_shared_and_cheaper_models(team: Team) -> None:
    ns = run("001 shared llm", team)
    ns = run(
        "001 cheaper learning roles",
        team,
        Agent=Agent,
        Reflector=Reflector,
        SkillManager=SkillManager,
    )
    output = ns["agent"].generate(question="What is 2+2?", context="", skillbook=Skillbook())
    assert output.final_answer == "4"


def test_003_composing_from_steps(team: Team) -> None:
    ns = run("003 composing from steps", team)
    ns = run("003 directly", team, **ns)
    (result,) = ns["results"]
    assert result.ok and [s.content for s in ns["skillbook"].skills()] == [team.lesson]


def test_003_learning_tail_returns_the_documented_steps(team: Team) -> None:
    ns = run("003 learning_tail", team, my_dedup_manager=DeduplicationManager())
    names = [type(step).__name__ for step in ns["steps"]]
    assert names == ["ReflectStep", "UpdateStep", "ApplyStep", "DeduplicateStep", "CheckpointStep"]


def test_003_build_steps_with_a_custom_step(team: Team, capsys: pytest.CaptureFixture[str]) -> None:
    ns = run("003 custom step", team)
    ns = run(
        "003 build_steps",
        team,
        MyLoggingStep=ns["MyLoggingStep"],
        my_agent=Agent(team.name),
        my_reflector=Reflector(team.name),
        my_skill_manager=SkillManager(team.name),
        my_env=SimpleEnvironment(),
        samples=[Sample(question="What is 2+2?", ground_truth="4")],
    )
    (result,) = ns["results"]
    assert result.ok
    assert "Agent answered: 4" in capsys.readouterr().out
    # the learning steps write into the skillbook build_steps made (pass skillbook= to share)
    apply_step = next(s for s in ns["steps"] if type(s).__name__ == "ApplyStep")
    assert [s.content for s in apply_step.skillbook.skills()] == [team.lesson]


@pytest.mark.slow
def test_003_mixing_integrations_with_a_real_browser(
    team: Team, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util
    import os
    import shutil

    from _browser_support import ScriptedBrowserLLM, loopback_chromium, quiet_env, turn
    from conftest import skip_missing_system_package

    chromium = shutil.which("chromium")
    if chromium is None:
        skip_missing_system_package("chromium", "browser-use drives it")
    if importlib.util.find_spec("browser_use") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true: browser-use is not installed (make test installs the extra)")
        pytest.skip("browser-use is not installed: pip install 'ace-rr[browser-use]'")
    for key, value in quiet_env(tmp_path).items():
        monkeypatch.setenv(key, value)
    # the example builds the default profile: browser-use finds this launcher first
    browsers = loopback_chromium(tmp_path, chromium)
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(browsers))
    from browser_use.llm.openai.chat import ChatOpenAI

    answer = turn("answer", {"done": {"text": "4", "success": True}})
    with ScriptedBrowserLLM([answer]) as server:
        browser_llm = ChatOpenAI(model="gpt-4o-mini", base_url=server.api_base, api_key="sk-t")
        ns = run(
            "003 mixing integrations",
            team,
            browser_llm=browser_llm,
            MyCustomFilterStep=MyCustomFilterStep,
        )
        ns = run("003 with a runner", team, **ns)
    (result,) = ns["results"]
    assert (browsers / "launched").exists()
    assert result.ok and result.context.trace.final_answer == "4"
    assert "What is 2+2?" in server.requests[0]["messages"][-1]["content"]
    assert [s.content for s in ns["skillbook"].skills()] == [team.lesson]


def test_003_branching_takes_the_last_branch(team: Team) -> None:
    class Verdict:
        def __init__(self, text: str) -> None:
            self.text = text

        def evaluate(self, sample: Sample, agent_output: AgentOutput) -> EnvironmentResult:
            return EnvironmentResult(feedback=self.text)

    from ace import AgentStep, EvaluateStep, learning_tail

    skillbook = Skillbook()
    ns = run(
        "003 branching",
        team,
        AgentStep=AgentStep,
        EvaluateStep=EvaluateStep,
        learning_tail=learning_tail,
        agent=Agent(team.name),
        env_a=Verdict("from a"),
        env_b=Verdict("from b"),
        reflector=Reflector(team.name),
        skill_manager=SkillManager(team.name),
        skillbook=skillbook,
    )
    ns = run("003 directly", team, **ns)
    (result,) = ns["results"]
    assert result.ok and result.context.trace["feedback"] == "from b"
    assert "from b" in team.requests["reflector"][0].messages[-1]["content"]


def test_003_rr_as_a_drop_in_reflector(team: Team) -> None:
    from ace.rr import RRStep

    ns = run("003 rr drop-in", team)
    runner = ns["ace"]
    assert isinstance(runner.reflector, RRStep)
    runner.ask("What is 2+2?")
    assert runner.learn_from_feedback("Correct!", ground_truth="4")
    assert [s.content for s in runner.skillbook.skills()] == [team.lesson]
    assert team.requests["rr"]  # the Recursive Reflector ran, in a real kernel


def test_003_rr_as_a_pipeline_step(team: Team) -> None:
    ns = run("003 rr as a step", team, MyExecuteStep=MyExecuteStep, MyToTrace=MyToTrace)
    ctx = ACEStepContext(
        sample=Sample(question="What is 2+2?", ground_truth="4"),
        skillbook=SkillbookView(ns["skillbook"]),
    )
    (result,) = ns["pipe"].run([ctx])
    assert result.ok, result.error
    assert [s.content for s in ns["skillbook"].skills()] == [team.lesson]
    rr_prompt = "\n".join(m["content"] for m in team.requests["rr"][0].messages)
    assert "2 + 2 = 5" in rr_prompt or "wrong: 2 + 2 = 4" in rr_prompt


def test_003_rr_with_a_sub_agent_model(team: Team) -> None:
    ns = run("003 rr sub-agent model", team)
    rr = ns["rr"]
    assert rr.config.max_llm_calls == 40 and rr.sub.model == rr.main.model == team.name
