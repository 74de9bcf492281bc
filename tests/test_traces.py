"""Trace loaders: every source shape, files, ids, errors and rendering."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

import ace.traces
from ace.errors import TraceFormatError, UsageError
from ace.traces import (
    FORMATS,
    ToolCall,
    ToolResult,
    Trace,
    TraceStep,
    detect_format,
    load_labelled_traces,
    load_trace,
    load_trace_file,
    load_traces,
)

ACE_RECORD = {
    "id": "task-7",
    "question": "What is 6 * 7?",
    "context": "arithmetic",
    "ground_truth": "42",
    "feedback": "Wrong: expected 42.",
    "answer": "48",
    "steps": [
        "I will multiply.",
        {"thought": "use the calculator", "action": "calc", "action_input": {"expr": "6*8"}},
        {"role": "tool", "name": "calc", "tool_call_id": "c1", "content": "48"},
        {"role": "assistant", "content": "The answer is 48."},
    ],
}

OPENAI_MESSAGES = [
    {"role": "system", "content": "You are helpful."},
    {"role": "user", "content": [{"type": "text", "text": "Weather in Paris?"}]},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
            }
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": "18C, cloudy"},
    {"role": "assistant", "content": "It is 18C and cloudy."},
]

LANGCHAIN_PAIRS = [
    [{"tool": "search", "tool_input": "capital of France", "log": "I should search."}, "Paris"],
    [{"tool": "calculator", "tool_input": {"expr": "2+2"}, "log": "Now add."}, 4],
]


def test_ace_record_with_steps() -> None:
    trace = load_trace(ACE_RECORD)
    assert trace.format == "ace"
    assert trace.id == "task-7"
    assert (trace.question, trace.context, trace.ground_truth) == (
        "What is 6 * 7?",
        "arithmetic",
        "42",
    )
    assert (trace.feedback, trace.final_answer) == ("Wrong: expected 42.", "48")
    assert [s.index for s in trace.steps] == [0, 1, 2, 3]
    assert trace.steps[0].content == "I will multiply."
    assert trace.steps[1].content == "use the calculator"
    assert trace.steps[1].tool_calls == [ToolCall(name="calc", arguments={"expr": "6*8"})]
    assert trace.steps[2].tool_results == [ToolResult(output="48", name="calc", call_id="c1")]
    assert trace.steps[2].content == ""
    assert trace.steps[3].agent == "assistant"
    assert trace.raw == ACE_RECORD


def test_ace_record_without_steps_matches_from_task() -> None:
    record = {"question": "Q?", "reasoning": "thinking", "final_answer": "A", "ground_truth": "B"}
    loaded = load_trace(record)
    built = Trace.from_task(question="Q?", reasoning="thinking", final_answer="A", ground_truth="B")
    assert loaded.format == built.format == "ace"
    assert loaded.steps == built.steps
    assert [s.content for s in built.steps] == ["thinking"]
    assert (built.question, built.final_answer, built.ground_truth) == ("Q?", "A", "B")
    assert (
        built.id
        == Trace.from_task(
            question="Q?", reasoning="thinking", final_answer="A", ground_truth="B"
        ).id
    )
    assert built.id != Trace.from_task(question="Q?", reasoning="other").id
    assert Trace.from_task(question="Q?", trace_id="mine").id == "mine"
    assert Trace.from_task(question="Q?").steps == []


def test_openai_messages_with_tool_calls_and_results() -> None:
    trace = load_trace(OPENAI_MESSAGES)
    assert trace.format == "openai_messages"
    assert [s.role for s in trace.steps] == ["system", "user", "assistant", "tool", "assistant"]
    assert trace.steps[1].content == "Weather in Paris?"
    (call,) = trace.steps[2].tool_calls
    assert call == ToolCall(name="get_weather", arguments={"city": "Paris"}, id="call_1")
    assert trace.steps[3].tool_results == [ToolResult(output="18C, cloudy", call_id="call_1")]
    assert trace.steps[4].content == "It is 18C and cloudy."


def test_openai_record_keeps_task_fields_and_undecodable_arguments() -> None:
    messages = [
        {"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": "{oops"}}]},
        {"role": "assistant", "function_call": {"name": "legacy", "arguments": "{}"}},
    ]
    trace = load_trace({"question": "Q", "messages": messages})
    assert trace.format == "openai_messages"
    assert trace.question == "Q"
    assert trace.steps[0].tool_calls[0].arguments == "{oops"
    assert trace.steps[1].tool_calls == [ToolCall(name="legacy", arguments={})]


def test_anthropic_style_content_parts() -> None:
    messages = [
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Looking it up."},
                {"type": "tool_use", "id": "t1", "name": "search", "input": {"q": "x"}},
            ],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "found"}],
        },
    ]
    trace = load_trace(messages)
    assert trace.steps[0].content == "Looking it up."
    assert trace.steps[0].tool_calls == [ToolCall(name="search", arguments={"q": "x"}, id="t1")]
    assert trace.steps[1].tool_results == [ToolResult(output="found", call_id="t1")]


def test_langchain_pairs_as_list_and_record() -> None:
    trace = load_trace(LANGCHAIN_PAIRS)
    assert trace.format == "langchain_pairs"
    first, second = trace.steps
    assert first.content == "I should search."
    assert first.tool_calls == [ToolCall(name="search", arguments="capital of France")]
    assert first.tool_results == [ToolResult(output="Paris", name="search")]
    assert second.tool_results[0].output == "4"
    record = load_trace({"question": "Q", "intermediate_steps": LANGCHAIN_PAIRS})
    assert record.format == "langchain_pairs"
    assert record.steps == trace.steps


def test_text_log_split_at_speakers() -> None:
    log = "setup line\nplanner: make a plan\n  step one\n[coder] wrote code\ntester: ran tests\n"
    trace = load_trace(log)
    assert trace.format == "text"
    assert [(s.agent, s.content) for s in trace.steps] == [
        (None, "setup line"),
        ("planner", "make a plan\n  step one"),
        ("coder", "wrote code"),
        ("tester", "ran tests"),
    ]
    assert trace.raw == log


def test_text_log_without_speakers_split_at_blank_lines() -> None:
    trace = load_trace("first block\nstill first\n\n\nsecond block\n")
    assert [s.content for s in trace.steps] == ["first block\nstill first", "second block"]
    assert load_trace("").steps == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (ACE_RECORD, "ace"),
        ({"feedback": "bad"}, "ace"),
        (OPENAI_MESSAGES, "openai_messages"),
        ({"messages": []}, "openai_messages"),
        ({"history": []}, "who_and_when"),
        (LANGCHAIN_PAIRS, "langchain_pairs"),
        ("a log", "text"),
        (["a", 1, None], "step_list"),
        ({"tasks": []}, "batch"),
        ([ACE_RECORD, {"history": []}], "batch"),
        ([], "batch"),
        ({"unrelated": 1}, "json"),
        (3.5, "json"),
        (None, "json"),
    ],
)
def test_detect_format(value: object, expected: str) -> None:
    assert detect_format(value) == expected  # type: ignore[arg-type]
    assert expected in FORMATS


def test_anything_else_is_kept_as_raw_json() -> None:
    trace = load_trace({"spans": [{"name": "a"}], "n": 3})
    assert (trace.format, trace.steps, trace.raw) == (
        "json",
        [],
        {"spans": [{"name": "a"}], "n": 3},
    )
    assert '"spans"' in trace.render()
    assert load_trace(None).raw is None
    assert [s.content for s in load_trace(["x", 1, {"k": "v"}, [1, 2, 3]]).steps] == [
        "x",
        "1",
        '{"k":"v"}',
        "[1,2,3]",
    ]


def test_batches_of_records() -> None:
    traces = load_traces({"tasks": [ACE_RECORD, {"question": "other"}]})
    assert [t.question for t in traces] == ["What is 6 * 7?", "other"]
    assert [t.source.index if t.source else None for t in traces] == [0, 1]
    assert len(load_traces([ACE_RECORD, ACE_RECORD, ACE_RECORD])) == 3
    assert load_traces([]) == []
    # A Python list is one trace per element; one conversation is wrapped.
    assert len(load_traces([OPENAI_MESSAGES])) == 1
    assert len(load_traces({"messages": OPENAI_MESSAGES})) == 1
    with pytest.raises(TraceFormatError, match="expected one trace, got a batch of 2 traces"):
        load_trace({"tasks": [ACE_RECORD, ACE_RECORD]})
    with pytest.raises(TraceFormatError, match=r"trace item 1: expected one trace, got a batch"):
        load_traces([ACE_RECORD, {"tasks": []}])
    with pytest.raises(TraceFormatError, match="'tasks': expected a list of traces, got a string"):
        load_traces({"tasks": "nope"})


def test_ids_come_from_record_then_file_position_then_content(tmp_path: Path) -> None:
    assert load_trace({"question_ID": "q-1", "history": []}).id == "q-1"
    assert load_trace({"id": 12, "question": "Q"}).id == "12"
    hashed = load_trace({"question": "Q"})
    assert hashed.id.startswith("sha256:")
    assert hashed.id == load_trace({"question": "Q"}).id
    assert hashed.id != load_trace({"question": "R"}).id
    path = tmp_path / "runs.jsonl"
    step = '"steps": [{"content": "x"}]'
    path.write_text(
        f'{{"question": "a", {step}}}\n[{{"question": "b", {step}}}, {{"question": "c", {step}}}]\n'
    )
    assert [t.id for t in load_traces(path)] == ["runs.jsonl:1", "runs.jsonl:2#0", "runs.jsonl:2#1"]


def test_jsonl_file_with_every_shape(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    lines = [ACE_RECORD, OPENAI_MESSAGES, LANGCHAIN_PAIRS, "plain: text", {"history": []}]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n\n")
    traces = load_traces(path)
    assert [t.format for t in traces] == [
        "ace",
        "openai_messages",
        "langchain_pairs",
        "text",
        "who_and_when",
    ]
    assert [t.source.line if t.source else None for t in traces] == [1, 2, 3, 4, 5]
    assert load_traces(str(path)) == traces


def test_jsonl_bad_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"question": "a"}\n\n{"question": \n')
    with pytest.raises(
        TraceFormatError, match=r"trace file .*bad\.jsonl line 3: expected one JSON value per line"
    ):
        load_traces(path)


def test_malformed_record_names_line_and_what_was_expected(tmp_path: Path) -> None:
    path = tmp_path / "runs.jsonl"
    path.write_text('{"question": "a"}\n{"steps": "not a list"}\n')
    with pytest.raises(TraceFormatError) as caught:
        load_traces(path)
    message = str(caught.value)
    assert message.startswith(f"trace file {path} line 2: ")
    assert "'steps': expected a list of steps, got a string ('not a list')" in message


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (
            {"history": [{"content": "ok"}, 5]},
            "history[1]: expected a message object, got a number (5)",
        ),
        (
            {"history": [{"content": ["x"]}]},
            "history[0].content: expected a string, got a list of 1 string",
        ),
        ({"history": "abc"}, "'history': expected a list of messages"),
        ([{"role": 3, "content": "x"}], "[0].role: expected a string, got a number (3)"),
        (
            {"messages": [{"role": "assistant", "tool_calls": "f"}]},
            "messages[0].tool_calls: expected a list",
        ),
        (
            {"steps": [{"tool_calls": [{"arguments": "{}"}]}]},
            "steps[0].tool_calls[0]: expected a tool call with a 'name'",
        ),
        ({"question": "q", "mistake_step": "three"}, "label 'mistake_step': expected a step index"),
        ({"question": "q", "is_correct": "yes"}, "'is_correct': expected true or false"),
        ({"question": {1, 2}}, "question: expected JSON data, got a Python set"),
        ({"question": float("nan")}, "question: expected JSON data"),
        ({1: "x"}, "expected an object with string keys"),
    ],
)
def test_malformed_input_errors(value: object, fragment: str) -> None:
    with pytest.raises(TraceFormatError) as caught:
        load_trace(value)
    assert str(caught.value).startswith("trace: ")
    assert fragment in str(caught.value)


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"trace file .*missing\.json does not exist"):
        load_traces(tmp_path / "missing.json")
    with pytest.raises(FileNotFoundError, match=r"missing\.jsonl does not exist"):
        load_traces("missing.jsonl")
    broken = tmp_path / "broken.json"
    broken.write_text('{\n  "question": "a",\n  oops\n}')
    with pytest.raises(
        TraceFormatError, match=r"broken\.json line 3 column 3: expected valid JSON"
    ):
        load_traces(broken)
    empty = tmp_path / "empty.json"
    empty.write_text("")
    with pytest.raises(TraceFormatError, match="got an empty file"):
        load_traces(empty)
    binary = tmp_path / "binary.log"
    binary.write_bytes(b"\xff\xfe not text")
    with pytest.raises(TraceFormatError, match=r"binary\.log: expected UTF-8 text"):
        load_traces(binary)


def test_load_trace_file_wants_exactly_one(tmp_path: Path) -> None:
    one = tmp_path / "one.log"
    one.write_text("agent: did it\n")
    trace = load_trace_file(one)
    assert (trace.format, trace.id, trace.steps[0].agent) == ("text", "one.log", "agent")
    many = tmp_path / "many.jsonl"
    many.write_text('{"question": "a", "steps": ["x"]}\n{"question": "b", "steps": ["y"]}\n')
    with pytest.raises(
        TraceFormatError, match=r"many\.jsonl: expected one trace, found 2; use load_traces"
    ):
        load_trace_file(many)


def test_sniffing_unknown_suffixes_and_directories(tmp_path: Path) -> None:
    (tmp_path / "10.txt").write_text('{"question": "ten", "steps": ["x"]}')
    (tmp_path / "2.log").write_text(
        '{"question": "two", "steps": ["x"]}\n{"question": "two again", "steps": ["y"]}\n'
    )
    (tmp_path / "1.txt").write_text("{not json at all\nplain words")
    (tmp_path / "ignored.csv").write_text("a,b")
    traces = load_traces(tmp_path)
    assert [t.question or t.format for t in traces] == ["text", "two", "two again", "ten"]


def test_a_file_that_is_not_a_trace_is_an_error_naming_it(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text('{"model": "gpt-4o", "max_tokens": 300}')
    with pytest.raises(TraceFormatError, match=r"config\.json: no trace steps found") as error:
        load_traces(config)
    assert "Who&When {history}" in str(error.value)
    empty = tmp_path / "empty.log"
    empty.write_text("")
    with pytest.raises(TraceFormatError, match=r"empty\.log"):
        load_trace_file(empty)
    # In memory, a record without steps is still a (small) trace.
    assert load_trace({"question": "q"}).steps == []


def test_render_small_trace_is_complete() -> None:
    text = load_trace(ACE_RECORD).render()
    assert "cut" not in text
    for fragment in (
        "Question: What is 6 * 7?",
        "Ground truth: 42",
        "Feedback: Wrong",
        "[1]:",
        "-> call calc",
        "<- calc: 48",
        "Final answer: 48",
    ):
        assert fragment in text
    without_task = load_trace(ACE_RECORD).render(include_task=False)
    assert "Ground truth" not in without_task and "Question" not in without_task


def test_render_cuts_long_traces_with_explicit_markers() -> None:
    steps = [f"step {i}: " + "word " * 200 for i in range(200)]
    trace = load_trace({"question": "Q", "steps": steps})
    text = trace.render(max_chars=5000)
    assert len(text) <= 5000
    assert "[0]" in text and "[199]" in text
    assert "steps cut here (steps " in text
    huge = load_trace({"question": "Q", "steps": ["x" * 100_000]}).render(max_chars=3000)
    assert len(huge) <= 3000 and "characters cut" in huge
    with pytest.raises(UsageError):
        trace.render(max_chars=10)


def test_trace_refuses_labels_and_misaligned_steps() -> None:
    with pytest.raises(ValidationError, match="evaluation label 'mistake_step'"):
        Trace(id="x", format="json", raw={"deep": [{"mistake_step": "1"}]})
    with pytest.raises(ValidationError, match="steps\\[0\\] has index 3"):
        Trace(id="x", format="ace", steps=[TraceStep(index=3)])


def test_a_built_step_is_the_step_validation_makes() -> None:
    from ace.traces.schema import ToolCall, ToolResult, built

    call = ToolCall(name="search", arguments={"q": "x"}, id="c1")
    result = {"output": "found", "name": "search", "call_id": "c1"}
    values = {
        "index": 2,
        "content": "text",
        "role": "tool",
        "agent": None,
        "tool_calls": [call],
        "tool_results": [ToolResult(**result)],
        "timestamp": None,
    }
    validated = TraceStep(**values)
    made = built(TraceStep, {**values, "tool_results": [built(ToolResult, dict(result))]})
    assert made == validated
    assert made.model_dump_json() == validated.model_dump_json()
    assert made.model_fields_set == validated.model_fields_set
    assert (made.__pydantic_extra__, made.__pydantic_private__) == (None, None)
    other = built(TraceStep, dict(values))
    assert other.__pydantic_fields_set__ is not made.__pydantic_fields_set__


def test_labelled_traces_of_a_batch_keep_labels_apart() -> None:
    loaded = load_labelled_traces([{"question": "a", "mistake_agent": "A"}, {"question": "b"}])
    assert [item.labels.mistake_agent for item in loaded] == ["A", None]
    assert loaded[1].labels.is_empty()
    assert "mistake_agent" not in loaded[0].trace.to_json()


def test_public_names_are_exactly_all() -> None:
    public = {name for name in dir(ace.traces) if not name.startswith("_")}
    modules = {"formats", "labels", "load", "schema"}
    assert public - modules == set(ace.traces.__all__)
    for name in ace.traces.__all__:
        assert getattr(ace.traces, name).__doc__ or name.isupper()


def test_import_loads_no_heavy_dependency() -> None:
    code = (
        "import sys, ace.traces\n"
        "print([m for m in ('litellm', 'logfire', 'jupyter_client', 'IPython') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
