"""Naming the first difference between an unmatched request and the closest recording."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ace.replay.cassette import Interaction, canonical_messages

_SNIPPET = 60


def describe_mismatch(
    model: str,
    messages: Sequence[Mapping[str, Any]],
    recorded: Sequence[Interaction],
    *,
    exhausted_count: int = 0,
) -> str:
    """One sentence: why this request has no recorded reply, and where it first differs."""
    if exhausted_count:
        return (
            f"this request to {model!r} was recorded {exhausted_count} time(s) and is now "
            f"made a {_ordinal(exhausted_count + 1)} time"
        )
    same_model = [i for i in recorded if i.model == model]
    if not same_model:
        known = sorted({i.model for i in recorded}) or ["none"]
        return f"model {model!r} was never recorded (the cassette holds: {', '.join(known)})"
    got = canonical_messages(messages)
    best = max(same_model, key=lambda i: _closeness(got, canonical_messages(i.messages)))
    return _first_difference(got, canonical_messages(best.messages))


def _closeness(got: list[tuple[str, str]], want: list[tuple[str, str]]) -> tuple[int, int]:
    equal = _equal_prefix(got, want)
    if equal < min(len(got), len(want)):
        return equal, _common_prefix(got[equal][1], want[equal][1])
    return equal, 0


def _first_difference(got: list[tuple[str, str]], want: list[tuple[str, str]]) -> str:
    equal = _equal_prefix(got, want)
    if equal == len(got) == len(want):
        return "the request equals a recording whose replies are used up"
    if equal == len(want):
        return (
            f"the request has {len(got)} messages, the closest recording {len(want)}; "
            f"message {equal + 1} ({got[equal][0]}) is new: {_snippet(got[equal][1], 0)}"
        )
    if equal == len(got):
        return (
            f"the request has {len(got)} messages, the closest recording {len(want)} "
            f"(it continues with a {want[equal][0]} message)"
        )
    (got_role, got_text), (want_role, want_text) = got[equal], want[equal]
    where = f"message {equal + 1} of {len(got)}"
    if got_role != want_role:
        return f"{where}: role {got_role!r}, recorded {want_role!r}"
    at = _common_prefix(got_text, want_text)
    return (
        f"{where} ({got_role}) differs at character {at}: got {_snippet(got_text, at)}, "
        f"recorded {_snippet(want_text, at)}"
    )


def _equal_prefix(got: list[tuple[str, str]], want: list[tuple[str, str]]) -> int:
    count = 0
    for a, b in zip(got, want, strict=False):
        if a != b:
            break
        count += 1
    return count


def _common_prefix(a: str, b: str) -> int:
    for index, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return index
    return min(len(a), len(b))


def _snippet(text: str, at: int) -> str:
    start = max(0, at - 10)
    piece = text[start : start + _SNIPPET]
    prefix = "…" if start else ""
    suffix = "…" if start + _SNIPPET < len(text) else ""
    return repr(f"{prefix}{piece}{suffix}") if piece else "(end of text)"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
