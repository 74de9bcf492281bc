"""The policy alone (in-process, no OS layer) refuses every attack in the suite.

Each attack must be refused by the policy itself (PolicyViolation at compile time or
PolicyError at run time), must not print or raise the canary, must leave the host's
modules as they were, and must leave the namespace usable and still guarded.
"""

from __future__ import annotations

import collections
import contextlib
import io
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from policy_attack_cases import (
    ATTACKS,
    CANARY_ENV,
    Attack,
    assert_still_guarded,
    host_lookup,
    host_state,
)

import sandbox._policy_guards as guards_module
from sandbox._policy import CellPolicy, PolicyError, PolicyViolation

CANARY = "canary-" + secrets.token_hex(8)


@pytest.fixture(autouse=True)
def canaries(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv(CANARY_ENV, CANARY)
    monkeypatch.setattr(guards_module, "CANARY_FOR_TESTS", CANARY, raising=False)
    yield


def run(
    compile_fn: Any, exec_fn: Any, namespace: dict[str, Any], code: str
) -> tuple[str, BaseException | None]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            exec_fn(compile_fn(code, "<attack>"), namespace)
        except Exception as exc:
            return out.getvalue(), exc
    return out.getvalue(), None


def attack_namespace(policy: CellPolicy) -> dict[str, Any]:
    namespace = policy.new_namespace()
    namespace.update(traces=[{"history": [{"role": "user", "content": "hi"}]}])
    namespace["host_lookup"] = host_lookup
    return namespace


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda a: a.id)
def test_policy_refuses_attack(attack: Attack) -> None:
    policy = CellPolicy()
    namespace = attack_namespace(policy)
    before = host_state()

    out, exc = run(policy.compile, policy.exec, namespace, attack.code)

    assert isinstance(exc, PolicyViolation | PolicyError), (
        f"{attack.id} was not refused by the policy: {type(exc).__name__}: {exc}\n{out}"
    )
    assert CANARY not in out and CANARY not in str(exc)
    assert host_state() == before
    assert_still_guarded(policy, namespace)


@pytest.mark.parametrize(
    "attack", [a for a in ATTACKS if a.leaks_without_policy], ids=lambda a: a.id
)
def test_attack_is_real_without_policy(attack: Attack) -> None:
    """Control: under plain exec the attack does reach the canary."""
    namespace: dict[str, Any] = {"__name__": "__main__", "host_lookup": host_lookup}
    plain_compile = lambda code, name: compile(code, name, "exec")  # noqa: E731
    out, exc = run(plain_compile, exec, namespace, attack.code)
    assert CANARY in out + str(exc), f"{attack.id} leaks nothing even without the policy"


def test_refusals_name_the_construct_and_line() -> None:
    policy = CellPolicy()
    with pytest.raises(PolicyViolation) as info:
        policy.compile("x = 1\ny = x.__class__\nimport os\n", "<cell>")
    assert info.value.lineno == 2
    assert info.value.errors[0].startswith('line 2: attribute "__class__"')
    assert info.value.errors[1].startswith('line 3: import of "os" is not allowed')
    assert "type(x)" in str(info.value)


def test_attack_suite_covers_every_category() -> None:
    categories = collections.Counter(a.category for a in ATTACKS)
    assert set(categories) >= {
        "builtins",
        "subclasses",
        "frames",
        "format",
        "guard-names",
        "c-level",
        "imports",
        "poisoning",
        "classes",
        "syntax",
    }
    assert len({a.id for a in ATTACKS}) == len(ATTACKS)
