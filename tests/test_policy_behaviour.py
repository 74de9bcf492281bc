"""What the policy lets through, how it reports refusals, and how its output is bounded."""

from __future__ import annotations

import builtins
import contextlib
import io
from typing import Any

import pytest

from sandbox._policy import CellPolicy, PolicyError, PolicyViolation


def run(policy: CellPolicy, namespace: dict[str, Any], code: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        policy.exec(policy.compile(code, "<cell>"), namespace)
    return out.getvalue()


@pytest.fixture
def policy() -> CellPolicy:
    return CellPolicy()


@pytest.fixture
def ns(policy: CellPolicy) -> dict[str, Any]:
    namespace = policy.new_namespace()
    namespace["traces"] = [{"history": [{"role": "user", "content": "hello world"}]}]
    namespace["ask_llm"] = lambda question, context="": f"answer to {question}"
    return namespace


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("counts = {}\ncounts['a'] = 0\ncounts['a'] += 1\nprint(counts)", "{'a': 1}"),
        ("_tmp = 2\n__private = 3\nprint(_tmp + __private)", "5"),
        (
            "class A:\n    def __init__(self, v):\n        self.v = v\n        self.v += 1\n"
            "print(A(1).v)",
            "2",
        ),
        ("print('{:.2f}'.format(3.14159), '{0:>4}|{x!r}'.format(7, x='s'))", "3.14    7|'s'"),
        ("print(sorted([3, 1, 2], key=lambda x: -x))", "[3, 2, 1]"),
        ("print(getattr('abc', 'upper')())", "ABC"),
        ("print(len(range(10**6)), sum(range(5000)))", "1000000 12497500"),
        ("print('{0.real} {p[0]}'.format(3, p=[9]))", "3 9"),
        ("import string\nprint(string.Template('$a-$b').substitute(a=1, b=2))", "1-2"),
        ("print('%(a)s/%(b)d' % {'a': 'x', 'b': 2})", "x/2"),
        ("from json import loads\nprint(loads('[1]'), type(loads).__name__)", "[1] function"),
        ("import json\nprint(json.__name__, 'dumps' in dir(json))", "json True"),
        (
            "print(type(int) is type, isinstance(int, type), type(type(1)).__name__)",
            "True True type",
        ),
        ("print(traces[0]['history'][0]['content'].split()[1], ask_llm('q'))", "world answer to q"),
        ("input = 'mine'\ndef compile(x):\n    return x\nprint(compile(input))", "mine"),
        ("print(__name__)", "__main__"),
        ("import datetime\nprint(datetime.datetime.strptime('2021', '%Y').year)", "2021"),
        (
            "import collections\nclass D(collections.UserDict):\n    pass\nd = D(a=1)\n"
            "d['b'] = 2\nprint(sorted(d), isinstance(d, collections.UserDict))",
            "['a', 'b'] True",
        ),
        (
            "class P:\n    def __repr__(self):\n        return 'P!'\nprint(f'{P()!r}', repr(P()))",
            "P! P!",
        ),
    ],
)
def test_ordinary_code_runs(
    policy: CellPolicy, ns: dict[str, Any], code: str, expected: str
) -> None:
    assert run(policy, ns, code) == expected + "\n"


def test_state_persists_and_print_uses_stdout_at_call_time(
    policy: CellPolicy, ns: dict[str, Any]
) -> None:
    assert run(policy, ns, "def show(x):\n    print('seen', x)\nn = 1") == ""
    assert run(policy, ns, "n += 1\nshow(n)") == "seen 2\n"


def test_output_is_bounded_per_cell() -> None:
    policy = CellPolicy(max_output_chars=20)
    ns = policy.new_namespace()
    out = run(policy, ns, "for i in range(100):\n    print('0123456789')")
    assert out.startswith("0123456789\n012345678")
    assert out.endswith("[output cut: a cell may print 20 characters]\n")
    assert run(policy, ns, "print('fresh budget')") == "fresh budget\n"


def test_print_refuses_file(policy: CellPolicy, ns: dict[str, Any]) -> None:
    with pytest.raises(PolicyError, match="file="):
        run(policy, ns, "print('x', file=traces)")


def test_syntax_errors_are_plain_syntax_errors(policy: CellPolicy) -> None:
    with pytest.raises(SyntaxError) as info:
        policy.compile("def f(:\n", "<cell>")
    assert not isinstance(info.value, PolicyViolation)
    with pytest.raises(SyntaxError):
        policy.compile("x = 1\0", "<cell>")


def test_deep_nesting_is_refused_not_crashing(policy: CellPolicy) -> None:
    with pytest.raises(SyntaxError):
        policy.compile("x = " + "(" * 250 + "1" + ")" * 250, "<cell>")
    with pytest.raises(SyntaxError):
        policy.compile("x = " + "-" * 100_000 + "1", "<cell>")


def test_violation_lists_every_refusal_with_its_line(policy: CellPolicy) -> None:
    with pytest.raises(PolicyViolation) as info:
        policy.compile("a = 1\nopen('f')\nclass A:\n    def __getattr__(self, n):\n        pass\n")
    assert [e.split(":")[0] for e in info.value.errors] == ["line 2", "line 4"]
    assert info.value.lineno == 2 and isinstance(info.value, SyntaxError)


def test_exec_restores_guards_a_host_mistake_removed(
    policy: CellPolicy, ns: dict[str, Any]
) -> None:
    ns["_getattr_"] = getattr
    ns["__builtins__"] = builtins
    with pytest.raises(PolicyError):
        run(policy, ns, "getattr(1, '__cla' + 'ss__')")
    assert "_getattr_" not in ns


def test_module_views_are_read_only_and_partial(policy: CellPolicy, ns: dict[str, Any]) -> None:
    with pytest.raises(PolicyError, match="read-only"):
        run(policy, ns, "import json\njson.loads = None")
    with pytest.raises(PolicyError, match="not available"):
        run(policy, ns, "import string\nstring.Formatter")
    with pytest.raises(AttributeError):
        run(policy, ns, "import json\njson.no_such_name")


def test_template_and_percent_formatting_only_look_up_keys(
    policy: CellPolicy, ns: dict[str, Any]
) -> None:
    code = (
        "import string\n"
        "class T(string.Template):\n"
        "    idpattern = '__class__'\n"
        "print(T('$__class__').substitute({'__class__': 'key, not attribute'}))\n"
        "print('%(__class__)s' % {'__class__': 'key too'})\n"
    )
    assert run(policy, ns, code) == "key, not attribute\nkey too\n"
