"""ScriptedModel and FunctionModel through litellm itself."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from ace.errors import UsageError
from ace.llm import LLMClient
from ace.testing import (
    FunctionModel,
    RecordedRequest,
    Reply,
    ScriptedModel,
    ScriptError,
    ScriptExhausted,
)


def test_litellm_called_directly_reaches_the_script() -> None:
    import litellm

    model = ScriptedModel(["direct"])
    response = litellm.completion(model=model.name, messages=[{"role": "user", "content": "x"}])
    assert response.choices[0].message.content == "direct"


def test_replies_are_the_conversation_in_order() -> None:
    model = ScriptedModel(["first", "second"], name="conversation")
    llm = LLMClient(str(model))
    assert model.name == "scripted/conversation"
    assert [llm.complete("a").text, llm.complete("b").text] == ["first", "second"]
    assert [r.last_user_text for r in model.requests] == ["a", "b"]
    assert model.remaining == 0


def test_names_are_unique() -> None:
    ScriptedModel([], name="taken")
    with pytest.raises(UsageError, match="already exists"):
        FunctionModel(lambda r: "", name="taken")
    assert ScriptedModel([]).name != ScriptedModel([]).name


def test_exhaustion_names_the_model_and_the_script_length() -> None:
    model = ScriptedModel(["only"], name="short-script")
    llm = LLMClient(model.name)
    llm.complete("q")
    with pytest.raises(ScriptExhausted) as info:
        llm.complete("q")
    assert "scripted/short-script" in str(info.value) and "given 1" in str(info.value)


def test_function_model_sees_kwargs_and_its_errors_are_not_retried() -> None:
    seen: list[RecordedRequest] = []

    def fn(request: RecordedRequest) -> str:
        seen.append(request)
        if len(seen) > 1:
            raise ValueError("bug in the test double")
        return "ok"

    model = FunctionModel(fn)
    llm = LLMClient(model.name, seed=7)
    llm.complete("q", max_tokens=5, response_format={"type": "json_object"})
    assert seen[0].kwargs["seed"] == 7
    assert seen[0].response_format == {"type": "json_object"}
    with pytest.raises(ScriptError, match="ValueError: bug in the test double") as info:
        llm.complete("q")
    assert isinstance(info.value.__cause__, ValueError)
    assert len(model.requests) == 2


def test_scripted_exception_instance_is_raised() -> None:
    model = ScriptedModel([KeyError("boom")])
    with pytest.raises(ScriptError, match="KeyError"):
        LLMClient(model.name).complete("q")


def test_sync_delay_blocks_and_async_delay_awaits() -> None:
    model = ScriptedModel([Reply("slow", delay_s=0.05)] + [Reply("a", delay_s=0.2)] * 10)
    llm = LLMClient(model.name)
    started = time.perf_counter()
    llm.complete("q")
    assert time.perf_counter() - started >= 0.05

    async def many() -> float:
        begin = time.perf_counter()
        await asyncio.gather(*(llm.acomplete("q") for _ in range(10)))
        return time.perf_counter() - begin

    assert asyncio.run(many()) < 1.0


def test_concurrent_threads_get_distinct_replies_and_all_requests_are_recorded() -> None:
    model = ScriptedModel([str(i) for i in range(40)])
    llm = LLMClient(model.name)
    with ThreadPoolExecutor(max_workers=8) as pool:
        texts = list(pool.map(lambda i: llm.complete(f"q{i}").text, range(40)))
    assert sorted(texts, key=int) == [str(i) for i in range(40)]
    assert sorted(r.last_user_text for r in model.requests) == sorted(f"q{i}" for i in range(40))


def test_threads_and_tasks_share_one_function_model() -> None:
    model = FunctionModel(lambda r: r.last_user_text.upper(), delay_s=0.01)
    llm = LLMClient(model.name)

    async def tasks() -> list[str]:
        return [r.text for r in await asyncio.gather(*(llm.acomplete(f"t{i}") for i in range(20)))]

    with ThreadPoolExecutor(max_workers=4) as pool:
        from_threads = pool.submit(lambda: [llm.complete(f"s{i}").text for i in range(20)])
        from_tasks = asyncio.run(tasks())
        assert from_threads.result() == [f"S{i}" for i in range(20)]
    assert from_tasks == [f"T{i}" for i in range(20)]
    assert len(model.requests) == 40
