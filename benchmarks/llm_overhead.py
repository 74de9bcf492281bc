"""Median cost of one scripted call through ``LLMClient.complete`` (sync).

Run: ``.venv/bin/python -c "from benchmarks.llm_overhead import main; main()"``.
Prints the median wall time of a call through the client, of the same call made with
``litellm.completion`` directly, and their difference (what the client adds).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from ace.llm import LLMClient, _litellm
from ace.testing import FunctionModel

CALLS = 200
WARM_UP = 20


def _time_s(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def main(calls: int = CALLS) -> dict[str, float]:
    """Measure and print the medians (milliseconds); returns them too.

    The two kinds of call alternate, so load from other processes hits both alike.
    """
    model = FunctionModel(lambda request: "ok")
    client = LLMClient(model.name)
    litellm = _litellm.load()
    messages = [{"role": "user", "content": "ping"}]

    def via_client() -> object:
        return client.complete(messages)

    def direct() -> object:
        return litellm.completion(model=model.name, messages=messages, temperature=0.0)

    for _ in range(WARM_UP):
        via_client()
        direct()
    client_s, direct_s = [], []
    for _ in range(calls):
        client_s.append(_time_s(via_client))
        direct_s.append(_time_s(direct))
    result = {
        "client_ms": statistics.median(client_s) * 1000,
        "litellm_ms": statistics.median(direct_s) * 1000,
        "overhead_ms": statistics.median(a - b for a, b in zip(client_s, direct_s, strict=True))
        * 1000,
    }
    print(
        f"scripted call, median of {calls}: through LLMClient {result['client_ms']:.3f} ms, "
        f"litellm.completion directly {result['litellm_ms']:.3f} ms, "
        f"client overhead {result['overhead_ms']:.3f} ms"
    )
    return result


if __name__ == "__main__":
    main()
