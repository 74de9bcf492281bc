"""The main model's conversation stays under its size limit; the model is warned near the end."""

from __future__ import annotations

from ace.rr import RRConfig, RRStep
from ace.rr._conversation import Conversation
from ace.testing import ScriptedModel, code_reply, reflection
from ace.traces import Trace


def test_old_turns_are_dropped_and_summarised_but_the_head_stays() -> None:
    conv = Conversation(max_chars=1_000)
    conv.start("SYSTEM", "TASK")
    for i in range(1, 8):
        conv.add_turn(i, f"reply {i} " + "r" * 150, f"output {i} " + "o" * 150, f"ran cell {i}")
    messages = conv.messages()
    assert messages[0]["content"] == "SYSTEM" and messages[1]["content"] == "TASK"
    assert "Earlier iterations were removed" in messages[2]["content"]
    assert "#1: ran cell 1" in messages[2]["content"]
    assert messages[-1]["content"].startswith("output 7")
    assert conv.size() <= 1_000
    assert len(conv.log) == 2 + 14  # the log keeps everything


def test_the_newest_turn_stays_even_when_alone_over_the_limit() -> None:
    conv = Conversation(max_chars=100)
    conv.start("S", "T")
    conv.add_turn(1, "a" * 500, "b" * 500, "big")
    assert conv.messages()[-1]["content"] == "b" * 500


def test_long_sessions_stay_within_max_context_chars_and_warn_near_the_limit() -> None:
    trace = Trace.model_validate(
        {"id": "t", "format": "ace", "steps": [{"index": 0, "content": "x" * 50_000, "agent": "a"}]}
    )
    replies = [code_reply(f"print(trace.text(0)[{i}:{i} + 3000])") for i in range(5)]
    replies.append(code_reply(f"FINAL({reflection('a', 0)!r})"))
    model = ScriptedModel(replies)
    config = RRConfig(max_iterations=6, max_context_chars=8_000, max_output_chars=3_000)
    result = RRStep(model.name, config).analyse(trace)
    assert result.transcript.outcome == "final"
    sizes = [sum(len(m["content"]) for m in r.messages) for r in model.requests]
    newest_turn = 2 * 3_200
    assert all(size <= 8_000 + newest_turn for size in sizes)
    assert any(
        "Earlier iterations were removed" in m["content"] for m in model.requests[-1].messages
    )
    assert "WARNING: 2 iteration(s)" in model.requests[4].messages[-1]["content"]
    assert "WARNING" not in model.requests[2].messages[-1]["content"]


def _preview_trace(steps: int) -> Trace:
    return Trace.model_validate(
        {
            "id": "previews",
            "format": "ace",
            "steps": [
                {
                    "index": 0,
                    "content": "a  b\nc",
                    "agent": "planner",
                    "tool_results": [{"output": "out\tput"}],
                },
                *({"index": i, "content": "x" * 100} for i in range(1, steps)),
            ],
        }
    )


def test_previews_are_one_line_per_step_until_the_budget() -> None:
    from ace.rr._prompts import previews

    assert previews(_preview_trace(3), 40, 60).split("\n") == [
        "#0 [planner] a b c [tool result] out put",
        "... 2 more steps not previewed; use trace.preview(i) ...",
    ]
    # More steps than one template call renders: the lines run on, in order.
    lines = previews(_preview_trace(120), 40, 100_000).split("\n")
    assert len(lines) == 120 and lines[119] == "#119 [?] " + "x" * 40 + " ... (+60 chars)"
    assert previews(Trace(id="empty", format="ace"), 40, 100) == (
        "(the trace has no steps; explore `traces` directly)"
    )
