"""Property tests: real Python made by mutating the benign corpus.

Mutations rename attributes and names to dangerous ones, swap strings for format-string
walks, splice in attack code, and delete or duplicate statements. Every generated cell
parses (it comes from `ast.unparse`), so the policy sees real programs, not syntax
errors. Whatever the cell does: the host does not crash, the canary does not leak, the
host's modules stay intact and the namespace stays usable and guarded.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import io
import re
import secrets
import signal
import warnings
from collections.abc import Callable, Iterator
from types import CodeType, FrameType
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from policy_attack_cases import ATTACKS, CANARY_ENV, assert_still_guarded, host_lookup, host_state
from policy_corpus.corpus import data, load_cells, plain_compile, plain_exec

import sandbox._policy_guards as guards_module
from sandbox._policy import CellPolicy, PolicyError, PolicyViolation

CANARY = "canary-" + secrets.token_hex(8)
CELLS = [source for _, source in load_cells()]
DANGEROUS_ATTRS = [
    "__class__",
    "__globals__",
    "__subclasses__",
    "__dict__",
    "__self__",
    "__code__",
    "__traceback__",
    "__mro__",
    "__getattribute__",
    "__reduce_ex__",
    "__init__",
    "__repr__",
    "__len__",
    "_asdict",
    "gi_frame",
    "f_back",
    "f_globals",
    "tb_frame",
    "co_consts",
    "format",
    "format_map",
    "mro",
    "register",
    "unicode_whitespace_trans",
]
DANGEROUS_NAMES = [
    "_getattr_",
    "_write_",
    "_inplacevar_",
    "__builtins__",
    "__import__",
    "__build_class__",
    "eval",
    "exec",
    "compile",
    "open",
    "globals",
    "vars",
    "breakpoint",
    "getattr",
    "setattr",
    "type",
    "print",
    "_tmp",
    "__name__",
]
FORMAT_WALKS = [
    "{0.__class__}",
    "{0.__globals__[os]}",
    "{0[0].__class__.__mro__}",
    "{:{0.__class__}}",
    "{x.gi_frame}",
    "{0.mro}",
]
ATTACK_TREES = [ast.parse(a.code).body for a in ATTACKS]


class CellTimeout(BaseException):
    """Raised by SIGALRM when a generated cell runs too long (cells catch Exception only)."""


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    def alarm(signum: int, frame: FrameType | None) -> None:
        raise CellTimeout

    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@pytest.fixture(autouse=True)
def canaries(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv(CANARY_ENV, CANARY)
    monkeypatch.setattr(guards_module, "CANARY_FOR_TESTS", CANARY, raising=False)
    yield


def run(
    compile_fn: Callable[[str, str], CodeType],
    exec_fn: Callable[[CodeType, dict[str, Any]], None],
    namespace: dict[str, Any],
    source: str,
) -> tuple[str, BaseException | None]:
    out = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(out):
        warnings.simplefilter("ignore")
        try:
            code = compile_fn(source, "<mutant>")
            with time_limit(2.0):
                exec_fn(code, namespace)
        except (Exception, CellTimeout) as exc:
            return out.getvalue(), exc
    return out.getvalue(), None


def _nodes(tree: ast.AST, kind: type[ast.AST]) -> list[Any]:
    return [n for n in ast.walk(tree) if isinstance(n, kind)]


def _bodies(tree: ast.AST) -> list[list[ast.stmt]]:
    found = []
    for node in ast.walk(tree):
        for field in ("body", "orelse", "finalbody"):
            body = getattr(node, field, None)
            if isinstance(body, list) and body and isinstance(body[0], ast.stmt):
                found.append(body)
    return found


def _plain_strings(tree: ast.AST) -> list[ast.Constant]:
    """String constants outside f-strings (an f-string's literal parts cannot hold braces)."""
    in_fstrings = {id(n) for j in _nodes(tree, ast.JoinedStr) for n in ast.walk(j)}
    return [
        c
        for c in _nodes(tree, ast.Constant)
        if isinstance(c.value, str) and id(c) not in in_fstrings
    ]


@st.composite
def mutants(draw: st.DrawFn, kinds: tuple[str, ...]) -> str:
    """A corpus cell with one to four mutations applied, unparsed back to source."""
    tree = ast.parse(draw(st.sampled_from(CELLS)))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(kinds))
        event(f"mutation: {kind}")
        if kind == "attr" and (attrs := _nodes(tree, ast.Attribute)):
            draw(st.sampled_from(attrs)).attr = draw(st.sampled_from(DANGEROUS_ATTRS))
        elif kind == "name" and (names := _nodes(tree, ast.Name)):
            draw(st.sampled_from(names)).id = draw(st.sampled_from(DANGEROUS_NAMES))
        elif kind == "format" and (strings := _plain_strings(tree)):
            draw(st.sampled_from(strings)).value = draw(st.sampled_from(FORMAT_WALKS))
        elif kind == "splice":
            body = draw(st.sampled_from(_bodies(tree)))
            at = draw(st.integers(0, len(body)))
            body[at:at] = copy.deepcopy(draw(st.sampled_from(ATTACK_TREES)))
        elif kind == "delete":
            body = draw(st.sampled_from(_bodies(tree)))
            if len(body) > 1:
                del body[draw(st.integers(0, len(body) - 1))]
        elif kind == "duplicate":
            body = draw(st.sampled_from(_bodies(tree)))
            at = draw(st.integers(0, len(body) - 1))
            body.insert(at, copy.deepcopy(body[at]))
    source = ast.unparse(ast.fix_missing_locations(tree))
    ast.parse(source)  # real Python, never a syntax error by construction
    return source


HOSTILE = ("attr", "name", "format", "splice", "delete", "duplicate")
BENIGN = ("delete", "duplicate")
SETTINGS = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@SETTINGS
@given(source=mutants(HOSTILE))
def test_mutated_cells_never_escape(source: str) -> None:
    policy = CellPolicy()
    namespace = policy.new_namespace()
    namespace.update(data(), host_lookup=host_lookup)
    before = host_state()

    out, exc = run(policy.compile, policy.exec, namespace, source)

    event(f"outcome: {type(exc).__name__ if exc else 'ran'}")
    assert exc is None or isinstance(exc, Exception | CellTimeout)
    assert CANARY not in out and CANARY not in str(exc)
    assert host_state() == before
    assert_still_guarded(policy, namespace)


_ADDRESS = re.compile(r"0x[0-9a-f]+")


def _outcome(out: str, exc: BaseException | None) -> tuple[str, str]:
    return _ADDRESS.sub("0x?", out), type(exc).__name__ if exc else ""


@SETTINGS
@given(source=mutants(BENIGN))
def test_policy_matches_cpython_on_mutated_benign_cells(source: str) -> None:
    """Differential: beyond the fixed corpus, the policy changes no benign outcome."""
    policy = CellPolicy()
    namespace = policy.new_namespace()
    namespace.update(data())
    got = run(policy.compile, policy.exec, namespace, source)
    want = run(plain_compile, plain_exec, {"__name__": "__main__", **data()}, source)
    assert not isinstance(got[1], PolicyViolation | PolicyError), got[1]
    if isinstance(want[1], CellTimeout) or isinstance(got[1], CellTimeout):
        event("timeout")
        return
    assert _outcome(*got) == _outcome(*want)
