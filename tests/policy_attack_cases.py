"""Escape attempts against the code policy, shared by the in-process and in-sandbox tests.

Every attack tries to print a canary: the value of the environment variable
`ACE_POLICY_CANARY`, or `CANARY_FOR_TESTS` planted in the guards' own module. Attacks
marked `leaks_without_policy` are checked to really leak it under plain `exec`, so the
suite cannot pass by attacking nothing.

`host_lookup` stands for a host function injected into the namespace: a plain function
of a module that imports `os`, as kernel helpers are.
"""

from __future__ import annotations

import collections
import contextlib
import io
import json
import os
import re
import string
import textwrap
from dataclasses import dataclass
from typing import Any

import sandbox._policy_guards as guards_module
from sandbox._policy import CellPolicy, PolicyError

CANARY_ENV = "ACE_POLICY_CANARY"


def host_lookup(key: str = "") -> str:
    """A harmless host function, the kind the kernel injects (its module imports os)."""
    return f"looked up {key!r} ({len(os.sep)})"


@dataclass(frozen=True)
class Attack:
    """One escape attempt: a single cell of code."""

    id: str
    category: str
    code: str
    leaks_without_policy: bool = False


_ENV = f"environ.get({CANARY_ENV!r})"
_IMPORT = (
    "b = __builtins__\n"
    "imp = b['__import__'] if isinstance(b, dict) else b.__import__\n"
    f"print(imp('os').{_ENV})\n"
)

ATTACKS: tuple[Attack, ...] = (
    # --- builtins recovery
    Attack("builtins-name", "builtins", _IMPORT, True),
    Attack("builtin-self", "builtins", f"print(print.__self__.__import__('os').{_ENV})", True),
    Attack(
        "builtin-self-getattr",
        "builtins",
        f"m = getattr(len, '__se' + 'lf__')\nprint(m.__import__('os').{_ENV})",
        True,
    ),
    Attack(
        "host-function-globals",
        "builtins",
        f"print(host_lookup.__globals__['os'].{_ENV})",
        True,
    ),
    Attack(
        "host-function-globals-getattr",
        "builtins",
        f"g = getattr(host_lookup, '__glo' + 'bals__')\nprint(g['os'].{_ENV})",
        True,
    ),
    Attack(
        "guard-module-globals",
        "builtins",
        "print(getattr.__globals__['CANARY_FOR_TESTS'])",
    ),
    Attack(
        "guard-closure",
        "builtins",
        "print(print.__closure__[0].cell_contents)",
    ),
    Attack(
        "str-subclass-name",
        "builtins",
        "class N(str):\n"
        "    def __getitem__(self, i):\n"
        "        return 'x'\n"
        "    def startswith(self, prefix):\n"
        "        return False\n"
        f"print(getattr(host_lookup, N('__globals__'))['os'].{_ENV})",
        True,
    ),
    Attack(
        "object-getattribute",
        "builtins",
        f"g = object.__getattribute__(host_lookup, '__globals__')\nprint(g['os'].{_ENV})",
        True,
    ),
    Attack(
        "dict-getitem-builtins",
        "builtins",
        f"imp = dict.__getitem__(__builtins__, '__import__')\nprint(imp('os').{_ENV})",
    ),
    Attack("globals-call", "builtins", "print(globals()['__builtins__'])"),
    Attack("vars-call", "builtins", "print(vars(host_lookup))"),
    Attack("eval-call", "builtins", f"print(eval(\"__import__('os').{_ENV}\"))", True),
    Attack("exec-call", "builtins", f"exec(\"print(__import__('os').{_ENV})\")", True),
    Attack(
        "compile-call",
        "builtins",
        f"c = compile(\"print(__import__('os').{_ENV})\", 'x', 'exec')\nexec(c)",
        True,
    ),
    Attack("open-call", "builtins", "print(open('/etc/hostname').read())"),
    Attack("breakpoint-call", "builtins", "breakpoint()"),
    # --- subclass walks
    Attack(
        "subclass-walk",
        "subclasses",
        "for c in ().__class__.__base__.__subclasses__():\n"
        "    if c.__name__ == '_wrap_close':\n"
        f"        print(c.__init__.__globals__['environ'].get({CANARY_ENV!r}))\n",
        True,
    ),
    Attack(
        "subclass-walk-mro",
        "subclasses",
        "root = type(1).mro()[-1]\n"
        "for c in getattr(root, '__subcl' + 'asses__')():\n"
        "    if c.__name__ == '_wrap_close':\n"
        f"        print(c.__init__.__globals__['environ'].get({CANARY_ENV!r}))\n",
        True,
    ),
    Attack("object-subclasses", "subclasses", "print(object.__subclasses__())"),
    Attack("type-bases", "subclasses", "print(type(1).__bases__, type(1).__mro__)"),
    # --- frames, tracebacks, generators, code objects
    Attack(
        "generator-frame",
        "frames",
        f"g = (x for x in [1])\nprint(g.gi_frame.f_builtins['__import__']('os').{_ENV})",
        True,
    ),
    Attack(
        "generator-frame-getattr",
        "frames",
        "g = (x for x in [1])\n"
        "f = getattr(g, 'gi_' + 'frame')\n"
        f"print(getattr(f, 'f_' + 'builtins')['__import__']('os').{_ENV})",
        True,
    ),
    Attack(
        "traceback-frame",
        "frames",
        "try:\n"
        "    1 / 0\n"
        "except ZeroDivisionError as e:\n"
        "    fr = e.__traceback__.tb_frame\n"
        f"    print(fr.f_builtins['__import__']('os').{_ENV})",
        True,
    ),
    Attack(
        "code-object-consts",
        "frames",
        "def f():\n    return 'x'\nprint(f.__code__.co_consts)",
    ),
    Attack(
        "code-object-rebuild",
        "frames",
        f"src = lambda: __import__('os').{_ENV}\n"
        "F = type(src)\n"
        "b = __builtins__\n"
        "g = {'__builtins__': b}\n"
        "print(F(src.__code__, g)())",
        True,
    ),
    Attack(
        "function-defaults",
        "frames",
        "def f(a=[]):\n    return a\nprint(f.__defaults__)",
    ),
    # --- format strings
    Attack(
        "format-walk",
        "format",
        f"print('{{0.__globals__[os].environ[{CANARY_ENV}]}}'.format(host_lookup))",
        True,
    ),
    Attack(
        "format-walk-dynamic",
        "format",
        f"f = '{{0.__glo' + 'bals__[os].environ[{CANARY_ENV}]}}'\nprint(f.format(host_lookup))",
        True,
    ),
    Attack(
        "format-map-walk",
        "format",
        f"f = '{{h.__glo' + 'bals__[os].environ[{CANARY_ENV}]}}'\n"
        "print(f.format_map({'h': host_lookup}))",
        True,
    ),
    Attack(
        "str-format-unbound",
        "format",
        f"f = '{{0.__glo' + 'bals__[os].environ[{CANARY_ENV}]}}'\nprint(str.format(f, host_lookup))",
        True,
    ),
    Attack(
        "format-nested-spec",
        "format",
        f"f = '{{0:{{1.__glo' + 'bals__[os].environ[{CANARY_ENV}]}}}}'\n"
        "print(f.format('x', host_lookup))",
    ),
    Attack(
        "format-partial",
        "format",
        "import functools\n"
        f"f = '{{0.__glo' + 'bals__[os].environ[{CANARY_ENV}]}}'\n"
        "print(functools.partial(str.format, f)(host_lookup))",
        True,
    ),
    Attack(
        "format-super",
        "format",
        "class S(str):\n"
        "    def fmt(self):\n"
        "        return super().format\n"
        f"f = S('{{0.__glo' + 'bals__[os].environ[{CANARY_ENV}]}}')\n"
        "print(f.fmt()(host_lookup))",
        True,
    ),
    Attack(
        "formatter-get-field",
        "format",
        "import string\n"
        "obj, _ = string.Formatter().get_field('0.__globals__', [host_lookup], {})\n"
        f"print(obj['os'].{_ENV})",
        True,
    ),
    Attack(
        "formatter-vformat",
        "format",
        "import string\n"
        f"print(string.Formatter().vformat('{{0.__globals__[os].environ[{CANARY_ENV}]}}', "
        "[host_lookup], {}))",
        True,
    ),
    Attack(
        "methodcaller-format",
        "format",
        "import operator\n"
        f"call = operator.methodcaller('format', host_lookup)\n"
        f"print(call('{{0.__glo' + 'bals__[os].environ[{CANARY_ENV}]}}'))",
        True,
    ),
    # --- guard names: shadowing and rebinding
    Attack(
        "posonly-guard-param",
        "guard-names",
        "def f(_getattr_, /):\n"
        f"    return host_lookup.__globals__['os'].{_ENV}\n"
        "print(f(lambda o, n: 0))",
        True,
    ),
    Attack(
        "lambda-guard-default",
        "guard-names",
        "f = lambda _write_=None: host_lookup\nprint(f())",
    ),
    Attack("rebind-guard", "guard-names", "_getattr_ = lambda o, n: 0\nprint(1)"),
    Attack("global-guard", "guard-names", "def f():\n    global _write_\n    _write_ = 0\nf()"),
    Attack("comprehension-guard", "guard-names", "print([_getattr_ for _getattr_ in [1]])"),
    Attack(
        "except-guard-name",
        "guard-names",
        "try:\n    1 / 0\nexcept Exception as _getattr_:\n    pass",
    ),
    Attack("import-as-guard", "guard-names", "import json as _getattr_"),
    Attack("delete-builtins", "guard-names", "del __builtins__"),
    # --- C-level iteration and callables that read attributes
    Attack(
        "attrgetter",
        "c-level",
        f"import operator\nprint(operator.attrgetter('__globals__')(host_lookup)['os'].{_ENV})",
        True,
    ),
    Attack(
        "sorted-attrgetter",
        "c-level",
        "from operator import attrgetter\n"
        "print(sorted([host_lookup], key=attrgetter('__globals__')))",
    ),
    Attack(
        "map-getattr",
        "c-level",
        f"g = list(map(getattr, [host_lookup], ['__globals__']))[0]\nprint(g['os'].{_ENV})",
        True,
    ),
    Attack(
        "reduce-getattr",
        "c-level",
        "import functools\n"
        f"g = functools.reduce(getattr, ['__globals__'], host_lookup)\nprint(g['os'].{_ENV})",
        True,
    ),
    Attack(
        "iter-sentinel-getattr",
        "c-level",
        "it = iter(lambda: getattr(host_lookup, '__globals__'), None)\n"
        f"print(next(it)['os'].{_ENV})",
        True,
    ),
    Attack(
        "update-wrapper-globals",
        "c-level",
        "import functools\n"
        "def f():\n    pass\n"
        "functools.update_wrapper(f, host_lookup, assigned=(), updated=('__globals__',))\n"
        f"print(os.{_ENV})",
        True,
    ),
    Attack(
        "singledispatch-annotation-eval",
        "c-level",
        "import functools\n"
        "@functools.singledispatch\n"
        "def f(x):\n    pass\n"
        f"def g(x: \"print(__import__('os').{_ENV})\"):\n    pass\n"
        "f.register(g)",
        True,
    ),
    Attack(
        "reduce-ex",
        "c-level",
        "print(host_lookup.__reduce_ex__(2))",
    ),
    # --- imports
    Attack("import-os", "imports", f"import os\nprint(os.{_ENV})", True),
    Attack("import-dunder", "imports", f"print(__import__('os').{_ENV})", True),
    Attack("import-sys", "imports", f"import sys\nprint(sys.modules['os'].{_ENV})", True),
    Attack("import-submodule", "imports", "import json.decoder\nprint(json.decoder)"),
    Attack("import-relative", "imports", "from . import json"),
    Attack(
        "import-private-name",
        "imports",
        f"from collections import _sys\nprint(_sys.modules['os'].{_ENV})",
        True,
    ),
    Attack(
        "module-attribute-submodule",
        "imports",
        f"import re\nprint(re.enum.sys.modules['os'].{_ENV})",
        True,
    ),
    Attack(
        "module-attribute-codecs",
        "imports",
        f"import json\nprint(json.codecs.sys.modules['os'].{_ENV})",
        True,
    ),
    Attack(
        "module-view-internals",
        "imports",
        "import json\nprint(getattr(json, '_mem' + 'bers'))",
    ),
    # --- module and class poisoning (checked on the host's modules afterwards)
    Attack("poison-module-function", "poisoning", "import json\njson.loads = lambda s: 'pwned'"),
    Attack("poison-setattr-module", "poisoning", "import json\nsetattr(json, 'dumps', len)"),
    Attack("poison-delete-module-attr", "poisoning", "import re\ndel re.compile"),
    Attack(
        "poison-class-method",
        "poisoning",
        "import json\njson.JSONDecoder.decode = lambda self, s: 'pwned'",
    ),
    Attack(
        "poison-class-setattr",
        "poisoning",
        "from collections import Counter\nsetattr(Counter, 'most_common', len)",
    ),
    Attack(
        "poison-class-shared-dict",
        "poisoning",
        "import textwrap\ntextwrap.TextWrapper.unicode_whitespace_trans.clear()",
    ),
    Attack(
        "poison-subclass-shared-dict",
        "poisoning",
        "import textwrap\n"
        "class T(textwrap.TextWrapper):\n    pass\n"
        "T().unicode_whitespace_trans[32] = 88",
    ),
    Attack(
        "poison-instance-shared-dict",
        "poisoning",
        "import textwrap\nt = textwrap.TextWrapper()\nt.unicode_whitespace_trans |= {32: 88}",
    ),
    Attack("poison-enum-member", "poisoning", "import re\nre.I.bit_length = None"),
    Attack(
        "poison-abc-register",
        "poisoning",
        "import collections\ncollections.UserDict.register(dict)",
    ),
    Attack(
        "poison-abc-register-cell-subclass",
        "poisoning",
        "import collections\nclass D(collections.UserDict):\n    pass\nD.register(dict)",
    ),
    Attack(
        "poison-abc-register-unbound",
        "poisoning",
        "import collections\nr = getattr(collections.UserDict, 'register')\nr(dict)",
    ),
    Attack(
        "poison-total-ordering",
        "poisoning",
        "import functools, json\nfunctools.total_ordering(json.JSONDecoder)",
    ),
    Attack("poison-host-function", "poisoning", "host_lookup.cached = 1"),
    # --- classes: metaclasses, hooks, type()
    Attack(
        "metaclass-keyword", "classes", "class M(type):\n    pass\nclass A(metaclass=M):\n    pass"
    ),
    Attack("metaclass-subclass-type", "classes", "class M(type):\n    pass"),
    Attack(
        "getattribute-hook",
        "classes",
        "class A:\n    def __getattribute__(self, name):\n        return 1",
    ),
    Attack(
        "init-subclass-hook",
        "classes",
        "class A:\n    def __init_subclass__(cls):\n        pass",
    ),
    Attack(
        "class-getitem-hook",
        "classes",
        "class A:\n    def __class_getitem__(cls, item):\n        return item",
    ),
    Attack(
        "reduce-hook", "classes", "class A:\n    def __reduce__(self):\n        return (print, ())"
    ),
    Attack("del-hook", "classes", "class A:\n    def __del__(self):\n        pass"),
    Attack("slots-assignment", "classes", "class A:\n    __slots__ = ('x',)"),
    Attack(
        "type-three-args",
        "classes",
        "A = type('A', (), {'__getattribute__': lambda self, n: 1})\nprint(A)",
    ),
    Attack(
        "type-of-type",
        "classes",
        "T = type(int)\nA = T('A', (), {'__init_subclass__': classmethod(lambda cls: 0)})",
    ),
    Attack("subclass-super", "classes", "class S(super):\n    pass"),
    Attack(
        "decorator-walk",
        "classes",
        "@host_lookup.__globals__['os'].getenv\ndef f():\n    pass",
    ),
    Attack("dunder-on-builtin", "classes", "print([].__init__.__self__)"),
    Attack("super-dunder", "classes", "print(super(int, 5).__init__)"),
    # --- syntax the policy refuses outright
    Attack("try-star", "syntax", "try:\n    pass\nexcept* ValueError:\n    pass"),
    Attack("async-def", "syntax", "async def f():\n    pass"),
    Attack("match-capture", "syntax", "match 1:\n    case _getattr_:\n        pass"),
    Attack("print-to-file", "builtins", "print('x', file=host_lookup)"),
    # --- library methods that forward a caller's format string to the real str.format
    Attack(
        "userstring-format-walk",
        "format",
        "import collections\n"
        "u = collections.UserString('{0.__globals__[os].environ[ACE_POLICY_CANARY]}')\n"
        "print(u.format(host_lookup))",
        True,
    ),
    Attack(
        "userstring-format-map-walk",
        "format",
        "import collections\n"
        "u = collections.UserString('{f.__globals__[os].environ[ACE_POLICY_CANARY]}')\n"
        "print(u.format_map({'f': host_lookup}))",
        True,
    ),
    Attack(
        "userstring-format-unbound",
        "format",
        "import collections\n"
        "u = collections.UserString('{0.__globals__[os].environ[ACE_POLICY_CANARY]}')\n"
        "print(collections.UserString.format(u, host_lookup))",
        True,
    ),
    Attack(
        "userstring-subclass-format",
        "format",
        "import collections\nclass U(collections.UserString):\n    pass\n"
        "print(U('{0.__globals__[os].environ[ACE_POLICY_CANARY]}').format(host_lookup))",
        True,
    ),
)


def host_state() -> dict[str, Any]:
    """What a poisoning attack would change in the host's own modules."""
    return {
        "json.loads": json.loads,
        "json.dumps": json.dumps,
        "re.compile": re.compile,
        "JSONDecoder.decode": json.JSONDecoder.decode,
        "Counter.most_common": collections.Counter.most_common,
        "TextWrapper.trans": dict(textwrap.TextWrapper.unicode_whitespace_trans),
        "re.I.bit_length": re.I.bit_length(),
        "UserDict.register": isinstance({}, collections.UserDict),
        "JSONDecoder.__lt__": "__lt__" in vars(json.JSONDecoder),
        "host_lookup.cached": hasattr(host_lookup, "cached"),
        "string.Template.delimiter": string.Template.delimiter,
    }


def assert_still_guarded(policy: CellPolicy, namespace: dict[str, Any]) -> None:
    """The policy and the namespace still run cells, and the guards still refuse.

    The probes in the attacked namespace use no global names: a cell may legitimately
    rebind `print` or `getattr` in its own namespace.
    """
    fresh = policy.new_namespace()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        policy.exec(policy.compile("print(sum(range(10)))", "<probe>"), fresh)
        policy.exec(policy.compile("probe_value = [1, 2][::-1]", "<probe>"), namespace)
    assert out.getvalue() == "45\n" and namespace["probe_value"] == [2, 1]
    for ns in (fresh, namespace):
        try:
            policy.exec(policy.compile("('{0.__cla' + 'ss__}').format(1)", "<probe>"), ns)
        except PolicyError:
            pass
        else:
            raise AssertionError("the guards no longer refuse __class__")
    hooks = namespace["__builtins__"]
    assert hooks["_getattr_"] is hooks["getattr"] is guards_module.guarded_getattr
    assert hooks["_write_"] is guards_module.guarded_write
    assert hooks["__build_class__"] is guards_module.guarded_build_class
