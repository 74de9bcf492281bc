"""Foundation figures: import cost, skillbook file speed, prompt size.

Run: ``python -m benchmarks.foundation`` (or all benchmarks: ``make bench``).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

from ace.skillbook import Skillbook


def import_time(runs: int = 7) -> float:
    """Median wall time of ``import ace`` in a fresh interpreter (seconds)."""
    code = "import time; t=time.perf_counter(); import ace; print(time.perf_counter()-t)"
    samples = [
        float(
            subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, check=True
            ).stdout
        )
        for _ in range(runs)
    ]
    return statistics.median(samples)


def big_skillbook(n: int) -> Skillbook:
    """A skillbook of ``n`` realistic skills over 20 sections."""
    book = Skillbook()
    for i in range(n):
        skill = book.add_skill(
            f"section {i % 20}",
            f"When the task mentions item {i}, verify the intermediate result against the source "
            "before composing the final answer.",
            justification="Seen to prevent off-by-one answers in earlier traces.",
            evidence=f"trace {i}: step 4 used an unverified number",
            source={"trace_id": f"trace-{i}", "epoch": 1},
        )
        book.tag_skill(skill.id, "helpful", i % 3)
    return book


def save_load_times(n: int = 10_000, runs: int = 5) -> tuple[float, float, int]:
    """Median save and load seconds for ``n`` skills, and the file size in bytes."""
    book = big_skillbook(n)
    saves, loads = [], []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "book.json"
        for _ in range(runs):
            t = time.perf_counter()
            book.save(path)
            saves.append(time.perf_counter() - t)
            t = time.perf_counter()
            Skillbook.load(path)
            loads.append(time.perf_counter() - t)
        size = path.stat().st_size
    return statistics.median(saves), statistics.median(loads), size


def prompt_tokens(n: int = 100) -> tuple[int, int]:
    """Tokens of ``as_prompt()`` and of the plain JSON for ``n`` skills (litellm's counter)."""
    from ace.llm import _litellm

    litellm = _litellm.load()
    book = big_skillbook(n)
    as_json = orjson.dumps([s.to_dict() for s in book.skills()]).decode()
    count = litellm.token_counter
    return count(model="gpt-4o", text=book.as_prompt()), count(model="gpt-4o", text=as_json)


def main() -> None:
    """Print the foundation figures."""
    print("== foundation ==")
    print(
        f"import ace (fresh interpreter, median of 7): {import_time() * 1000:.1f} ms (target < 300 ms)"
    )
    save, load, size = save_load_times()
    print(
        f"skillbook 10,000 skills: save {save * 1000:.0f} ms, load {load * 1000:.0f} ms (median of 5), file {size / 1e6:.1f} MB"
    )
    prompt, plain = prompt_tokens()
    print(
        f"as_prompt() for 100 skills: {prompt} tokens vs plain JSON {plain} tokens ({prompt / plain:.0%})"
    )


if __name__ == "__main__":
    main()
