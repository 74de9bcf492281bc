"""Record and replay: exact reproduction, concurrency in any order, clear divergence."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from ace.errors import InputError
from ace.llm import LLMClient
from ace.replay import Cassette, Recorder, Replayer, ReplayMismatchError
from ace.testing import FunctionModel, RecordedRequest, Reply


def _echo(delays: dict[str, float]) -> FunctionModel:
    def answer(request: RecordedRequest) -> Reply:
        prompt = request.last_user_text
        return Reply(f"reply to {prompt}", delay_s=delays.get(prompt, 0.0), prompt_tokens=11)

    return FunctionModel(answer)


async def _gather(client: LLMClient, prompts: list[str]) -> list[str]:
    replies = await asyncio.gather(*(client.acomplete(p) for p in prompts))
    return [r.text for r in replies]


def test_replay_reproduces_sync_and_concurrent_calls_in_any_order(tmp_path: Path) -> None:
    # Later prompts answer sooner, so completion order is the reverse of issue order.
    model = _echo({"a": 0.06, "b": 0.04, "c": 0.02})
    with Recorder(model=model.name) as recorder:
        client = LLMClient(model.name)
        first = client.complete("hello").text
        batch = asyncio.run(_gather(client, ["a", "b", "c"]))
        repeated = [client.complete("same").text, client.complete("same").text]
    path = recorder.save(tmp_path / "cassette.json")
    assert [i.reply.text for i in recorder.cassette.interactions][1:4] == [
        "reply to c",
        "reply to b",
        "reply to a",
    ]

    replayer = Replayer.from_file(str(path))
    replay = LLMClient(replayer.model_name())
    assert asyncio.run(_gather(replay, ["b", "c", "a"])) == [
        "reply to b",
        "reply to c",
        "reply to a",
    ]
    assert replay.complete("hello").text == first
    assert [replay.complete("same").text, replay.complete("same").text] == repeated
    assert batch == ["reply to a", "reply to b", "reply to c"]
    assert replayer.unused == 0 and replayer.mismatches == []


def test_replayed_usage_is_the_recorded_usage(tmp_path: Path) -> None:
    model = _echo({})
    with Recorder(model=model.name) as recorder:
        original = LLMClient(model.name).complete("q")
    replayer = Replayer(recorder.cassette)
    again = LLMClient(replayer.model_name()).complete("q")
    assert again.usage == original.usage and again.text == original.text


def _recorded(prompts: list[str]) -> Replayer:
    model = _echo({})
    with Recorder(model=model.name) as recorder:
        client = LLMClient(model.name)
        for prompt in prompts:
            client.complete(
                [{"role": "system", "content": "be brief"}, {"role": "user", "content": prompt}]
            )
    return Replayer(recorder.cassette, source="c.json")


def test_divergent_content_names_the_message_and_the_character() -> None:
    replayer = _recorded(["the quick brown fox"])
    client = LLMClient(replayer.model_name())
    with pytest.raises(ReplayMismatchError) as info:
        client.complete(
            [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "the quick red fox"},
            ]
        )
    message = str(info.value)
    assert "cassette c.json" in message
    assert "message 2 of 2 (user) differs at character 10" in message
    assert "'the quick red fox'" in message and "'the quick brown fox'" in message
    assert replayer.mismatches == [message]


def test_extra_message_missing_model_and_exhaustion_are_named() -> None:
    replayer = _recorded(["one"])
    client = LLMClient(replayer.model_name())
    with pytest.raises(ReplayMismatchError, match="has 3 messages, the closest recording 2"):
        client.complete(
            [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "one"},
                {"role": "user", "content": "two"},
            ]
        )
    with pytest.raises(ReplayMismatchError, match="model 'other/model' was never recorded"):
        LLMClient(replayer.model_name("other/model")).complete("one")
    client.complete([{"role": "system", "content": "be brief"}, {"role": "user", "content": "one"}])
    with pytest.raises(
        ReplayMismatchError, match="recorded 1 time\\(s\\) and is now made a 2nd time"
    ):
        client.complete(
            [{"role": "system", "content": "be brief"}, {"role": "user", "content": "one"}]
        )


def test_random_session_markers_do_not_break_matching() -> None:
    model = _echo({})
    with Recorder(model=model.name) as recorder:
        LLMClient(model.name).complete("data <<<DATA-0123456789abcdef>>> here")
    replayer = Replayer(recorder.cassette)
    reply = LLMClient(replayer.model_name()).complete("data <<<DATA-fedcba9876543210>>> here")
    assert reply.text == "reply to data <<<DATA-0123456789abcdef>>> here"


def test_cassette_files_that_cannot_be_used_raise_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        Cassette.load(tmp_path / "none.json")
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"format": "something-else"}), encoding="utf-8")
    with pytest.raises(InputError, match="not an ACE cassette"):
        Cassette.load(wrong)
    future = tmp_path / "future.json"
    future.write_text(json.dumps({"format": "ace-cassette", "version": 99}), encoding="utf-8")
    with pytest.raises(InputError, match="version 99"):
        Cassette.load(future)


def test_recorder_stops_recording_and_restores_litellm() -> None:
    import litellm

    before = litellm.completion
    model = _echo({})
    with Recorder() as recorder:
        LLMClient(model.name).complete("in")
    LLMClient(model.name).complete("out")
    assert litellm.completion is before
    assert [i.messages[-1]["content"] for i in recorder.cassette.interactions] == ["in"]
