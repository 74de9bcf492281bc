"""Record and replay of whole RR sessions, concurrent sub-calls included (real kernel)."""

from __future__ import annotations

from pathlib import Path

import pytest
from _cli_support import DATA, explore_then_final, run_cli, session_file

from ace.replay import Recorder, Replayer
from ace.rr import RRConfig, RRStep
from ace.rr.transcript import Transcript
from ace.testing import FunctionModel, RecordedRequest, Reply, ScriptedModel
from ace.traces import load_trace_file

pytestmark = pytest.mark.slow

TRACE = DATA / "hand_crafted" / "1.json"


def _comparable(transcript: Transcript) -> list[dict[str, object]]:
    return [
        {
            "code": it.code,
            "stdout": it.stdout,
            "error": it.error,
            "tokens": (it.prompt_tokens, it.completion_tokens),
            "subcalls": sorted(
                (s.prompt, s.reply, s.prompt_tokens, s.completion_tokens) for s in it.subcalls
            ),
            "final": it.final_accepted,
        }
        for it in transcript.iterations
    ]


def test_replay_reproduces_a_session_with_concurrent_subcalls() -> None:
    def sub(request: RecordedRequest) -> Reply:
        prompt = request.last_user_text
        number = int(prompt.split("Summarise step ")[1][0])
        # Step 1 answers last: completion order differs from request order.
        return Reply(f"summary {number}", delay_s={1: 0.15, 2: 0.08, 3: 0.0}[number])

    main = ScriptedModel(explore_then_final())
    sub_model = FunctionModel(sub)
    trace = load_trace_file(TRACE)
    config = RRConfig(max_llm_calls=12, subagent_model=sub_model.name)
    with Recorder(model=main.name, subagent_model=sub_model.name) as recorder:
        recorded = RRStep(main.name, config=config).analyse(trace)
    assert recorded.transcript.outcome == "final"
    subcalls = recorded.transcript.iterations[1].subcalls
    assert sorted(s.reply for s in subcalls) == ["summary 1", "summary 2", "summary 3"]

    replayer = Replayer(recorder.cassette)
    replay_config = RRConfig(
        max_llm_calls=12, subagent_model=replayer.model_name(recorder.cassette.subagent_model)
    )
    replayed = RRStep(replayer.model_name(), config=replay_config).analyse(trace)
    assert replayer.mismatches == [] and replayer.unused == 0
    assert _comparable(replayed.transcript) == _comparable(recorded.transcript)
    assert replayed.reflection.attribution == recorded.reflection.attribution
    assert replayed.transcript.usage["calls"] == recorded.transcript.usage["calls"]


def test_cli_record_replay_and_divergence(tmp_path: Path) -> None:
    session = session_file(tmp_path / "session.json", explore_then_final())
    cassette, first, second = tmp_path / "c.json", tmp_path / "t1.json", tmp_path / "t2.json"
    recorded = run_cli(
        "rr",
        "analyse",
        str(TRACE),
        "--model",
        f"scripted:{session}",
        "--record",
        str(cassette),
        "--save",
        str(first),
    )
    assert recorded.returncode == 0, recorded.stderr
    assert f"replay with --model replay:{cassette}" in recorded.stderr

    replayed = run_cli(
        "rr", "analyse", str(TRACE), "--model", f"replay:{cassette}", "--save", str(second)
    )
    assert replayed.returncode == 0, replayed.stderr
    assert _comparable(Transcript.load(first)) == _comparable(Transcript.load(second))

    other = run_cli(
        "rr", "analyse", str(DATA / "hand_crafted" / "3.json"), "--model", f"replay:{cassette}"
    )
    assert other.returncode == 1
    error = [line for line in other.stderr.splitlines() if line.startswith("ace: error:")]
    assert len(error) == 1 and "Traceback" not in other.stderr
    assert "replay: no recorded reply" in error[0] and "differs at character" in error[0]
