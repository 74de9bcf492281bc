"""Compatibility with the established ACE package's RR surface: its config keywords
(``enable_llm_query``, ``subagent_system_prompt``, ``subagent_max_requests``), ``RRStep``'s
``model_settings`` and the result fields it reports. Real kernel, real litellm path."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from pydantic import ValidationError

from ace.errors import BudgetExceededError, ConfigurationError, UsageError
from ace.llm import LLMClient
from ace.llm.settings import client_from_settings
from ace.outputs import ReflectorOutput
from ace.rr import RRConfig, RRStep
from ace.rr.ledger import Ledger
from ace.testing import FunctionModel, ScriptedModel, code_reply, explore_then_final, reflection
from ace.traces import Trace


def small_trace() -> Trace:
    return Trace.model_validate(
        {
            "id": "t-compat",
            "format": "ace",
            "question": "What is 6 * 7?",
            "final_answer": "41",
            "ground_truth": "42",
            "steps": [
                {"index": 0, "content": "I will multiply 6 by 7.", "agent": "planner"},
                {"index": 1, "content": "The tool returned 41.", "agent": "calculator"},
                {"index": 2, "content": "The answer is 41.", "agent": "planner"},
            ],
        }
    )


def check_result_fields(reflection_out: ReflectorOutput, *, iterations: int) -> dict[str, Any]:
    """The established names are present and agree with our own fields."""
    usage = reflection_out.raw["usage"]
    assert usage["requests"] == usage["calls"]
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    assert usage["total_tokens"] == usage["tokens"]
    assert usage["input_tokens"] == sum(m["prompt_tokens"] for m in usage["by_model"].values())
    assert usage["output_tokens"] == sum(m["completion_tokens"] for m in usage["by_model"].values())
    rr_trace = reflection_out.raw["rr_trace"]
    assert rr_trace["total_iterations"] == iterations == len(rr_trace["iterations"])
    assert rr_trace["subagent_calls"] == usage["subagent_calls"]
    assert isinstance(rr_trace["timed_out"], bool)
    return usage


# ---------------------------------------------------------------------- RRConfig
def test_the_established_keywords_are_accepted() -> None:
    config = RRConfig(
        max_iterations=20,
        timeout=30.0,
        enable_llm_query=False,
        max_llm_calls=30,
        max_context_chars=50_000,
        max_output_chars=20_000,
        enable_subagent=True,
        subagent_model="openai/gpt-4o-mini",
        subagent_max_tokens=8192,
        subagent_temperature=0.3,
        subagent_system_prompt="You read traces.",
        subagent_max_requests=15,
        enable_fallback_synthesis=True,
    )
    assert (config.enable_llm_query, config.subagent_max_requests) == (False, 15)
    defaults = RRConfig()
    assert defaults.enable_llm_query is True
    assert defaults.subagent_system_prompt is None and defaults.subagent_max_requests is None


def test_a_blank_subagent_system_prompt_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="subagent_system_prompt"):
        RRConfig(subagent_system_prompt=" \n ")
    with pytest.raises(ValidationError, match="subagent_max_requests"):
        RRConfig(subagent_max_requests=0)


# ---------------------------------------------------------------------- enable_llm_query
def test_without_llm_query_only_ask_llm_is_offered() -> None:
    probe = (
        "absent = []\n"
        "try:\n    llm_batch\nexcept NameError:\n    absent.append('llm_batch')\n"
        "try:\n    parallel_map\nexcept NameError:\n    absent.append('parallel_map')\n"
        "print('absent:', absent)\n"
        "print(ask_llm('Which number is wrong?', trace.text(1)))"
    )
    main = ScriptedModel(
        [
            code_reply("print(llm_query('Is 41 right?'))"),
            code_reply(probe),
            code_reply(f"FINAL({reflection('calculator', 1)!r})"),
        ]
    )
    sub = FunctionModel(lambda request: "41 is wrong")
    config = RRConfig(max_iterations=4, subagent_model=sub.name, enable_llm_query=False)
    result = RRStep(main.name, config).analyse(small_trace())
    first, second, _ = result.transcript.iterations
    assert "NameError" in (first.error or "") and "llm_query" in (first.error or "")
    assert "absent: ['llm_batch', 'parallel_map']" in second.stdout
    assert "41 is wrong" in second.stdout and second.error is None
    assert len(sub.requests) == 1  # ask_llm only: llm_query never reached a model
    assert sub.requests[0].messages[0]["role"] == "user"  # no system message by default
    system = main.requests[0].messages[0]["content"]
    assert "ask_llm(" in system
    assert not any(name in system for name in ("llm_query", "llm_batch", "parallel_map"))
    assert result.transcript.outcome == "final"
    usage = check_result_fields(result.reflection, iterations=3)
    assert usage["subagent_calls"] == 1 and usage["calls"] == 4


def test_with_llm_query_the_prompt_offers_every_sub_call() -> None:
    from ace.prompting import render_prompt

    common = {
        "max_output_chars": 100,
        "enable_subagent": True,
        "max_iterations": 3,
        "max_llm_calls": 5,
        "max_depth": 0,
    }
    offered = render_prompt(
        "rr/system.j2", enable_llm_query=True, subagent_max_requests=None, **common
    )
    assert all(n in offered for n in ("ask_llm(", "llm_query(", "llm_batch(", "parallel_map("))
    capped = render_prompt(
        "rr/system.j2", enable_llm_query=False, subagent_max_requests=4, **common
    )
    assert "at most 4 of these calls" in capped and "llm_batch" not in capped


# ---------------------------------------------------------------------- subagent_system_prompt
def test_the_subagent_system_prompt_goes_with_every_sub_call() -> None:
    cell = (
        "print(ask_llm('Which number is wrong?', trace.text(1)))\n"
        "print(llm_query('Is 41 equal to 6 * 7?'))\n"
        "print(parallel_map(lambda s: 'Summarise: ' + s['content'], trace.steps[:2]))"
    )
    main = ScriptedModel(explore_then_final([cell], reflection("calculator", 1)))
    sub = FunctionModel(lambda request: "ok")
    prompt = "You are a terse checker of agent traces."
    config = RRConfig(max_iterations=3, subagent_model=sub.name, subagent_system_prompt=prompt)
    result = RRStep(main.name, config).analyse(small_trace())
    assert result.transcript.outcome == "final"
    assert len(sub.requests) == 4
    for request in sub.requests:
        assert request.messages[0] == {"role": "system", "content": prompt}
        assert request.messages[-1]["role"] == "user"
    users = sorted(r.messages[-1]["content"] for r in sub.requests)
    assert any("The tool returned 41." in u for u in users)  # ask_llm keeps its template
    assert "Is 41 equal to 6 * 7?" in users
    assert "Summarise: I will multiply 6 by 7." in users
    assert main.requests[0].messages[0]["content"] != prompt  # the main model's is unchanged


# ---------------------------------------------------------------------- subagent_max_requests
def test_sub_calls_past_subagent_max_requests_are_refused_in_the_kernel() -> None:
    main = ScriptedModel(
        [
            code_reply("answers = llm_batch(['a', 'b', 'c'])\nprint(answers)"),
            code_reply("print(llm_query('one more'))"),
            code_reply(f"FINAL({reflection('calculator', 1)!r})"),
        ]
    )
    sub = FunctionModel(lambda request: "answer", delay_s=0.05)
    config = RRConfig(
        max_iterations=4,
        subagent_model=sub.name,
        subagent_max_requests=2,
        subagent_concurrency=3,
    )
    result = RRStep(main.name, config).analyse(small_trace())
    first, second, third = result.transcript.iterations
    assert len(sub.requests) == 2  # three asked at once, two reached the sub-model
    assert first.stdout.count("'answer'") == 2
    assert first.stdout.count("ERROR: sub-agent request limit reached") == 1
    assert "sub-agent request limit reached" in (second.error or "")
    assert "2 of 2" in (second.error or "")
    # The refusal is fed back where the model reads it.
    assert "sub-agent request limit reached" in main.requests[2].messages[-1]["content"]
    assert third.final_accepted is True
    usage = check_result_fields(result.reflection, iterations=3)
    # 3 main turns + 2 sub-calls: the refused ones were not charged.
    assert usage["calls"] == 5 and usage["subagent_calls"] == 2
    assert usage["by_model"][sub.name]["calls"] == 2
    assert usage["max_subagent_calls"] == 2
    refused = [sc for it in result.transcript.iterations for sc in it.subcalls if sc.error]
    assert len(refused) == 2 and all((sc.error or "").startswith("budget:") for sc in refused)


def test_the_sub_call_cap_holds_under_concurrency_and_across_child_ledgers() -> None:
    ledger = Ledger(max_calls=100, max_sub_calls=5, reserve_synthesis=True)
    admitted: list[int] = []
    refused: list[BudgetExceededError] = []
    gate = threading.Barrier(16, timeout=10)

    def claim(i: int) -> None:
        gate.wait()
        try:
            ledger.reserve("sub", "s")
            admitted.append(i)
        except BudgetExceededError as exc:
            refused.append(exc)

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(admitted) == 5 and len(refused) == 11
    assert all(exc.resource == "subagent_requests" for exc in refused)
    assert ledger.calls_used == 5 and ledger.sub_calls_used == 5  # refusals not charged
    ledger.reserve("main", "m")  # the cap is on sub-calls only
    assert ledger.calls_used == 6

    parent = Ledger(max_calls=100, max_sub_calls=2)
    child = parent.child(0.5)
    child.reserve("main", "m")
    child.reserve("sub", "s")
    child.reserve("sub", "s")
    with pytest.raises(BudgetExceededError, match="sub-agent request limit"):
        child.reserve("sub", "s")
    assert parent.sub_calls_used == 2 and parent.calls_used == 3 and child.calls_used == 3


# ---------------------------------------------------------------------- model_settings
SETTINGS = {"temperature": 0.4, "max_tokens": 300, "stop_sequences": ["X"], "seed": 7}


def test_model_settings_reach_every_main_model_request() -> None:
    synthesis = json.dumps(reflection("calculator", 1, key_insight="check tool output"))
    main = ScriptedModel(
        [
            code_reply("print(ask_llm('Which number is wrong?', trace.text(1)))"),
            code_reply("print(len(trace))"),
            synthesis,
        ]
    )
    sub = FunctionModel(lambda request: "41")
    # The settings win over the config's temperature and main_max_tokens.
    config = RRConfig(
        max_iterations=2, temperature=0.9, main_max_tokens=1_000, subagent_model=sub.name
    )
    result = RRStep(main.name, config, model_settings=SETTINGS).analyse(small_trace())
    assert result.transcript.outcome == "synthesis" and len(main.requests) == 3
    for request in main.requests:  # both turns and the synthesis
        assert (request.temperature, request.max_tokens) == (0.4, 300)
        assert request.kwargs["stop"] == ["X"] and request.kwargs["seed"] == 7
    # The sub-model is configured by the subagent_* fields only.
    (sub_request,) = sub.requests
    assert (sub_request.temperature, sub_request.max_tokens) == (0.0, config.subagent_max_tokens)
    assert "seed" not in sub_request.kwargs and "stop" not in sub_request.kwargs
    # A synthesised reflection carries the established fields too.
    usage = check_result_fields(result.reflection, iterations=2)
    assert usage["calls"] == 4 and usage["subagent_calls"] == 1


def test_config_fields_apply_where_model_settings_are_silent() -> None:
    main = ScriptedModel(explore_then_final(["print(len(trace))"], reflection("calculator", 1)))
    config = RRConfig(max_iterations=3, temperature=0.3, main_max_tokens=700)
    RRStep(main.name, config, model_settings={"seed": 11, "top_p": 0.5}).analyse(small_trace())
    for request in main.requests:
        assert (request.temperature, request.max_tokens) == (0.3, 700)
        assert request.kwargs["seed"] == 11 and request.kwargs["top_p"] == 0.5


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ([("temperature", 0.1)], "must be a mapping"),
        ("temperature=0.1", "must be a mapping"),
        ({"temperature": "hot"}, "temperature must be a number"),
        ({"max_tokens": 0}, "max_tokens must be an integer"),
        ({"stop_sequences": "X"}, "stop_sequences must be a list"),
        ({"stop": ["X"]}, "use 'stop_sequences'"),
        ({"model": "other"}, "not a model setting"),
    ],
)
def test_bad_model_settings_raise_before_any_model_call(settings: Any, message: str) -> None:
    main = ScriptedModel(["never sent"])
    with pytest.raises(UsageError, match=message):
        RRStep(main.name, model_settings=settings)
    assert main.requests == []


def test_model_settings_with_a_client_say_to_configure_the_client() -> None:
    main = ScriptedModel(["never sent"])
    client = LLMClient(main.name, temperature=0.2)
    with pytest.raises(UsageError, match="configure the client"):
        RRStep(client, model_settings={"temperature": 0.4})
    assert RRStep(client).main is client
    assert client_from_settings(client) is client and client_from_settings(client, {}) is client
    assert main.requests == []


def test_client_from_settings_maps_the_pydantic_ai_names() -> None:
    model = ScriptedModel(["hi"])
    client = client_from_settings(
        model.name,
        {
            "temperature": 0.2,
            "max_tokens": 50,
            "timeout": 12,
            "stop_sequences": ("END",),
            "top_p": 0.9,
            "extra_headers": {"X-Trace": "1"},
            "frequency_penalty": None,  # None = not set
        },
        max_retries=1,
    )
    assert (client.temperature, client.max_tokens, client.timeout) == (0.2, 50, 12.0)
    assert client.retry_policy.max_retries == 1
    client.complete("hello")
    (request,) = model.requests
    assert (request.temperature, request.max_tokens) == (0.2, 50)
    assert request.kwargs["stop"] == ["END"] and request.kwargs["top_p"] == 0.9
    assert "frequency_penalty" not in request.kwargs
    assert client_from_settings(model, {"max_retries": 0}).retry_policy.max_retries == 0


# ---------------------------------------------------------------------- failure reflections
def test_a_failure_reflection_carries_the_established_fields() -> None:
    main = ScriptedModel(["never sent"])

    def no_kernel() -> Any:
        raise RuntimeError("no kernel here")

    step = RRStep(main.name, kernel_factory=no_kernel)
    result = step.analyse(small_trace())
    assert "no kernel here" in result.reflection.raw["error"]
    usage = check_result_fields(result.reflection, iterations=0)
    assert usage["requests"] == usage["input_tokens"] == usage["total_tokens"] == 0
    rr_trace = result.reflection.raw["rr_trace"]
    assert rr_trace["subagent_calls"] == 0 and rr_trace["timed_out"] is False
    assert main.requests == []
