"""Cassettes recorded before the RR session was restructured replay to identical transcripts.

The cassettes and expected transcripts in ``tests/data/rr_cassettes`` were recorded with
``python tests/_rr_cassettes.py`` before issue 37 moved the session's texts into
``prompts/`` and split it into its loop, prompts and endings. A replay matches every
request exactly (random markers aside), so any change to a text the model reads, or to
the order of requests, fails here with the first difference named; the comparison then
checks every cell, output, note, sub-call, child session, usage figure and reflection.
"""

from __future__ import annotations

import json

import pytest
from _rr_cassettes import CASSETTES, SCENARIOS, Scenario, comparable, first_difference

from ace.replay import Replayer

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_recorded_session_replays_to_the_same_transcript(scenario: Scenario) -> None:
    replayer = Replayer.from_file(str(CASSETTES / f"{scenario.name}.cassette.json"))
    sub = replayer.cassette.subagent_model
    step = scenario.step(replayer.model_name(), replayer.model_name(sub) if sub else None)
    outcome = scenario.run(step)
    assert replayer.mismatches == []
    assert replayer.unused == 0
    expected = json.loads((CASSETTES / f"{scenario.name}.expected.json").read_text())
    replayed = comparable(outcome)
    assert first_difference(replayed, expected) is None
    assert replayed == expected
