"""The Recursive Reflector and the single-pass Reflector with the real local model.

Quality is not asserted (a 1.5B model on two cores); robustness is: whatever code or
JSON the weak model writes, each reflector returns a valid ``ReflectorOutput`` and a
record of what was said.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest
from local_model_support import require_local_model, wait_gone

from ace import AgentOutput, Reflector, ReflectorOutput, Skillbook
from ace.llm import LLMClient, LLMResponse, RequestInfo
from ace.local_model import running_server, stop_servers
from ace.rr import RRConfig, RRStep, Transcript
from ace.traces import Trace, load_labelled_trace

pytestmark = pytest.mark.slow

SHORTEST = resources.files("ace.cli") / "demo_data" / "who_and_when_algorithm_generated_47.json"
"""The shortest algorithm-generated Who&When trace (6.5 kB), bundled with the demo."""


@pytest.fixture(scope="module")
def trace() -> Iterator[Trace]:
    require_local_model()
    yield load_labelled_trace(json.loads(SHORTEST.read_text())).trace
    server = running_server()
    stop_servers()
    if server is not None:
        assert wait_gone(server.pid)


class Recorder:
    """An ``LLMClient`` observer keeping every request and reply: a call transcript."""

    def __init__(self) -> None:
        self.exchanges: list[tuple[RequestInfo, LLMResponse | BaseException]] = []
        self._lock = threading.Lock()

    def before_attempt(self, info: RequestInfo) -> None:
        pass

    def after_attempt(self, info: RequestInfo, outcome: LLMResponse | BaseException) -> None:
        with self._lock:
            self.exchanges.append((info, outcome))


def test_recursive_reflector_with_the_local_model(trace: Trace, tmp_path: Path) -> None:
    # Small budgets keep this under a few minutes on 2 cores; robustness, not quality.
    config = RRConfig(
        max_iterations=2,
        max_llm_calls=4,
        main_max_tokens=320,
        subagent_max_tokens=160,
        max_context_chars=16_000,
        preview_chars=120,
        timeout=60,
        temperature=0.6,
    )
    events: list[str] = []
    result = RRStep("local/qwen2.5-coder-1.5b", config).analyse(
        trace, on_progress=lambda event: events.append(event.phase)
    )

    assert isinstance(result.reflection, ReflectorOutput)
    ReflectorOutput.model_validate(result.reflection.model_dump())
    transcript = result.transcript
    assert transcript.outcome != "running"
    assert transcript.iterations, "the model was asked at least once"
    assert all(it.reply for it in transcript.iterations)
    assert transcript.usage.get("cost_usd") in (0, 0.0, None)
    saved = transcript.save(tmp_path / "rr.json")
    assert Transcript.load(saved).outcome == transcript.outcome
    assert "model" in events


def test_single_pass_reflector_with_the_local_model(trace: Trace) -> None:
    recorder = Recorder()
    client = LLMClient("local/qwen2.5-coder-1.5b", max_tokens=400).with_observers(recorder)
    output = Reflector(client, max_trace_chars=6_000).reflect(
        question=trace.question or "",
        agent_output=AgentOutput(final_answer=trace.final_answer or ""),
        skillbook=Skillbook(),
        ground_truth=trace.ground_truth,
        feedback=trace.feedback,
        trace=trace,
    )

    assert isinstance(output, ReflectorOutput)
    ReflectorOutput.model_validate(output.model_dump())
    assert recorder.exchanges
    info, reply = recorder.exchanges[-1]
    assert info.model == "local/qwen2.5-coder-1.5b"
    assert isinstance(reply, LLMResponse) and reply.text
