"""Structured output: JSON extraction, validation feedback, JSON-schema mode."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from ace.errors import StructuredOutputError
from ace.llm import LLMClient, extract_json, parse_structured
from ace.testing import FunctionModel, RecordedRequest, ScriptedModel


class Verdict(BaseModel):
    label: str
    score: int


def test_invalid_reply_is_fed_back_and_second_round_validates() -> None:
    model = ScriptedModel(['{"label": "good", "score": "high"}', '{"label": "good", "score": 3}'])
    result = LLMClient(model.name).structured("Judge this.", Verdict)
    assert result.value == Verdict(label="good", score=3)
    assert len(result.responses) == 2
    second = model.requests[1].messages
    assert second[-2] == {"role": "assistant", "content": '{"label": "good", "score": "high"}'}
    assert second[-1]["role"] == "user"
    assert "score" in second[-1]["content"] and "valid integer" in second[-1]["content"]


def test_text_mode_puts_the_schema_in_the_prompt() -> None:
    model = ScriptedModel(['Sure!\n```json\n{"label": "x", "score": 1}\n```\nHope that helps.'])
    LLMClient(model.name).structured("Judge.", Verdict)
    [request] = model.requests
    assert request.response_format is None
    assert '"score"' in request.messages[-1]["content"]


def test_json_schema_mode_sends_response_format_to_the_script() -> None:
    def fn(request: RecordedRequest) -> str:
        assert request.response_format is not None
        schema = request.response_format["json_schema"]["schema"]
        return json.dumps({name: 1 if name == "score" else "s" for name in schema["properties"]})

    model = FunctionModel(fn)
    model.enable_json_schema()
    llm = LLMClient(model.name)
    assert llm.supports_json_schema()
    assert llm.structured("Judge.", Verdict).value == Verdict(label="s", score=1)
    assert model.requests[0].response_format["type"] == "json_schema"  # type: ignore[index]


def test_registering_schema_support_does_not_invent_a_price() -> None:
    model = ScriptedModel(['{"label": "x", "score": 1}'])
    model.enable_json_schema()
    assert LLMClient(model.name).structured("q", Verdict).cost_usd is None


def test_structured_gives_up_after_bounded_rounds() -> None:
    model = ScriptedModel(["no json here", "still none", "nope"])
    with pytest.raises(StructuredOutputError) as info:
        LLMClient(model.name).structured("q", Verdict, max_validation_retries=2)
    assert info.value.attempts == 3
    assert info.value.last_text == "nope"
    assert len(model.requests) == 3


def test_astructured_and_usage_sum() -> None:
    model = ScriptedModel(["{}", '{"label": "a", "score": 2}'])
    result = asyncio.run(LLMClient(model.name).astructured("q", Verdict))
    assert result.value.score == 2
    assert result.usage.total_tokens == sum(r.usage.total_tokens for r in result.responses)


def test_structured_into_a_non_model_type() -> None:
    model = ScriptedModel(['{"a": 1, "b": 2}'])
    assert LLMClient(model.name).structured("q", dict[str, int]).value == {"a": 1, "b": 2}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1}', {"a": 1}),
        ('```json\n{"a": 1}\n```', {"a": 1}),
        ('Here:\n```\n{"a": [1, 2]}\n```\nthanks', {"a": [1, 2]}),
        ('The answer is {"a": "}"} and that is all.', {"a": "}"}),
        ('{broken {"a": {"b": null}} trailing }', {"a": {"b": None}}),
        ("no json", None),
        ("", None),
    ],
)
def test_extract_json_examples(text: str, expected: Any) -> None:
    assert extract_json(text) == expected


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
json_objects = st.dictionaries(st.text(max_size=8), json_values, max_size=5)
prose = st.text(alphabet=st.characters(blacklist_characters='{}[]`"\\'), max_size=60)


@given(obj=json_objects, before=prose, after=prose, fenced=st.booleans(), indent=st.booleans())
def test_extract_json_finds_an_object_embedded_in_prose(
    obj: dict[str, Any], before: str, after: str, fenced: bool, indent: bool
) -> None:
    body = json.dumps(obj, indent=2 if indent else None)
    text = f"{before}\n```json\n{body}\n```\n{after}" if fenced else f"{before} {body} {after}"
    assert extract_json(text) == obj


@given(st.text(max_size=300))
def test_arbitrary_text_never_crashes(text: str) -> None:
    extract_json(text)
    try:
        value = parse_structured(text, Verdict)
    except StructuredOutputError as error:
        assert error.last_text == text
    else:
        assert isinstance(value, Verdict)
