"""The RR session's one error rule under hostile values: whatever the model, the kernel or
the trace send (lone surrogates, integers of thousands of digits, deep nesting, digits of
other scripts, huge strings), `analyse()` returns a reflection, the transcript saves, both
viewers render, and nothing unencodable reaches the reflection. Input the caller passed
that cannot be read raises before any model call.

Each path runs real sessions (real kernel, real policy, real litellm path) with one
`RRStep` per test whose scripted model reads from a list the example fills.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ace.errors import TraceFormatError
from ace.rr import RRConfig, RRResult, RRStep
from ace.testing import FunctionModel, code_reply
from ace.testing.models import RecordedRequest
from ace.traces import Trace, load_trace
from ace.viewer import make_console, print_transcript, render_html

pytestmark = pytest.mark.slow

SURROGATES = ["\ud800", "\udfff", "a\udc80b"]
ODD_DIGITS = ["٥", "۱۲", "௫", "9" * 5000, "step 3", "-4", ""]

texts = st.one_of(
    st.text(max_size=30),
    st.sampled_from(SURROGATES),
    st.sampled_from(["x" * 300_000, "[" * 3000, "{" * 3000]),
)
integers = st.one_of(
    st.integers(), st.integers(min_value=2**63, max_value=2**300), st.just(10**4000)
)
leaves = st.one_of(
    texts, integers, st.none(), st.booleans(), st.floats(allow_nan=False, allow_infinity=False)
)
values = st.recursive(
    leaves,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
steps = st.one_of(integers, st.sampled_from(ODD_DIGITS), texts)


def reflection_of(field: Any, step: Any) -> dict[str, Any]:
    return {
        "reasoning": field,
        "error_identification": "the agent misread the tool output",
        "key_insight": field,
        "attribution": {"agent": field, "step": step, "reason": field},
        "extracted_learnings": [{"learning": field, "evidence": "e"}],
    }


def as_python_literal(value: Any) -> str:
    """Code that rebuilds `value` in the kernel (JSON text: escapes carry surrogates)."""
    return f"json.loads({json.dumps(json.dumps(value))})"


class Script:
    """Replies for the current example; the model answers from it in order."""

    def __init__(self) -> None:
        self.replies: list[str] = []

    def __call__(self, request: RecordedRequest) -> str:
        if not self.replies:
            return code_reply("print('nothing more to say')")
        return self.replies.pop(0)


@pytest.fixture(scope="module")
def session() -> Iterator[tuple[Script, RRStep]]:
    script = Script()
    model = FunctionModel(script)
    step = RRStep(model.name, RRConfig(max_iterations=3, max_llm_calls=8, timeout=10))
    yield script, step
    step.close()


def a_trace() -> Trace:
    return Trace.model_validate(
        {"id": "t", "format": "ace", "question": "2+2?", "steps": [{"index": 0, "content": "5"}]}
    )


def check(result: RRResult, tmp_path: Path) -> None:
    """Returned, saves, renders, and holds nothing that cannot be encoded."""
    reflection = result.reflection
    reflection.model_dump_json().encode("utf-8")
    if reflection.attribution is not None and reflection.attribution.step is not None:
        assert 0 <= reflection.attribution.step < 10**9
    saved = result.transcript.save(tmp_path / "t.json")
    json.loads(saved.read_text(encoding="utf-8"))
    render_html(result.transcript).encode("utf-8")
    console = make_console(file=io.StringIO(), width=100)
    print_transcript(result.transcript, console)


SETTINGS = settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@SETTINGS
@given(field=values, step=steps)
def test_final(session: tuple[Script, RRStep], tmp_path: Path, field: Any, step: Any) -> None:
    script, rr = session
    final = f"import json\nFINAL({as_python_literal(reflection_of(field, step))})"
    script.replies = [code_reply("print(len(trace))"), code_reply(final)]
    check(rr.analyse(a_trace()), tmp_path)


@SETTINGS
@given(field=values, step=steps)
def test_final_var(session: tuple[Script, RRStep], tmp_path: Path, field: Any, step: Any) -> None:
    script, rr = session
    cell = (
        "import json\n"
        "class Deep:\n    def __str__(self):\n        return '[' * 50000\n"
        f"answer = {as_python_literal(reflection_of(field, step))}\n"
        "answer['root_cause_analysis'] = Deep()\n"
        "FINAL_VAR('answer')"
    )
    script.replies = [code_reply("print(len(trace))"), code_reply(cell)]
    check(rr.analyse(a_trace()), tmp_path)


@SETTINGS
@given(field=values, step=steps)
def test_direct_json(session: tuple[Script, RRStep], tmp_path: Path, field: Any, step: Any) -> None:
    script, rr = session
    script.replies = [json.dumps(reflection_of(field, step))]
    check(rr.analyse(a_trace()), tmp_path)


@SETTINGS
@given(field=values, step=steps, nest=st.integers(min_value=1, max_value=200_000))
def test_synthesis_and_deeply_nested_replies(
    session: tuple[Script, RRStep], tmp_path: Path, field: Any, step: Any, nest: int
) -> None:
    script, rr = session
    deep = "Here: " + "{" * nest + "}" * nest
    script.replies = [deep, deep, deep, json.dumps(reflection_of(field, step))]
    check(rr.analyse(a_trace()), tmp_path)


@SETTINGS
@given(prompt=values, reply=texts)
def test_sub_calls(session: tuple[Script, RRStep], tmp_path: Path, prompt: Any, reply: str) -> None:
    script, rr = session
    cell = f"import json\nprint(llm_query(str({as_python_literal(prompt)})[:50000]))"
    script.replies = [
        code_reply(cell),
        reply,
        code_reply("print(1)"),
        json.dumps(reflection_of("x", 0)),
    ]
    check(rr.analyse(a_trace()), tmp_path)


@SETTINGS
@given(content=values)
def test_traces(session: tuple[Script, RRStep], tmp_path: Path, content: Any) -> None:
    script, rr = session
    record = {
        "question": "q",
        "steps": [{"role": "assistant", "content": content}],
        "extra": content,
    }
    try:
        trace = load_trace(record)
    except TraceFormatError:
        return  # unreadable input is the caller's mistake: raised before any model call
    script.replies = [code_reply("print(trace.overview())"), json.dumps(reflection_of("x", 0))]
    check(rr.analyse(trace), tmp_path)


def test_a_trace_nested_past_the_recursion_limit_is_refused_before_any_call() -> None:
    deep: Any = "leaf"
    for _ in range(5000):
        deep = [deep]
    model = FunctionModel(lambda request: "unused")
    with pytest.raises(TraceFormatError, match="nested too deeply"):
        RRStep(model.name).analyse({"question": "q", "steps": [{"content": "x"}], "extra": deep})
    assert model.requests == []
