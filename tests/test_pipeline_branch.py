"""Branch: parallel branches, merge strategies, conflicts, every branch's error reported."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from dataclasses import dataclass

import pytest

from ace.errors import BranchError, MergeConflictError, PipelineContractError
from ace.pipeline import Branch, MergeStrategy, Pipeline, StepContext, StepProtocol


@dataclass(frozen=True, kw_only=True)
class Ctx(StepContext):
    """A small context for branch tests."""

    a: int | None = None
    b: int | None = None
    c: int | None = None
    d: int | None = None


class Set:
    """Sets ``field`` to ``value``; optionally meets the other branches at ``barrier`` first."""

    def __init__(
        self,
        field: str,
        value: int,
        *,
        name: str = "",
        barrier: threading.Barrier | None = None,
        meta: Mapping[str, object] | None = None,
    ) -> None:
        self.requires = frozenset({"a"})
        self.provides = frozenset({field})
        self.field, self.value, self.barrier, self.meta = field, value, barrier, meta
        self.name = name or f"Set{field.upper()}{value}"

    def __call__(self, ctx: Ctx) -> Ctx:
        if self.barrier is not None:
            self.barrier.wait(timeout=10)  # BrokenBarrierError if branches ran one by one
        changes: dict[str, object] = {self.field: self.value}
        if self.meta:
            changes["metadata"] = {**ctx.metadata, **self.meta}
        return ctx.replace(**changes)


class Fail:
    """Raises ``error``."""

    requires = frozenset({"a"})
    provides = frozenset({"d"})

    def __init__(self, error: Exception, name: str) -> None:
        self.error, self.name = error, name

    def __call__(self, ctx: Ctx) -> Ctx:
        raise self.error


def test_branches_run_in_parallel_and_disjoint_outputs_merge() -> None:
    barrier = threading.Barrier(3)
    branch = Branch(
        Set("b", 2, barrier=barrier),
        Set("c", 3, barrier=barrier),
        Pipeline([Set("d", 4, barrier=barrier)], name="p"),
    )
    assert branch.requires == {"a"} and branch.provides == {"b", "c", "d"}
    assert isinstance(branch, StepProtocol) and branch.names == ("SetB2", "SetC3", "p")
    out = branch(Ctx(a=1))
    assert (out.a, out.b, out.c, out.d) == (1, 2, 3, 4)


def test_raise_on_conflict_names_the_field_and_the_branches() -> None:
    branch = Branch(Set("b", 1, name="left"), Set("c", 5), Set("b", 2, name="right"))
    with pytest.raises(MergeConflictError) as err:
        branch(Ctx(a=1))
    assert err.value.field == "b" and err.value.branches == ("left", "right")
    assert "'left'" in str(err.value) and "'right'" in str(err.value) and "'b'" in str(err.value)


def test_agreeing_branches_are_not_a_conflict() -> None:
    out = Branch(Set("b", 7, name="x"), Set("b", 7, name="y"))(Ctx(a=1))
    assert out.b == 7


def test_conflicting_metadata_keys_are_named() -> None:
    branch = Branch(Set("b", 1, meta={"k": 1}), Set("c", 1, meta={"k": 2, "other": 3}))
    with pytest.raises(MergeConflictError, match=r"metadata\['k'\]"):
        branch(Ctx(a=1))
    ok = Branch(Set("b", 1, meta={"k": 1}), Set("c", 1, meta={"j": 2}))(Ctx(a=1))
    assert dict(ok.metadata) == {"k": 1, "j": 2}


def test_last_write_wins_takes_the_last_branch() -> None:
    branch = Branch(Set("b", 1), Set("b", 2), Set("c", 3), merge=MergeStrategy.LAST_WRITE_WINS)
    out = branch(Ctx(a=1))
    assert (out.b, out.c) == (2, 3)


def test_namespaced_keeps_each_branch_output_under_its_name() -> None:
    branch = Branch(
        Set("b", 1, name="one"),
        Set("b", 2, name="two"),
        Set("c", 3, name="three"),
        merge=MergeStrategy.NAMESPACED,
    )
    assert branch.provides == {"c"}  # 'b' is provided by two branches: read it per branch
    out = branch(Ctx(a=1))
    spaces = out.metadata["branches"]
    assert spaces["one"]["b"] == 1 and spaces["two"]["b"] == 2 and spaces["three"]["c"] == 3
    assert out.b is None and out.c == 3


def test_custom_merge_function_gets_every_output_by_branch_name() -> None:
    seen: list[tuple[str, ...]] = []

    def add_up(base: Ctx, outputs: Mapping[str, Ctx]) -> Ctx:
        seen.append(tuple(outputs))
        return base.replace(b=sum(o.b or 0 for o in outputs.values()))

    out = Branch(Set("b", 1), Set("b", 2), Set("b", 4), merge=add_up)(Ctx(a=1))
    assert out.b == 7 and seen == [("SetB1", "SetB2", "SetB4")]


def test_a_custom_merge_must_return_a_context() -> None:
    branch = Branch(Set("b", 1), merge=lambda base, outputs: {"b": 1})
    with pytest.raises(PipelineContractError, match="merge function returned dict"):
        branch(Ctx(a=1))


def test_every_failing_branch_is_reported_not_only_the_first() -> None:
    branch = Branch(
        Fail(ValueError("first broke"), "one"),
        Set("b", 1),
        Pipeline([Set("c", 1), Fail(KeyError("second broke"), "two")], name="inner"),
        name="fan",
    )
    pipe = Pipeline([branch], name="outer")
    [result] = pipe.run([Ctx(a=1)])
    error = result.error
    assert isinstance(error, BranchError)
    assert set(error.failures) == {"one", "inner"}
    assert isinstance(error.failures["one"], ValueError)
    assert isinstance(error.failures["inner"], KeyError)
    assert error.paths["inner"] == ("SetC1", "two") or error.paths["inner"] == ("two",)
    assert "first broke" in str(error) and "second broke" in str(error)
    assert "2 of 3 branches" in str(error)
    assert result.failed_at == "fan" and result.failed_path == ("fan",)
    assert result.context.a == 1 and result.context.b is None  # the context the branch got


def test_branch_nests_in_a_pipeline_and_contracts_are_checked() -> None:
    class Sum:
        requires = frozenset({"b", "c"})
        provides = frozenset({"d"})

        def __call__(self, ctx: Ctx) -> Ctx:
            assert ctx.b is not None and ctx.c is not None
            return ctx.replace(d=ctx.b + ctx.c)

    pipe = Pipeline([Branch(Set("b", 2), Set("c", 3)), Sum()])
    assert pipe.requires == {"a"}
    results = pipe.run([Ctx(a=i) for i in range(6)], workers=3)
    assert [r.context.d for r in results] == [5] * 6
    with pytest.raises(PipelineContractError, match=r"'Sum' requires 'b'.*'Late'"):
        Pipeline([Sum(), Branch(Set("b", 1), name="Late")])


def test_branch_under_run_async_gathers_async_branches_on_the_loop() -> None:
    class AsyncSet:
        requires = frozenset({"a"})

        def __init__(self, field: str, gate: asyncio.Event, other: asyncio.Event) -> None:
            self.provides = frozenset({field})
            self.field, self.gate, self.other = field, gate, other
            self.name = f"Async{field}"

        async def __call__(self, ctx: Ctx) -> Ctx:
            self.gate.set()
            await asyncio.wait_for(self.other.wait(), 10)  # both branches must be running
            return ctx.replace(**{self.field: 1})

    async def main() -> list[int | None]:
        left, right = asyncio.Event(), asyncio.Event()
        pipe = Pipeline([Branch(AsyncSet("b", left, right), AsyncSet("c", right, left))])
        [result] = await pipe.run_async([Ctx(a=1)])
        assert result.ok, result.error
        return [result.context.b, result.context.c]

    assert asyncio.run(main()) == [1, 1]


def test_bad_branch_arguments_are_refused() -> None:
    with pytest.raises(PipelineContractError, match="no branches"):
        Branch()
    with pytest.raises(PipelineContractError, match="merge must be"):
        Branch(Set("b", 1), merge="last")  # type: ignore[arg-type]
