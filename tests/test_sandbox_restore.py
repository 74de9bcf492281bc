"""State restore after a kernel death: what comes back, what is named as lost, what never
runs again. Kernels are killed from the host by their own pid (never a group, never -1).
"""

from __future__ import annotations

import os
import shutil
import signal
import time

import pytest
from conftest import skip_missing_system_package

from sandbox import Sandbox, SandboxConfig
from sandbox._kernel_state import estimate_json_bytes
from sandbox._restore import SessionState

SESSION = """
import json
from collections import Counter
counts = {"a": 1, "nested": [1, 2.5, None, True, "é"]}
THRESHOLD = 5
def scaled(x, factor=THRESHOLD):
    return x * factor
def shout(fn):
    return lambda *args: str(fn(*args)).upper()
@shout
def greet(name):
    return "hi " + name
class Box:
    def __init__(self, value):
        self.value = value
    def double(self):
        return Box(self.value * 2)
box = Box(3)
pair = (1, 2)
gone = 1
del gone
"""
CHECK = (
    "print(counts, scaled(2), greet('x'), Box(4).double().value, Counter('aab')['a'], "
    "json.dumps(THRESHOLD), traces['n'], ask('q'))"
)
EXPECTED = "{'a': 2, 'nested': [1, 2.5, None, True, 'é']} 10 HI X 8 2 5 7 answer to q\n"


def bwrap_config(**changes: object) -> SandboxConfig:
    if shutil.which("bwrap") is None:
        skip_missing_system_package("bubblewrap")
    options: dict[str, object] = {"launcher": "bwrap", "require_isolation": True}
    options.update(changes)
    return SandboxConfig(**options)  # type: ignore[arg-type]


def kill_kernel(box: Sandbox) -> None:
    """SIGKILL the innermost process of the kernel's tree (the Python kernel itself)."""
    pid = box.kernel_pids()[-1]
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while box._kernel_alive() and time.monotonic() < deadline:
        time.sleep(0.02)


def prepared(box: Sandbox, calls: list[str]) -> None:
    box.inject("traces", {"n": 7})

    def ask(question: str) -> str:
        calls.append(question)
        return f"answer to {question}"

    box.register_host_function("ask", ask)
    assert box.execute(SESSION).ok
    first = box.execute("counts['a'] += 1\nasked = ask('once')")
    assert first.ok, first.error


@pytest.mark.parametrize("policy", ["restricted", "none"])
def test_a_killed_kernel_restores_state_and_the_next_cell_sees_it(policy: str) -> None:
    calls: list[str] = []
    with Sandbox(bwrap_config(policy=policy)) as box:
        prepared(box, calls)
        old = set(box.kernel_pids())
        kill_kernel(box)
        result = box.execute(CHECK)
        assert set(box.kernel_pids()).isdisjoint(old)
        assert result.ok, result.error
        assert result.stdout == EXPECTED
        assert result.restarted
        assert set(result.restored) == {
            "json", "Counter", "counts", "THRESHOLD", "scaled", "shout", "greet", "Box", "asked"
        }  # fmt: skip
        assert result.lost == ("box", "pair")  # an instance of a cell class; a tuple
        assert box.execute("print(asked)").stdout == "answer to once\n"
        assert calls == ["once", "q"]  # the host call of the earlier cell was not replayed
        assert not box.execute("1").restarted  # reported once


def test_a_stubborn_cell_is_killed_and_the_state_before_it_comes_back() -> None:
    stubborn = (
        "counts['a'] = 100\nlater = 1\nwhile True:\n    try:\n        while True:\n"
        "            pass\n    except KeyboardInterrupt:\n        pass"
    )
    calls: list[str] = []
    with Sandbox(bwrap_config(timeout_s=1.0, interrupt_grace_s=0.3)) as box:
        prepared(box, calls)
        result = box.execute(stubborn)
        assert result.timed_out and result.restarted
        assert result.error is not None and "killed and restarted" in result.error.message
        assert "restored: Box, Counter, THRESHOLD, asked" in result.error.message
        assert "lost (not JSON data" in result.error.message and "box, pair" in result.error.message
        after = box.execute(CHECK + "\nprint(later)")
        assert after.stdout == EXPECTED  # counts as the last finished cell left it
        assert after.error is not None and after.error.type == "NameError"


def test_the_size_cap_names_what_does_not_fit() -> None:
    with Sandbox(bwrap_config(restore_max_bytes=10_000)) as box:
        code = "small = list(range(10))\nbig = 'x' * 20_000\nhuge = [{'t': 'y' * 100}] * 10**6"
        assert box.execute(code).ok
        kill_kernel(box)
        result = box.execute("print(small)")
        assert result.stdout == "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]\n"
        assert result.restored == ("small",) and result.lost == ("big", "huge")
    with Sandbox(bwrap_config(restore_max_bytes=0)) as box:
        assert box.execute("value = 1\ndef f():\n    return 2").ok
        kill_kernel(box)
        result = box.execute("print(f())")
        assert result.stdout == "2\n" and result.restored == ("f",) and result.lost == ("value",)


def test_a_definition_that_fails_to_rerun_is_lost_and_the_rest_comes_back() -> None:
    code = (
        "class Tool:\n    def wrap(self, fn):\n        return fn\n"
        "tool = Tool()\n@tool.wrap\ndef helper():\n    return 1\nkept = 2"
    )
    with Sandbox(bwrap_config()) as box:
        assert box.execute(code).ok
        kill_kernel(box)
        result = box.execute("print(kept)")
        assert result.stdout == "2\n"
        assert result.restored == ("Tool", "kept") and result.lost == ("helper", "tool")


def test_definitions_of_a_failing_cell_count_when_they_ran() -> None:
    with Sandbox(bwrap_config()) as box:
        result = box.execute(
            "def before():\n    return 1\nraise ValueError('x')\ndef after():\n    pass"
        )
        assert result.error is not None
        kill_kernel(box)
        result = box.execute("print(before())")
        assert result.stdout == "1\n" and result.restored == ("before",) and result.lost == ()


def test_a_deliberate_restart_empties_the_namespace() -> None:
    with Sandbox(bwrap_config()) as box:
        box.execute("x = 1")
        box.restart()
        result = box.execute("print(x)")
        assert result.error is not None and result.error.type == "NameError"
        assert not result.restarted and result.restored == ()
        kill_kernel(box)
        assert box.execute("1").lost == ()


def test_session_state_ignores_malformed_deltas_and_false_claims() -> None:
    state = SessionState(max_bytes=100)
    state.apply({"set": {"a": "1", "bad name": "2", "b": 3}, "defs": [["f", "def f(): pass"], 4]})
    state.apply(["not", "a", "dict"])
    state.apply({"unrestorable": ["obj", 5], "drop": "a"})
    assert state.globals == {"a": "1"} and state.definitions == [("f", "def f(): pass")]
    assert state.names() == ["a", "f", "obj"]
    state.apply({"set": {"big": '"' + "x" * 200 + '"'}})
    assert "big" not in state.globals and "big" in state.unrestorable  # over the host's cap
    restored, lost = state.settle({"restored": ["a", "f", "never_sent"]})
    assert restored == ("a", "f") and lost == ("big", "obj")


def test_the_size_estimate_is_cheap_and_in_the_right_range() -> None:
    value = [{"text": "z" * 100, "n": i} for i in range(100_000)]
    started = time.perf_counter()
    estimate = estimate_json_bytes(value)
    assert time.perf_counter() - started < 0.01
    assert 5_000_000 < estimate < 30_000_000  # the JSON is ~11.7 MB
