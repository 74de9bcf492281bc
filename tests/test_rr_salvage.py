"""The last answer of a session (the synthesis) cannot be sent back for repair: what fails
validation is dropped, the rest is kept, and the session says what it dropped."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ace.outputs import ReflectorOutput
from ace.rr import RRConfig, RRStep
from ace.rr._final import salvage, validate
from ace.rr.extract import reflection_value
from ace.testing import ScriptedModel, code_reply, reflection
from ace.traces import Trace

# What the 1.5B local model wrote as its synthesis (a 1-5 score, tags that are topics).
WEAK_MODEL_ANSWER: dict[str, Any] = {
    "reasoning": "The trace data was not loaded, so the evidence is incomplete.",
    "error_identification": "json.loads was given a dict",
    "extracted_learnings": [
        {"learning": "Load the input before analysing it.", "atomicity_score": 3},
        {"learning": "Check types first.", "atomicity_score": 0.8},
    ],
    "skill_tags": [{"id": "python", "tag": "json"}, {"id": "s-1", "tag": "helpful"}],
    "attribution": {"agent": "Planner", "step": "step 4", "reason": "wrong plan"},
}


def test_invalid_parts_are_dropped_and_named() -> None:
    assert validate(WEAK_MODEL_ANSWER).accepted is None
    decision, dropped = salvage(WEAK_MODEL_ANSWER)
    out = decision.accepted
    assert out is not None
    assert [lr.learning for lr in out.extracted_learnings] == [
        "Load the input before analysing it.",
        "Check types first.",
    ]
    # The out-of-range score goes back to the default; the learning itself is kept.
    assert [lr.atomicity_score for lr in out.extracted_learnings] == [0.5, 0.8]
    assert [(t.id, t.tag) for t in out.skill_tags] == [("s-1", "helpful")]
    assert out.attribution is not None and (out.attribution.agent, out.attribution.step) == (
        "Planner",
        4,
    )
    assert "extracted_learnings.0.atomicity_score" in dropped and "skill_tags.0" in dropped
    assert WEAK_MODEL_ANSWER["skill_tags"][0]["tag"] == "json"  # the input is not changed


def test_wholly_wrong_fields_go_and_an_empty_reflection_is_refused() -> None:
    decision, dropped = salvage(
        {"reasoning": "r", "attribution": "Planner at 4", "extracted_learnings": "many"}
    )
    assert decision.accepted is not None and decision.accepted.attribution is None
    assert sorted(dropped) == ["attribution", "extracted_learnings"]
    refused, _ = salvage({"attribution": {"agent": "Planner", "step": 4}})
    assert refused.accepted is None and "reasoning" in (refused.rejection or "")
    assert salvage(["not", "a", "dict"])[0].rejection == "the reply is a list, not a dict"


def test_an_attribution_put_under_another_key_is_recovered() -> None:
    # What the 1.5B model wrote: "attribution": null, the step it meant under another key.
    answer = {
        "reasoning": "The revision count was wrong.",
        "correct_approach": {
            "step": "4",
            "agent": "DataVerification_Expert",
            "role": "correct_approach",
            "content": "Use a reliable source.",
        },
        "attribution": None,
    }
    decision, dropped = salvage(answer)
    out = decision.accepted
    assert out is not None and out.attribution is not None and dropped == []
    assert (out.attribution.agent, out.attribution.step) == ("DataVerification_Expert", 4)
    assert out.raw["attribution_from"] == "correct_approach"
    assert out.correct_approach  # the field itself is kept, as text

    nested = {"reasoning": "r", "extracted_learnings": [{"evidence": {"agent": "a", "step": 2}}]}
    found = salvage(nested)[0].accepted
    assert found is not None and found.attribution is not None and found.attribution.step == 2
    assert found.raw["attribution_from"] == "extracted_learnings.0.evidence"


def test_a_stated_attribution_is_never_replaced() -> None:
    answer = {
        "reasoning": "r",
        "attribution": {"agent": "planner", "step": 0},
        "correct_approach": {"agent": "calculator", "step": 1},
    }
    out = salvage(answer)[0].accepted
    assert out is not None and out.attribution is not None
    assert (out.attribution.agent, out.attribution.step) == ("planner", 0)
    assert "attribution_from" not in out.raw
    assert salvage({"reasoning": "r", "attribution": None})[0].accepted.attribution is None  # type: ignore[union-attr]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=20,
)
field_names = st.sampled_from(
    ["reasoning", "key_insight", "extracted_learnings", "skill_tags", "attribution", "other"]
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(field_names, json_values, max_size=6))
def test_salvage_never_raises_and_keeps_only_valid_data(value: dict[str, Any]) -> None:
    decision, dropped = salvage(value)
    if decision.accepted is not None:
        ReflectorOutput.model_validate(decision.accepted.model_dump())
    plain = validate(value)
    if plain.accepted is not None:  # a valid answer is taken as it is
        assert decision.accepted is not None and dropped == []
        if "attribution_from" in decision.accepted.raw:  # unless it named no step
            assert plain.accepted.attribution is None or plain.accepted.attribution.step is None
        else:
            assert decision.accepted == plain.accepted


def test_reflection_value_reads_json_python_literals_and_unrun_final_calls() -> None:
    assert reflection_value('Here: {"reasoning": "a", "key_insight": "b"} done') == {
        "reasoning": "a",
        "key_insight": "b",
    }
    assert reflection_value("```python\nFINAL({'reasoning': 'a', 'attribution': None})\n```") == {
        "reasoning": "a",
        "attribution": None,
    }
    assert reflection_value("{'reasoning': __import__('os').getcwd()}") is None
    assert reflection_value("no braces at all") is None


def small_trace() -> Trace:
    return Trace.model_validate(
        {
            "id": "t-salvage",
            "format": "ace",
            "question": "What is 6 * 7?",
            "steps": [
                {"index": 0, "agent": "planner", "content": "Use the calculator."},
                {"index": 1, "agent": "calculator", "content": "The tool returned 41."},
            ],
        }
    )


def test_synthesis_continues_the_conversation_and_salvages_the_reply() -> None:
    answer = reflection("calculator", 1, skill_tags=[{"id": "python", "tag": "syntax"}])
    model = ScriptedModel(
        [code_reply("print(trace.preview(1))"), code_reply("x = 1"), json.dumps(answer)]
    )
    result = RRStep(model.name, RRConfig(max_iterations=2)).analyse(small_trace())
    assert result.transcript.outcome == "synthesis"
    out = result.reflection
    assert out.attribution is not None and out.attribution.step == 1 and out.skill_tags == []
    assert out.raw["dropped"] == ["skill_tags.0.tag", "skill_tags.0"]
    assert any("dropped invalid parts" in note for note in result.transcript.notes)
    # The synthesis request is the conversation so far plus one request: the model has the
    # step previews and the last cell's feedback, and the server can reuse its prefix cache.
    sent = model.requests[-1].messages
    last_reply = {"role": "assistant", "content": code_reply("x = 1")}
    assert sent[:-1] == [*model.requests[-2].messages, last_reply]
    assert "The tool returned 41." in sent[1]["content"]
    assert sent[-1]["role"] == "user" and "no more code will run" in sent[-1]["content"]
