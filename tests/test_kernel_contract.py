"""The ``sandbox.Kernel`` contract, run against every backend: the real ``Sandbox`` and the
test-only ``UnsafeInProcessKernel`` (no walls; never importable from ``ace`` or ``sandbox``).

Each test states one clause of the contract (``sandbox/_contract.py``, exported as
``sandbox.Kernel``); a second backend (a remote kernel, a container) passes this file
before the RR can use it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from _unsafe_kernel import UnsafeInProcessKernel

from ace.rr import RRConfig, RRStep
from ace.testing import ScriptedModel, explore_then_final, reflection
from ace.traces import Trace
from sandbox import (
    ExecutionResult,
    FetchError,
    IsolationReport,
    Kernel,
    Sandbox,
    SandboxClosedError,
    SandboxConfig,
    SandboxConfigError,
)

REPO = Path(__file__).resolve().parent.parent
TIMEOUT_S = 1.0

BACKENDS: dict[str, Callable[[], Kernel]] = {
    "sandbox": lambda: Sandbox(SandboxConfig(timeout_s=TIMEOUT_S)),
    "in_process_unsafe": lambda: UnsafeInProcessKernel(timeout_s=TIMEOUT_S),
}


@pytest.fixture(params=sorted(BACKENDS))
def make(request: pytest.FixtureRequest) -> Iterator[Callable[[], Kernel]]:
    made: list[Kernel] = []

    def factory() -> Kernel:
        kernel = BACKENDS[request.param]()
        made.append(kernel)
        return kernel

    yield factory
    for kernel in made:
        kernel.close()


@pytest.fixture
def kernel(make: Callable[[], Kernel]) -> Kernel:
    started = make()
    started.start()
    return started


def test_every_backend_is_a_kernel(kernel: Kernel) -> None:
    assert isinstance(kernel, Kernel)
    assert isinstance(kernel.isolation, IsolationReport)


def test_cells_share_one_namespace_and_failures_are_results(kernel: Kernel) -> None:
    first = kernel.execute("x = 20\nprint('out')")
    assert isinstance(first, ExecutionResult) and first.ok and first.stdout == "out\n"
    second = kernel.execute("print(x + 22)\nraise ValueError('bad value')")
    assert second.stdout == "42\n"
    assert second.error is not None and not second.ok
    assert (second.error.type, second.error.message) == ("ValueError", "bad value")
    assert kernel.execute("print(x)").stdout == "20\n"
    with pytest.raises(SandboxConfigError):
        kernel.execute(b"print(1)")  # type: ignore[arg-type]


def test_inject_places_a_copy_of_json_data(kernel: Kernel) -> None:
    value = {"steps": [{"content": "a"}], "n": 1}
    kernel.inject("data", value)
    value["n"] = 2
    assert kernel.execute("print(data['n'], data['steps'][0]['content'])").stdout == "1 a\n"
    kernel.execute("data['n'] = 99")
    assert value["n"] == 2
    kernel.inject("data", [1, 2])  # a second injection replaces the first
    assert kernel.execute("print(data)").stdout == "[1, 2]\n"
    with pytest.raises(SandboxConfigError):
        kernel.inject("not a name", 1)
    with pytest.raises(SandboxConfigError):
        kernel.inject("thing", {1, 2})


def test_fetch_returns_json_data_or_says_why_not(kernel: Kernel) -> None:
    kernel.execute("result = {'a': [1, 2.5, None, True], 'b': 'text'}\nodd = {'s': {1}}")
    assert kernel.fetch("result") == {"a": [1, 2.5, None, True], "b": "text"}
    assert kernel.fetch("odd") == {"s": "{1}"}  # non-JSON leaves become their str()
    kernel.execute("big = 'x' * 5000\ndeep = [[[[[[1]]]]]]")
    for name, options in (
        ("missing", {}),
        ("big", {"max_bytes": 100}),
        ("deep", {"max_depth": 3}),
    ):
        with pytest.raises(FetchError) as caught:
            kernel.fetch(name, **options)
        assert isinstance(caught.value, ValueError) and name in str(caught.value)
    with pytest.raises(SandboxConfigError):
        kernel.fetch("not a name")


def test_host_functions_take_and_give_json_and_name_their_failures(kernel: Kernel) -> None:
    seen: list[Any] = []

    def record(value: Any = None, *, tag: str = "") -> dict[str, Any]:
        seen.append((value, tag))
        return {"got": value, "tag": tag}

    def refuse(reason: str = "") -> None:
        raise RuntimeError(f"refused: {reason}")

    kernel.register_host_function("record", record)
    kernel.register_host_function("refuse", refuse)
    ok = kernel.execute("r = record([1, 'two'], tag='t')\nprint(r['got'], r['tag'])")
    assert ok.ok and ok.stdout == "[1, 'two'] t\n" and seen == [([1, "two"], "t")]
    failed = kernel.execute("refuse('no budget')")
    assert failed.error is not None
    assert all(part in failed.error.message for part in ("refuse", "RuntimeError", "no budget"))
    not_json = kernel.execute("record({1, 2})")
    assert not_json.error is not None and "JSON" in not_json.error.message
    with pytest.raises(SandboxConfigError):
        kernel.register_host_function("bad name", record)


def test_host_calls_pause_the_clock_unless_charged(kernel: Kernel) -> None:
    def wait(seconds: float = 0.0, charge: bool = False) -> str:
        time.sleep(seconds)
        if charge:
            kernel.charge_cell_time(seconds)
        return "done"

    kernel.register_host_function("wait", wait)
    paused = kernel.execute(f"print(wait({TIMEOUT_S * 1.5}))")
    assert paused.ok and paused.stdout == "done\n"
    charged = kernel.execute(
        f"wait({TIMEOUT_S * 1.5}, charge=True)\nfor i in range(10**9):\n    pass"
    )
    assert charged.timed_out and charged.error is not None
    assert charged.error.type == "SandboxTimeout"


def test_a_runaway_cell_times_out_and_the_kernel_goes_on(kernel: Kernel) -> None:
    kernel.execute("kept = 7")
    result = kernel.execute("while True:\n    pass")
    assert result.timed_out and result.error is not None
    assert result.error.type == "SandboxTimeout"
    assert kernel.execute("print(kept)").stdout == "7\n"


def test_definitions_run_out_of_the_cells_reach_and_survive_restarts(kernel: Kernel) -> None:
    kernel.inject("numbers", [3, 4])
    kernel.execute("len = None\nsum = None")  # a cell shadows builtins
    defined = kernel.define(
        "def total():\n    return sum(numbers) + len(numbers)\n_private = 1\nPUBLIC = 2\n"
    )
    assert defined.ok
    assert kernel.execute("print(total(), PUBLIC)").stdout == "9 2\n"
    assert kernel.execute("print(_private)").error is not None
    kernel.execute("mine = 1")
    kernel.restart()
    assert kernel.execute("print(total(), numbers)").stdout == "9 [3, 4]\n"
    gone = kernel.execute("print(mine)")
    assert gone.error is not None and gone.error.type == "NameError"


def test_restart_keeps_host_functions(kernel: Kernel) -> None:
    kernel.register_host_function("echo", lambda value=None: value)
    kernel.restart()
    assert kernel.execute("print(echo('back'))").stdout == "back\n"


def test_close_is_final_and_idempotent(make: Callable[[], Kernel]) -> None:
    kernel = make()
    assert kernel.execute("print(1)").stdout == "1\n"  # starts on first use
    kernel.close()
    kernel.close()
    with pytest.raises(SandboxClosedError):
        kernel.execute("print(1)")
    with pytest.raises(SandboxClosedError):
        kernel.start()


def test_the_in_process_kernel_is_marked_unsafe_and_reports_no_walls() -> None:
    kernel = UnsafeInProcessKernel()
    kernel.start()
    assert kernel.unsafe is True
    assert kernel.isolation.active == () and kernel.isolation.launcher == "none"


def test_the_unsafe_kernel_cannot_be_reached_from_the_packages() -> None:
    for root in ("ace", "sandbox"):
        for path in (REPO / root).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            assert "UnsafeInProcessKernel" not in text and "_unsafe_kernel" not in text, path
    assert not (REPO / "ace" / "_unsafe_kernel.py").exists()


def _small_trace() -> Trace:
    return Trace.model_validate(
        {
            "id": "contract",
            "format": "ace",
            "question": "What is 6 * 7?",
            "final_answer": "41",
            "ground_truth": "42",
            "steps": [
                {"index": 0, "content": "Multiply 6 by 7.", "agent": "planner"},
                {"index": 1, "content": "The tool returned 41.", "agent": "calculator"},
            ],
        }
    )


def _replies() -> list[str]:
    return [
        "Let me think.",
        *explore_then_final(
            ["print(len(trace), trace.agents())\nprint(trace.text(1))"],
            f"answer = {reflection('calculator', 1)!r}\nFINAL_VAR('answer')",
        ),
    ]


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_an_rr_session_reads_the_same_on_every_backend(backend: str) -> None:
    """The RR is typed against ``Kernel``: the same scripted session sends the same
    messages and ends the same way whichever backend runs its cells."""
    model = ScriptedModel(_replies())
    step = RRStep(model.name, RRConfig(max_iterations=4), kernel_factory=BACKENDS[backend])
    result = step.analyse(_small_trace())
    assert result.transcript.outcome == "final"
    attribution = result.reflection.attribution
    assert attribution is not None and (attribution.agent, attribution.step) == ("calculator", 1)
    outputs = [it.stdout for it in result.transcript.iterations]
    assert outputs == ["", "2 ['planner', 'calculator']\nThe tool returned 41.\n", ""]
    if backend == "in_process_unsafe":
        assert result.transcript.isolation["active"] == []
    requests = [json.dumps(r.messages) for r in model.requests]
    assert all("<<<DATA-" in text for text in requests[1:])
    assert "No code found" in model.requests[1].messages[-1]["content"]
