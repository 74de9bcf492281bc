"""Pipeline engine: contracts, immutable contexts, the read-only view, per-sample isolation."""

from __future__ import annotations

import dataclasses
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import pytest

from ace.environments import Sample
from ace.errors import PipelineContractError
from ace.outputs import AgentOutput, ReflectorOutput
from ace.pipeline import ACEStepContext, Pipeline, SkillbookView, StepContext, StepProtocol
from ace.skillbook import Skillbook


@dataclass(frozen=True, kw_only=True)
class Ctx(StepContext):
    """A small context for engine tests."""

    a: int | None = None
    b: int | None = None
    c: int | None = None


class Set:
    """Sets ``field`` to ``value``; requires ``needs``."""

    def __init__(
        self, field: str, value: int = 1, needs: tuple[str, ...] = (), name: str = ""
    ) -> None:
        self.requires = frozenset(needs)
        self.provides = frozenset({field})
        self.field, self.value = field, value
        if name:
            self.name = name

    def __call__(self, ctx: Ctx) -> Ctx:
        return ctx.replace(**{self.field: self.value})


class AddOne:
    """b = a + 1."""

    requires = frozenset({"a"})
    provides = frozenset({"b"})

    def __call__(self, ctx: Ctx) -> Ctx:
        assert ctx.a is not None
        return ctx.replace(b=ctx.a + 1)


class Explode:
    """Raises for one value of ``a``."""

    requires = frozenset({"a"})
    provides = frozenset({"c"})

    def __init__(self, bad: int) -> None:
        self.bad = bad

    def __call__(self, ctx: Ctx) -> Ctx:
        if ctx.a == self.bad:
            raise RuntimeError(f"boom on {ctx.a}")
        return ctx.replace(c=0)


# ---------------------------------------------------------------- contracts


def test_step_requiring_a_field_only_a_later_step_provides_is_refused() -> None:
    with pytest.raises(PipelineContractError) as err:
        Pipeline([AddOne(), Set("a", name="MakeA")])
    message = str(err.value)
    assert "'AddOne' requires 'a'" in message and "'MakeA'" in message


def test_step_without_contract_attributes_is_refused() -> None:
    class NoContract:
        provides = frozenset({"a"})

        def __call__(self, ctx: Ctx) -> Ctx:
            return ctx

    with pytest.raises(PipelineContractError, match=r"'NoContract'.*no 'requires'"):
        Pipeline([NoContract()])  # type: ignore[list-item]


def test_requires_written_as_a_string_is_refused() -> None:
    step = Set("a")
    step.requires = "a"  # type: ignore[assignment]
    with pytest.raises(PipelineContractError, match="must be a set of field names"):
        Pipeline([step])


def test_empty_pipeline_passes_contexts_through_and_grows_with_then() -> None:
    pipe = Pipeline()
    assert pipe.requires == frozenset() and pipe.provides == frozenset()
    (result,) = pipe.run([Ctx(a=1)])
    assert result.ok and result.context == Ctx(a=1)
    # every addition is checked when it is made
    with pytest.raises(PipelineContractError, match="requires 'b', which only the later"):
        Pipeline().then(Set("c", needs=("b",))).then(Set("b"))


def test_requires_and_provides_are_computed() -> None:
    pipe = Pipeline([Set("b", needs=("a",)), Set("c", needs=("a", "b"))])
    assert pipe.requires == {"a"} and pipe.provides == {"b", "c"}
    assert isinstance(pipe, StepProtocol) and isinstance(AddOne(), StepProtocol)


def test_initial_context_missing_a_field_names_field_and_first_step() -> None:
    pipe = Pipeline([AddOne(), Set("c", needs=("a", "b"), name="Second")])
    assert pipe.requires == {"a"}
    with pytest.raises(PipelineContractError) as err:
        pipe.run([Ctx(a=1), Ctx()])
    message = str(err.value)
    assert "'a'" in message and "'AddOne'" in message and "context 1" in message


def test_field_unknown_to_the_context_type_is_named() -> None:
    pipe = Pipeline([Set("c", needs=("zzz",))])
    with pytest.raises(PipelineContractError, match="Ctx has no field 'zzz'"):
        pipe.run([Ctx()])


def test_step_that_does_not_set_what_it_provides_fails_its_sample() -> None:
    class Liar:
        requires = frozenset({"a"})
        provides = frozenset({"b", "c"})

        def __call__(self, ctx: Ctx) -> Ctx:
            return ctx.replace(b=1)

    [result] = Pipeline([Liar()]).run([Ctx(a=1)])
    assert isinstance(result.error, PipelineContractError)
    assert result.failed_at == "Liar" and "'c'" in str(result.error)


def test_step_returning_something_else_than_a_context_fails_its_sample() -> None:
    class ReturnsDict:
        requires = frozenset({"a"})
        provides: frozenset[str] = frozenset()

        def __call__(self, ctx: Ctx) -> Any:
            return {"a": 1}

    [result] = Pipeline([ReturnsDict()]).run([Ctx(a=1)])
    assert isinstance(result.error, PipelineContractError)
    assert "'ReturnsDict' returned dict" in str(result.error)


def test_non_context_input_is_refused() -> None:
    with pytest.raises(PipelineContractError, match="not a StepContext"):
        Pipeline([AddOne()]).run([{"a": 1}])  # type: ignore[type-var]


# ---------------------------------------------------------------- immutability


def test_replace_returns_a_new_context_and_leaves_the_original() -> None:
    ctx = Ctx(a=1)
    new = ctx.replace(b=2)
    assert (ctx.a, ctx.b) == (1, None) and (new.a, new.b) == (1, 2)
    assert new.set_fields() == {"a", "b", "metadata"} and not ctx.is_set("b")
    with pytest.raises(dataclasses.FrozenInstanceError):
        ctx.a = 5  # type: ignore[misc]


def test_metadata_is_a_read_only_copy() -> None:
    source = {"k": 1}
    ctx = ACEStepContext(metadata=source)
    source["k"] = 2
    assert ctx.metadata["k"] == 1
    with pytest.raises(TypeError):
        ctx.metadata["k"] = 3  # type: ignore[index]


def test_reflections_are_stored_as_a_tuple() -> None:
    ctx = ACEStepContext(reflections=[ReflectorOutput()])  # type: ignore[arg-type]
    assert isinstance(ctx.reflections, tuple)


def test_progress_text() -> None:
    ctx = ACEStepContext(epoch=1, total_epochs=2, step_index=2, total_steps=10)
    assert ctx.progress() == "epoch 1/2, sample 3/10"
    assert ACEStepContext().progress() == "epoch 1"


def test_skillbook_view_is_read_only_and_live() -> None:
    book = Skillbook()
    skill = book.add_skill("Math", "Check units")
    view = SkillbookView(book)
    for mutator in (
        "add_skill",
        "update_skill",
        "tag_skill",
        "remove_skill",
        "apply_update",
        "save",
    ):
        assert not hasattr(view, mutator)
    with pytest.raises(AttributeError):
        view.anything = 1  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        del view.as_prompt  # type: ignore[method-assign]
    copy = view.get_skill(skill.id)
    assert copy is not None and copy is not skill
    copy.content = "changed"
    assert book.get_skill(skill.id).content == "Check units"  # type: ignore[union-attr]
    book.add_skill("Math", "Show the work")
    assert len(view) == 2 and "Show the work" in view.as_prompt()
    assert skill.id in view and view.cited_ids(f"see [{skill.id}]") == [skill.id]
    assert view.stats()["skills"] == 2 and view.sections() == ["Math"]


# ---------------------------------------------------------------- isolation and nesting


def test_a_failing_sample_does_not_stop_the_others() -> None:
    pipe = Pipeline([AddOne(), Explode(bad=2), Set("b", 9, needs=("c",), name="After")])
    results = pipe.run([Ctx(a=1), Ctx(a=2), Ctx(a=3)])
    assert [r.index for r in results] == [0, 1, 2]
    ok1, bad, ok3 = results
    assert ok1.ok and ok3.ok and ok1.context.b == 9 and ok3.context.c == 0
    assert isinstance(bad.error, RuntimeError) and bad.failed_at == "Explode"
    assert bad.context.b == 3 and bad.context.c is None  # the context Explode received
    assert not bad.ok


def test_sample_result_carries_the_sample() -> None:
    class Answer:
        requires = frozenset({"sample"})
        provides = frozenset({"agent_output"})

        def __call__(self, ctx: ACEStepContext) -> ACEStepContext:
            return ctx.replace(agent_output=AgentOutput(final_answer="4"))

    sample = Sample(question="2+2?", id="s1")
    [result] = Pipeline([Answer()]).run([ACEStepContext(sample=sample)])
    assert result.sample is sample and result.context.agent_output is not None


def test_nested_pipeline_is_a_step() -> None:
    inner = Pipeline([AddOne(), Set("c", 7, needs=("b",), name="C")], name="inner")
    outer = Pipeline([Set("a", 1, name="A"), inner])
    assert inner.requires == {"a"} and outer.requires == frozenset()
    [result] = outer.run([Ctx()])
    assert (result.context.a, result.context.b, result.context.c) == (1, 2, 7)


def test_failure_inside_a_nested_pipeline_names_the_path() -> None:
    inner = Pipeline([Explode(bad=1)], name="inner")
    [result] = Pipeline([inner], name="outer").run([Ctx(a=1)])
    assert result.failed_at == "Explode" and result.failed_path == ("inner", "Explode")
    with pytest.raises(RuntimeError, match="boom") as err:
        inner(Ctx(a=1))
    assert any("inner" in note for note in err.value.__notes__)
    assert err.value.__context__ is None and err.value.__cause__ is None


def test_nested_pipeline_keeps_the_cause_of_a_step_error() -> None:
    class Wrapped:
        requires = frozenset({"a"})
        provides = frozenset({"b"})

        def __call__(self, ctx: Ctx) -> Ctx:
            try:
                raise KeyError("root")
            except KeyError as exc:
                raise RuntimeError("wrapped") from exc

    with pytest.raises(RuntimeError) as err:
        Pipeline([Wrapped()])(Ctx(a=1))
    assert isinstance(err.value.__cause__, KeyError)
    [result] = Pipeline([Wrapped()]).run([Ctx(a=1)])
    assert result.error is not None and isinstance(result.error.__cause__, KeyError)


def test_async_step_is_awaited() -> None:
    class AsyncAddOne:
        requires = frozenset({"a"})
        provides = frozenset({"b"})

        async def __call__(self, ctx: Ctx) -> Ctx:
            assert ctx.a is not None
            return ctx.replace(b=ctx.a + 1)

    [result] = Pipeline([AsyncAddOne()]).run([Ctx(a=4)])
    assert result.ok and result.context.b == 5


@pytest.mark.parametrize("package", ["ace.pipeline", "ace.steps"])
def test_exported_members_exist_and_are_documented(package: str) -> None:
    import importlib

    module = importlib.import_module(package)
    assert module.__all__ == sorted(module.__all__)
    for name in module.__all__:
        member = getattr(module, name)
        if isinstance(member, ContextVar):  # cannot carry a __doc__; documented at its definition
            continue
        assert member.__doc__ and member.__doc__.strip(), f"{package}.{name} has no docstring"
    public = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and getattr(value, "__module__", "").startswith(package + ".")
    }
    assert public <= set(module.__all__)
