"""LLMClient through the real litellm path, against scripted models."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from ace.errors import BudgetExceededError, LLMError, NonRetryableError
from ace.llm import LLMClient, LLMResponse, RequestInfo, RetryPolicy, Usage, get_client
from ace.testing import Fail, FunctionModel, Reply, ScriptedModel, ScriptExhausted

FAST = RetryPolicy(max_retries=3, initial_delay_s=0.001, jitter=0.0)


def client(model: ScriptedModel | FunctionModel, **options: Any) -> LLMClient:
    return LLMClient(model.name, retry_policy=FAST, **options)


class Recorder:
    """An observer that records every call; optionally refuses after ``limit`` attempts."""

    def __init__(self, limit: int | None = None) -> None:
        self.events: list[tuple[str, RequestInfo, object]] = []
        self.limit = limit
        self._lock = threading.Lock()

    def before_attempt(self, info: RequestInfo) -> None:
        with self._lock:
            started = sum(1 for kind, _, _ in self.events if kind == "before")
            if self.limit is not None and started >= self.limit:
                raise BudgetExceededError(
                    "call limit reached", resource="calls", spent=started, limit=self.limit
                )
            self.events.append(("before", info, None))

    def after_attempt(self, info: RequestInfo, outcome: LLMResponse | BaseException) -> None:
        with self._lock:
            self.events.append(("after", info, outcome))


def test_complete_sync_returns_text_usage_and_records_request() -> None:
    model = ScriptedModel([Reply("hello there", prompt_tokens=12, completion_tokens=3)])
    response = client(model, max_tokens=50).complete("hi", temperature=0.3)
    assert response.text == "hello there"
    assert response.model == model.name
    assert response.usage == Usage(prompt_tokens=12, completion_tokens=3, total_tokens=15)
    assert response.finish_reason == "stop"
    assert response.attempts == 1
    assert response.duration_s > 0
    [request] = model.requests
    assert request.messages == [{"role": "user", "content": "hi"}]
    assert (request.max_tokens, request.temperature) == (50, 0.3)


def test_acomplete_goes_through_litellm_async_path() -> None:
    model = ScriptedModel(["async hello"])
    response = asyncio.run(client(model).acomplete([{"role": "user", "content": "hi"}]))
    assert response.text == "async hello"
    assert response.usage.completion_tokens == len("async hello") // 4


def test_default_usage_is_a_deterministic_estimate() -> None:
    model = ScriptedModel(["x" * 40])
    response = client(model).complete("y" * 80)
    assert response.usage == Usage(prompt_tokens=20, completion_tokens=10, total_tokens=30)


def test_cost_with_registered_price_and_none_without() -> None:
    priced = ScriptedModel([Reply("ok", prompt_tokens=100, completion_tokens=10)])
    priced.set_price(input_per_token=1e-6, output_per_token=2e-6)
    assert client(priced).complete("q").cost_usd == pytest.approx(100 * 1e-6 + 10 * 2e-6)
    unpriced = ScriptedModel([Reply("ok", prompt_tokens=100, completion_tokens=10)])
    assert client(unpriced).complete("q").cost_usd is None


@pytest.mark.parametrize("kind", ["rate_limit", "timeout", "server_error"])
def test_transient_failures_are_retried(kind: Any) -> None:
    model = ScriptedModel([Fail(kind), Fail(kind), "finally"])
    response = client(model).complete("q")
    assert response.text == "finally"
    assert response.attempts == 3
    assert len(model.requests) == 3


def test_raw_litellm_rate_limit_exception_is_retried() -> None:
    import litellm

    error = litellm.RateLimitError(message="slow down", llm_provider="x", model="m")
    model = ScriptedModel([error, "ok"])
    assert client(model).complete("q").text == "ok"


def test_retries_are_bounded_and_raise_llm_error() -> None:
    model = ScriptedModel([Fail("rate_limit")] * 3)
    with pytest.raises(LLMError, match="gave up after 3 attempts") as info:
        LLMClient(model.name, retry_policy=RetryPolicy(max_retries=2, initial_delay_s=0)).complete(
            "q"
        )
    assert not isinstance(info.value, NonRetryableError)
    assert info.value.attempts == 3
    assert model.remaining == 0


def test_backoff_waits_between_retries() -> None:
    model = ScriptedModel([Fail("server_error"), Fail("server_error"), "ok"])
    policy = RetryPolicy(initial_delay_s=0.03, multiplier=2.0, jitter=0.0)
    started = time.perf_counter()
    LLMClient(model.name, retry_policy=policy).complete("q")
    assert time.perf_counter() - started >= 0.03 + 0.06


def test_retry_policy_delays_grow_and_are_capped() -> None:
    policy = RetryPolicy(initial_delay_s=1.0, multiplier=3.0, max_delay_s=5.0, jitter=0.0)
    assert [policy.delay_s(n) for n in (1, 2, 3)] == [1.0, 3.0, 5.0]


@pytest.mark.parametrize("kind", ["auth", "bad_request"])
def test_auth_and_bad_request_are_not_retried(kind: Any) -> None:
    model = ScriptedModel([Fail(kind), "never"])
    with pytest.raises(NonRetryableError, match="not retried"):
        client(model).complete("q")
    assert len(model.requests) == 1


def test_exhausted_script_is_not_retried_and_keeps_its_type() -> None:
    model = ScriptedModel(["one"])
    llm = client(model)
    llm.complete("q")
    with pytest.raises(ScriptExhausted, match=r"given 1 and received request #2"):
        llm.complete("q")
    assert len(model.requests) == 2


def test_non_retryable_error_raised_in_a_function_model_is_not_retried() -> None:
    def fn(request: object) -> str:
        raise NonRetryableError("nope")

    model = FunctionModel(fn)
    with pytest.raises(NonRetryableError, match="nope"):
        asyncio.run(client(model).acomplete("q"))
    assert len(model.requests) == 1


def test_observer_sees_every_attempt_including_retries() -> None:
    model = ScriptedModel([Fail("rate_limit"), "ok", "second"])
    recorder = Recorder()
    llm = client(model, observers=[recorder])
    llm.complete("q")
    llm.complete("q2", max_tokens=7)
    kinds = [kind for kind, _, _ in recorder.events]
    assert kinds == ["before", "after"] * 3
    infos = [info for kind, info, _ in recorder.events if kind == "before"]
    assert [i.attempt for i in infos] == [1, 2, 1]
    assert infos[0].call_id == infos[1].call_id != infos[2].call_id
    assert infos[2].max_tokens == 7
    assert infos[2].messages[-1]["content"] == "q2"
    outcomes = [outcome for kind, _, outcome in recorder.events if kind == "after"]
    assert type(outcomes[0]).__name__ == "RateLimitError"
    assert isinstance(outcomes[1], LLMResponse)


def test_observer_can_refuse_an_attempt_and_earlier_observers_are_released() -> None:
    model = ScriptedModel(["ok", "unused"])
    first, budget = Recorder(), Recorder(limit=1)
    llm = client(model).with_observers(first, budget)
    llm.complete("q")
    with pytest.raises(BudgetExceededError):
        llm.complete("q")
    assert len(model.requests) == 1  # the refused request never reached the model
    last_kind, _, outcome = first.events[-1]
    assert last_kind == "after" and isinstance(outcome, BudgetExceededError)


def test_fifty_concurrent_acompletes_overlap() -> None:
    model = FunctionModel(lambda request: f"echo {request.last_user_text}", delay_s=0.2)
    llm = client(model)

    async def run() -> tuple[list[LLMResponse], float]:
        await llm.acomplete("warm-up")
        started = time.perf_counter()
        responses = await asyncio.gather(*(llm.acomplete(f"q{i}") for i in range(50)))
        return responses, time.perf_counter() - started

    responses, elapsed = asyncio.run(run())
    assert sorted(r.text for r in responses) == sorted(f"echo q{i}" for i in range(50))
    # One after another they would take 10 s; the bound leaves room for a loaded machine
    # (how fast they overlap is a benchmark's question: make bench, llm_overhead).
    assert elapsed < 0.2 * 50 / 2, f"50 calls of 0.2 s took {elapsed:.2f} s: they did not overlap"


def test_get_client_accepts_strings_models_and_clients() -> None:
    model = ScriptedModel(["a"])
    assert get_client(model).model == model.name
    assert get_client(model.name).model == model.name
    existing = LLMClient(model.name)
    assert get_client(existing) is existing


def test_api_key_is_not_in_repr() -> None:
    assert "secret" not in repr(LLMClient("openai/x", api_key="secret"))


def test_a_missing_key_reported_as_a_server_error_is_not_retried() -> None:
    """litellm raises InternalServerError for a missing OpenAI key; retrying cannot help."""
    from ace.llm import _litellm
    from ace.llm.retry import is_retryable

    litellm = _litellm.load()
    missing = litellm.InternalServerError(
        "OpenAIException - The api_key client option must be set either by passing api_key "
        "to the client or by setting the OPENAI_API_KEY environment variable",
        llm_provider="openai",
        model="gpt-4o-mini",
    )
    busy = litellm.InternalServerError(
        "server overloaded", llm_provider="openai", model="gpt-4o-mini"
    )
    assert not is_retryable(missing, litellm) and is_retryable(busy, litellm)
