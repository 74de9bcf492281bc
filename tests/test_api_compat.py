"""Compatibility 2: the established API surface (names, keyword arguments, results)
and our own documented names, which keep their signatures."""

from __future__ import annotations

import importlib
import inspect
import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from _roles_support import Team

import ace
from ace import (
    ACE,
    ACELiteLLM,
    ACERunner,
    ACEStepContext,
    Agent,
    AgentStep,
    AttachInsightSourcesStep,
    Branch,
    BranchError,
    CancellationToken,
    CheckpointStep,
    DeduplicationConfig,
    EvaluateStep,
    ExportSkillbookMarkdownStep,
    LoadTracesStep,
    MergeStrategy,
    ObservabilityStep,
    PersistStep,
    Pipeline,
    PipelineCancelled,
    PipelineConfigError,
    PipelineContractError,
    PipelineOrderError,
    Reflector,
    ReflectorMode,
    RRConfig,
    RRStep,
    Sample,
    SimpleEnvironment,
    Skillbook,
    SkillbookView,
    SkillManager,
    StepContext,
    TraceAnalyser,
    cancel_token_var,
    learning_tail,
)
from ace.errors import RunCancelled, UsageError

SNAPSHOT = Path(__file__).parent / "data" / "public_api_0_1.json"
"""Every public name of release 0.1 with its call signature (made by inspecting 0.1)."""

REORDERED = {
    "ace.CheckpointStep": "(directory, skillbook) as established; (skillbook, directory) still accepted",
    "ace.steps.CheckpointStep": "same class as ace.CheckpointStep",
    "ace.ExportSkillbookMarkdownStep": "(path, skillbook) as established; the old order still accepted",
    "ace.steps.ExportSkillbookMarkdownStep": "same class as ace.ExportSkillbookMarkdownStep",
}
"""Positional orders changed on purpose; ``test_both_argument_orders`` covers them."""


def _resolve(dotted: str) -> Any:
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


def _compatible(old: list[dict[str, Any]], new: inspect.Signature, positional: bool) -> list[str]:
    problems = []
    params = list(new.parameters.values())
    # a method that became callable on the class too (build_steps) is compared unbound
    if (
        old
        and old[0]["name"] in ("self", "cls")
        and (not params or params[0].name != old[0]["name"])
    ):
        old = old[1:]
    by_name = {p.name: p for p in params}
    has_kwargs = any(p.kind is p.VAR_KEYWORD for p in params)
    old_positional = [p for p in old if p["kind"] in ("POSITIONAL_ONLY", "POSITIONAL_OR_KEYWORD")]
    new_positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    for entry in old:
        name, kind = entry["name"], entry["kind"]
        if kind in ("VAR_POSITIONAL", "VAR_KEYWORD"):
            if not any(p.kind.name == kind for p in params):
                problems.append(f"lost *{name}")
            continue
        found = by_name.get(name)
        if found is None:
            if not (has_kwargs and kind == "KEYWORD_ONLY"):
                problems.append(f"lost parameter {name!r}")
            continue
        if entry["optional"] and found.default is inspect.Parameter.empty:
            problems.append(f"{name!r} became required")
        if kind == "KEYWORD_ONLY" and found.kind is found.POSITIONAL_ONLY:
            problems.append(f"{name!r} is no longer a keyword")
    if positional:
        for index, entry in enumerate(old_positional):
            if index >= len(new_positional) or new_positional[index].name != entry["name"]:
                problems.append(f"positional {index} is no longer {entry['name']!r}")
    for p in params:
        new_required = p.default is inspect.Parameter.empty and p.kind not in (
            p.VAR_POSITIONAL,
            p.VAR_KEYWORD,
        )
        if new_required and p.name not in {e["name"] for e in old}:
            problems.append(f"new required parameter {p.name!r}")
    return problems


def test_every_documented_name_keeps_its_signature() -> None:
    snapshot = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    assert len(snapshot) > 100
    problems: list[str] = []
    for dotted, entry in snapshot.items():
        try:
            obj = _resolve(dotted)
        except (ImportError, AttributeError):
            problems.append(f"{dotted}: no longer importable")
            continue
        calls = [("call", obj, entry.get("call"))]
        calls += [(m, getattr(obj, m, None), p) for m, p in (entry.get("methods") or {}).items()]
        for label, target, old in calls:
            if old is None:
                continue
            if target is None:
                problems.append(f"{dotted}.{label}: method removed")
                continue
            try:
                new = inspect.signature(target)
            except (TypeError, ValueError):
                continue
            positional = dotted not in REORDERED or label not in ("call", "__init__")
            for problem in _compatible(old, new, positional):
                problems.append(f"{dotted} {label}: {problem}")
    assert not problems, "\n".join(problems)


def test_established_names_import_from_ace() -> None:
    for name in [
        "RRStep", "RRConfig", "ObservabilityStep", "PersistStep", "AttachInsightSourcesStep",
        "PipelineHook", "PipelineConfigError", "PipelineOrderError", "PipelineCancelled",
        "cancel_token_var", "ReflectorMode", "InsightSource", "BranchError", "CancellationToken",
    ]:  # fmt: skip
        assert name in ace.__all__ and getattr(ace, name) is not None
    from ace.pipeline import PipelineHook, StepContext  # the engine's own names too

    assert PipelineHook and StepContext
    assert PipelineCancelled is RunCancelled and PipelineConfigError is PipelineContractError
    assert issubclass(PipelineOrderError, PipelineContractError)


def test_both_argument_orders(tmp_path: Path) -> None:
    book = Skillbook()
    book.add_skill("math", "Check sums twice")
    new, old = (
        CheckpointStep(tmp_path / "a", book, interval=2),
        CheckpointStep(book, tmp_path / "b", every=2),
    )
    assert (new.directory, new.skillbook, new.interval) == (tmp_path / "a", book, 2)
    assert (old.directory, old.skillbook, old.every) == (tmp_path / "b", book, 2)
    assert CheckpointStep(skillbook=book, directory=tmp_path).directory == tmp_path
    with pytest.raises(UsageError, match="disagree"):
        CheckpointStep(tmp_path, book, interval=2, every=3)
    with pytest.raises(UsageError, match="file path and the Skillbook"):
        CheckpointStep(book, book)  # type: ignore[arg-type]
    md = tmp_path / "book.md"
    for step in (ExportSkillbookMarkdownStep(md, book), ExportSkillbookMarkdownStep(book, md)):
        step(ACEStepContext())
        assert "Check sums twice" in md.read_text(encoding="utf-8")
        md.unlink()


def test_pipeline_grows_with_then_and_branch_and_hooks_observe() -> None:
    seen: list[tuple[str, str]] = []

    class Hook:
        def before_step(self, name: str, ctx: StepContext) -> None:
            seen.append(("before", name))

        def after_step(self, name: str, ctx: StepContext) -> None:
            seen.append(("after", name))
            raise RuntimeError("a broken hook is ignored")

    team = Team()
    book = Skillbook()
    pipe = Pipeline(hooks=[Hook()]).then(AgentStep(Agent(team.name)))
    pipe.branch([EvaluateStep(SimpleEnvironment()), EvaluateStep()], merge=MergeStrategy.LAST)
    assert pipe.requires == {"sample", "skillbook"}
    assert pipe.provides == {"agent_output", "environment_result", "trace"}
    (result,) = pipe.run(
        [
            ACEStepContext(
                sample=Sample(question="2+2?", ground_truth="4"), skillbook=SkillbookView(book)
            )
        ]
    )
    assert result.ok and result.output is result.context and result.cause is None
    assert "correct" in result.context.environment_result.feedback
    assert seen == [
        ("before", "AgentStep"),
        ("after", "AgentStep"),
        ("before", "Branch"),
        ("after", "Branch"),
    ]


def test_evaluate_step_provides_the_attempt_trace_and_rr_follows_it() -> None:
    step = EvaluateStep()
    assert step.provides == {"trace"} and EvaluateStep(SimpleEnvironment()).provides == {
        "trace", "environment_result"
    }  # fmt: skip
    team = Team()
    ctx = ACEStepContext(
        sample=Sample(question="2+2?", ground_truth="4"), skillbook=SkillbookView(Skillbook())
    )
    out = EvaluateStep(SimpleEnvironment())(AgentStep(Agent(team.name))(ctx))
    assert out.trace == {
        "question": "2+2?", "context": "", "ground_truth": "4", "reasoning": "2+2",
        "answer": "4", "skill_ids": [], "feedback": out.environment_result.feedback,
    }  # fmt: skip
    # RRStep right after EvaluateStep: the contract holds (no PipelineContractError)
    Pipeline([AgentStep(Agent(team.name)), EvaluateStep(), RRStep(team.name)])


def test_branch_error_sample_result_cause_and_order_error() -> None:
    err = BranchError([ValueError("a"), KeyError("b")])
    assert err.errors[0].args == ("a",) and "2 branch(es) failed" in str(err)
    assert BranchError("msg").failures == {}

    class Boom:
        requires: frozenset[str] = frozenset()
        provides: frozenset[str] = frozenset()

        def __call__(self, ctx: StepContext) -> StepContext:
            raise ValueError("inner")

    class Fine(Boom):
        def __call__(self, ctx: StepContext) -> StepContext:
            return ctx

    (result,) = Pipeline([Branch(Boom(), Fine())]).run([StepContext(sample="x")])
    assert isinstance(result.error, BranchError) and isinstance(result.cause, ValueError)
    assert result.output is None and result.sample == "x"

    class Needs(Fine):
        requires = frozenset({"answer"})

    class Gives(Fine):
        provides = frozenset({"answer"})

    with pytest.raises(PipelineOrderError):
        Pipeline([Needs(), Gives()])


def test_cancel_token_reaches_steps_and_branches() -> None:
    seen: list[CancellationToken | None] = []

    class Look:
        requires: frozenset[str] = frozenset()
        provides: frozenset[str] = frozenset()

        def __call__(self, ctx: StepContext) -> StepContext:
            seen.append(cancel_token_var.get())
            return ctx

    token = CancellationToken()
    Pipeline([Look(), Branch([Look(), Look()])]).run([StepContext()], 1, None, token)
    assert len(seen) == 3 and all(t is not None and not t.is_cancelled for t in seen)
    token.cancel()
    assert all(
        t is not None and t.is_cancelled for t in seen
    )  # the run's token follows the caller's
    assert cancel_token_var.get() is None
    (stopped,) = Pipeline([Look()]).run([StepContext()], cancel_token=token)
    assert isinstance(stopped.error, PipelineCancelled)
    with pytest.raises(UsageError, match="not both"):
        Pipeline([Look()]).run([StepContext()], cancel_token=token, cancel=CancellationToken())


def test_build_steps_on_the_class_and_on_an_instance() -> None:
    team = Team()
    roles = {
        "agent": Agent(team.name),
        "reflector": Reflector(team.name),
        "skill_manager": SkillManager(team.name),
    }
    book = Skillbook()
    steps = ACE.build_steps(
        **roles, skillbook=book, checkpoint_dir=None, extra_steps=[ObservabilityStep()]
    )
    assert [type(s).__name__ for s in steps] == [
        "AgentStep", "EvaluateStep", "ReflectStep", "UpdateStep", "ApplyStep", "ObservabilityStep"
    ]  # fmt: skip
    runner = ACE.from_roles(**roles, skillbook=book)
    assert [type(s).__name__ for s in runner.build_steps(book)] == [
        type(s).__name__ for s in steps[:-1]
    ]
    with pytest.raises(UsageError, match="missing skill_manager"):
        ACE.build_steps(agent=roles["agent"], reflector=roles["reflector"])
    trace_steps = TraceAnalyser.build_steps(
        reflector=roles["reflector"], skill_manager=roles["skill_manager"], skillbook=book
    )
    assert type(trace_steps[0]) is LoadTracesStep
    traces = [{"question": "2+2?", "reasoning": "2+2=5", "answer": "5", "feedback": "wrong"}]
    results = ACERunner(pipeline=Pipeline(trace_steps), skillbook=book).run(traces)
    assert results[0].ok and [s.content for s in book.skills()] == [team.lesson]


def test_runner_stats_waits_and_cancel_token() -> None:
    team = Team()
    runner = ACE(
        agent=Agent(team.name),
        reflector=Reflector(team.name),
        skill_manager=SkillManager(team.name),
    )
    results = runner.run([Sample(question="2+2?", ground_truth="4")], 2, wait=False)
    assert runner.wait_for_learning(timeout=30) is True
    stats = runner.learning_stats
    assert stats == runner.learning_stats() == {"active": 0, "completed": 2}
    assert [r.context.global_sample_index for r in results] == [0, 1]
    reflections = len(team.requests["reflector"])
    analyser = TraceAnalyser.from_roles(
        reflector=Reflector(team.name), skill_manager=SkillManager(team.name)
    )
    token = CancellationToken()
    token.cancel()
    assert analyser.run([{"question": "q", "answer": "a"}], 1, wait=True, cancel_token=token) == []
    assert len(team.requests["reflector"]) == reflections == 2  # one per epoch; none after
    with pytest.raises(UsageError, match="sequence"):
        runner.run(iter([Sample(question="q")]), epochs=2)


def test_acelitellm_established_keywords(tmp_path: Path) -> None:
    team = Team()
    saved = Skillbook()
    saved.add_skill("math", "Carry the one")
    saved.save(tmp_path / "book.json")
    agent = ACELiteLLM.from_model(
        team.name,
        max_tokens=321,
        temperature=0.25,
        skillbook_path=str(tmp_path / "book.json"),
        dedup_config=DeduplicationConfig(similarity_threshold=0.95, within_section_only=True),
        dedup_interval=2,
        checkpoint_dir=tmp_path / "ckpt",
        checkpoint_interval=2,
    )
    assert "Carry the one" in agent.get_strategies()
    agent.learn(
        [Sample(question="2+2?", ground_truth="4"), Sample(question="3+1?", ground_truth="4")]
    )
    request = team.requests["agent"][0]
    assert (request.max_tokens, request.temperature) == (321, 0.25)
    assert team.requests["skill_manager"][0].max_tokens == 321
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == [
        "latest.json",
        "skillbook_epoch1_sample2.json",
    ]
    assert agent.learning_stats()["active"] == 0 and agent.wait_for_learning() is True
    assert agent.save_skillbook(tmp_path / "out.json").exists()
    with pytest.raises(UsageError, match="not both"):
        ACELiteLLM(team.name, skillbook=Skillbook(), skillbook_path=tmp_path / "book.json")


def test_roles_take_model_settings_and_max_retries() -> None:
    team = Team()
    agent = Agent(
        team.name, max_retries=1, model_settings={"temperature": 0.7, "max_tokens": 99, "seed": 3}
    )
    agent.generate(question="2+2?", context="", skillbook=Skillbook())
    request = team.requests["agent"][0]
    assert (request.temperature, request.max_tokens, request.kwargs.get("seed")) == (0.7, 99, 3)
    assert agent.client.retry_policy.max_retries == 1
    with pytest.raises(UsageError, match="mapping"):
        SkillManager(team.name, model_settings=[("temperature", 1)])  # type: ignore[arg-type]
    assert not team.requests["skill_manager"]


def test_reflector_mode_switch() -> None:
    team = Team()
    assert isinstance(
        ACELiteLLM(team.name, reflector_mode=ReflectorMode.RECURSIVE).reflector, RRStep
    )
    assert isinstance(ACELiteLLM(team.name, reflector_mode="simple").reflector, Reflector)
    rr = ACELiteLLM(
        team.name, reflector_mode="recursive", rr_config=RRConfig(max_llm_calls=7)
    ).reflector
    assert isinstance(rr, RRStep) and rr.config.max_llm_calls == 7
    with pytest.raises(UsageError, match="reflector_mode must be one of"):
        ACELiteLLM(team.name, reflector_mode="deep")


def test_learning_tail_keywords_and_attach_observe_persist(tmp_path: Path) -> None:
    team = Team()
    book = Skillbook()
    metrics: list[dict[str, Any]] = []
    tail = learning_tail(
        Reflector(team.name),
        SkillManager(team.name),
        book,
        checkpoint_dir=tmp_path,
        checkpoint_interval=5,
    )
    assert tail[-1].interval == 5  # type: ignore[attr-defined]
    steps = [AgentStep(Agent(team.name), book), EvaluateStep(SimpleEnvironment()), *tail]
    steps.insert(4, AttachInsightSourcesStep())  # between UpdateStep and ApplyStep
    steps += [ObservabilityStep(sink=metrics.append), PersistStep(tmp_path / "notes.md", book)]
    ctx = ACEStepContext(
        sample=Sample(question="2+2?", ground_truth="4", id="s1"), skillbook=SkillbookView(book)
    )
    (result,) = Pipeline(steps).run([ctx])
    assert result.ok, result.error
    (source,) = book.skills()[0].sources
    assert source.sample_question == "2+2?" and source.model_extra["key_insight"] == team.lesson
    assert metrics[0]["operations_count"] == 1 and metrics[0]["skill_count"] == 1
    assert team.lesson in (tmp_path / "notes.md").read_text(encoding="utf-8")
    PersistStep(tmp_path / "book.json", book)(result.context)
    assert len(Skillbook.load(tmp_path / "book.json")) == 1


def test_logfire_true_configures_logfire_in_a_fresh_process() -> None:
    code = (
        "from ace import ACELiteLLM\n"
        "from ace.testing import ScriptedModel\n"
        "ACELiteLLM(ScriptedModel([]).name, logfire=True)\n"
        "from ace.rr._tracing import tracing_enabled\n"
        "print(tracing_enabled())\n"
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "LOGFIRE_TOKEN": ""}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True"


def test_background_threads_do_not_leak_the_token() -> None:
    seen: list[Any] = []
    done = threading.Event()

    class Tail:
        requires: frozenset[str] = frozenset()
        provides: frozenset[str] = frozenset()
        async_boundary = True

        def __call__(self, ctx: StepContext) -> StepContext:
            seen.append(cancel_token_var.get())
            done.set()
            return ctx

    with Pipeline([Tail()]) as pipe:
        pipe.run([StepContext()])
        assert done.wait(10) and pipe.wait_for_background(10)
    assert isinstance(seen[0], CancellationToken)
