"""Shared helpers for the CLI, viewer, eval and replay tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ace.rr.transcript import Iteration, SubCall, Transcript

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data" / "who_and_when"
"""The Who&When files the tests read by name, shipped with the tests (see its README)."""
SHARED_DATA = REPO.parent / "shared" / "data" / "who_and_when"
"""The whole Who&When sample beside the repository, for tests that need every file."""

HOSTILE = (
    "\x1b[31mred\x1b[0m \x1b]0;evil title\x07 \x1b]8;;http://evil.example/\x1b\\link\x1b]8;;\x1b\\ "
    "<script>alert(1)</script> [bold]markup[/bold] \x9b2J\x07\x00 \u202eevil\u202c done\rOVER"
)
"""Text a hostile trace or model could produce: escapes, markup, HTML, controls, bidi."""


def run_cli(
    *args: str,
    cwd: Path | None = None,
    env: dict[str, str | None] | None = None,
    timeout: float = 180,
) -> subprocess.CompletedProcess[str]:
    """``python -m ace.cli ARGS`` in a subprocess, output captured as text.

    ``env`` adds variables to the environment; a value of None removes one.
    """
    full_env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    for key, value in (env or {}).items():
        if value is None:
            full_env.pop(key, None)
        else:
            full_env[key] = value
    full_env.pop("ACE_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "ace.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=full_env,
        timeout=timeout,
    )


def sample_transcript(iterations: int = 3, text: str = "plain output") -> Transcript:
    """A transcript with code, output, sub-calls, an error and a FINAL, without running."""
    items = []
    for index in range(1, iterations + 1):
        items.append(
            Iteration(
                index=index,
                reply=f"Step {index}.\n```python\nprint('iteration {index}')\n```",
                code=f"print('iteration {index}')\nvalue_{index} = {index}",
                stdout=f"iteration {index}\n{text}\n",
                duration_s=0.1 * index,
                model_duration_s=0.05,
                prompt_tokens=100 * index,
                completion_tokens=10 * index,
                subcalls=(
                    [
                        SubCall(
                            model="scripted/sub",
                            prompt_chars=len(text),
                            prompt=f"question about {text}",
                            reply=f"answer {text}",
                            prompt_tokens=7,
                            completion_tokens=3,
                            cost_usd=0.001,
                            duration_s=0.2,
                        )
                    ]
                    if index == 2
                    else []
                ),
                error="NameError: name 'x' is not defined" if index == iterations - 1 else None,
                final_accepted=True if index == iterations else None,
            )
        )
    return Transcript(
        session_id="sess-1",
        model="scripted/main",
        subagent_model="scripted/sub",
        trace_id="3.json",
        iterations=items,
        outcome="final",
        final={"attribution": {"agent": "WebSurfer", "step": 4, "reason": text}},
        usage={
            "calls": iterations + 1,
            "max_calls": 30,
            "by_model": {
                "scripted/main": {
                    "calls": iterations,
                    "prompt_tokens": 600,
                    "completion_tokens": 60,
                    "cost_usd": 0.01,
                },
                "scripted/sub": {
                    "calls": 1,
                    "prompt_tokens": 7,
                    "completion_tokens": 3,
                    "cost_usd": 0.001,
                },
            },
        },
        notes=[f"note: {text}"],
        duration_s=1.5,
    )


def write_labelled(directory: Path, records: list[dict[str, object]]) -> Path:
    """Write Who&When-style records as 1.json, 2.json, ... and return the directory."""
    directory.mkdir(parents=True, exist_ok=True)
    for number, record in enumerate(records, 1):
        (directory / f"{number}.json").write_text(json.dumps(record), encoding="utf-8")
    return directory


def who_and_when_record(
    agents: list[str], mistake_agent: str, mistake_step: int
) -> dict[str, object]:
    """A small labelled record: one message per agent name in ``agents``."""
    return {
        "question": "What is 2 + 2?",
        "ground_truth": "4",
        "history": [
            {"role": "assistant", "name": name, "content": f"{name} speaks at step {i}"}
            for i, name in enumerate(agents)
        ],
        "mistake_agent": mistake_agent,
        "mistake_step": str(mistake_step),
        "mistake_reason": "it said 5",
    }


def explore_then_final(agent: str = "WebSurfer", step: int = 4) -> list[str]:
    """A scripted RR session: explore the trace, batch sub-calls, then FINAL."""
    return [
        "First the shape of the trace.\n```python\nprint(len(trace))\nprint(trace.agents())\n```",
        "Ask the sub-model about three steps at once.\n```python\n"
        "answers = llm_batch([f'Summarise step {i}: ' + trace.text(i)[:200] for i in (1, 2, 3)])\n"
        "for a in answers:\n    print(a)\n```",
        "```python\nFINAL({'reasoning': 'explored', 'error_identification': 'wrong step',\n"
        f"       'attribution': {{'agent': {agent!r}, 'step': {step}, 'reason': 'it erred'}}}})\n```",
    ]


def session_file(path: Path, replies: list[str]) -> Path:
    """Write a scripted session file for ``--model scripted:PATH``."""
    path.write_text(
        json.dumps(
            {
                "description": "SCRIPTED test session",
                "replies": replies,
                "subagent": {
                    "default": "no rule",
                    "rules": [
                        {"contains": f"Summarise step {i}", "reply": f"summary {i}"}
                        for i in (1, 2, 3)
                    ],
                },
            }
        ),
        encoding="utf-8",
    )
    return path
