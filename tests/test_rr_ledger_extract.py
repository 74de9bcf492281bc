"""The RR's pure parts: the budget ledger and code extraction (property tests included)."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ace.errors import BudgetExceededError
from ace.rr.extract import extract
from ace.rr.ledger import Ledger


def test_calls_are_hard_and_one_is_held_back_for_synthesis() -> None:
    ledger = Ledger(max_calls=3)
    ledger.settle(ledger.reserve("main", "m"), prompt_tokens=10, completion_tokens=5)
    ledger.reserve("sub", "s")
    with pytest.raises(BudgetExceededError, match="1 held back") as info:
        ledger.reserve("main", "m")
    assert (info.value.spent, info.value.limit, info.value.resource) == (2, 3, "calls")
    ledger.reserve("synthesis", "m")
    with pytest.raises(BudgetExceededError):
        ledger.reserve("synthesis", "m")
    assert ledger.calls_used == 3 and ledger.calls_left == 0


def test_tokens_and_cost_reserve_worst_case_then_settle() -> None:
    ledger = Ledger(max_calls=10, max_tokens=1000, max_cost_usd=1.0, reserve_synthesis=False)
    r = ledger.reserve("main", "m", tokens=900, cost_usd=0.5)
    with pytest.raises(BudgetExceededError, match="token budget"):
        ledger.reserve("sub", "m", tokens=200)
    ledger.settle(r, prompt_tokens=100, completion_tokens=50, cost_usd=0.1)
    ledger.settle(r, prompt_tokens=999)  # settling twice changes nothing
    ledger.reserve("sub", "m", tokens=200, cost_usd=0.3)
    with pytest.raises(BudgetExceededError, match="cost budget"):
        ledger.reserve("sub", "m", tokens=10, cost_usd=0.7)
    snap = ledger.snapshot()
    assert snap["tokens"] == 350 and snap["calls"] == 2
    assert snap["by_model"]["m"] == {
        "calls": 1,
        "prompt_tokens": 100,
        "completion_tokens": 50,
        "cost_usd": 0.1,
    }


def test_unpriced_model_usage_shows_cost_none() -> None:
    ledger = Ledger(max_calls=5, reserve_synthesis=False)
    ledger.settle(ledger.reserve("sub", "x"), prompt_tokens=1, cost_usd=None)
    assert ledger.snapshot()["by_model"]["x"]["cost_usd"] is None


@given(
    max_calls=st.integers(1, 40),
    max_tokens=st.one_of(st.none(), st.integers(1, 5000)),
    charges=st.lists(st.tuples(st.integers(0, 400), st.integers(0, 400)), min_size=1, max_size=80),
    threads=st.integers(1, 8),
)
@settings(max_examples=60, deadline=None)
def test_concurrent_charges_never_pass_a_limit(
    max_calls: int, max_tokens: int | None, charges: list[tuple[int, int]], threads: int
) -> None:
    ledger = Ledger(max_calls=max_calls, max_tokens=max_tokens, reserve_synthesis=False)
    peak = {"tokens": 0}
    lock = threading.Lock()

    def worker(part: list[tuple[int, int]]) -> None:
        for reserve, actual in part:
            try:
                res = ledger.reserve("sub", "m", tokens=reserve)
            except BudgetExceededError:
                continue
            with lock:
                peak["tokens"] = max(peak["tokens"], ledger.snapshot()["tokens"])
            ledger.settle(res, prompt_tokens=min(actual, reserve))

    parts = [charges[i::threads] for i in range(threads)]
    pool = [threading.Thread(target=worker, args=(p,)) for p in parts]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    snap = ledger.snapshot()
    assert snap["calls"] <= max_calls
    if max_tokens is not None:
        assert snap["tokens"] <= max_tokens and peak["tokens"] <= max_tokens


# ---------------------------------------------------------------- extraction
@pytest.mark.parametrize(
    ("reply", "kind", "code"),
    [
        ("Look:\n```python\nprint(1)\n```\nthen\n```py\nx = 2\n```", "code", "print(1)\n\nx = 2"),
        ("~~~\nprint('tilde')\n~~~", "code", "print('tilde')"),
        ("```repl\nsteps = trace.steps\n```", "code", "steps = trace.steps"),
        ("unclosed\n```python\nprint(3)", "code", "print(3)"),
        (
            'I am done. FINAL({"key_insight": "a (b) c"}) thanks',
            "final_call",
            'FINAL({"key_insight": "a (b) c"})',
        ),
        ("FINAL_VAR('result')", "final_call", "FINAL_VAR('result')"),
        ("no code at all, just words", "none", ""),
        ('```json\n{"reasoning": "r", "key_insight": "k"}\n```', "json", ""),
    ],
)
def test_extraction_forms(reply: str, kind: str, code: str) -> None:
    got = extract(reply)
    assert (got.kind, got.code) == (kind, code)


def test_direct_json_answer_is_parsed() -> None:
    got = extract('Answer: {"reasoning": "x", "attribution": {"agent": "A", "step": 3}}')
    assert got.answer == {"reasoning": "x", "attribution": {"agent": "A", "step": 3}}


@given(st.text(max_size=400))
@settings(max_examples=300, deadline=None)
def test_arbitrary_text_never_crashes(text: str) -> None:
    got = extract(text)
    assert got.kind in {"code", "final_call", "json", "none"}


code_lines = st.lists(
    st.from_regex(r"[a-z_][a-z0-9_]{0,8} = [0-9]{1,4}", fullmatch=True), min_size=1, max_size=6
)


@given(
    prose=st.text(alphabet=st.characters(blacklist_characters="`~"), max_size=80), lines=code_lines
)
@settings(max_examples=200, deadline=None)
def test_fenced_code_is_recovered_from_any_prose(prose: str, lines: list[str]) -> None:
    code = "\n".join(lines)
    got = extract(f"{prose}\n```python\n{code}\n```\n{prose}")
    assert got.kind == "code" and got.code == code
