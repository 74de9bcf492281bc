"""RR spans in logfire: emitted when configured, absent (and silent) otherwise."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from logfire.testing import CaptureLogfire

from ace.rr import RRConfig, RRStep
from ace.testing import ScriptedModel, explore_then_final, reflection
from ace.traces import Trace

TRACE = Trace.model_validate(
    {
        "id": "t",
        "format": "ace",
        "question": "q",
        "steps": [{"index": 0, "content": "the session token was wrong", "agent": "a"}],
    }
)


def test_a_configured_logfire_receives_the_session_spans(capfire: CaptureLogfire) -> None:
    sub = ScriptedModel(["sub answer"])
    main = ScriptedModel(
        explore_then_final(["print(ask_llm('what failed?', trace.text(0)))"], reflection("a", 0))
    )
    RRStep(main.name, RRConfig(subagent_model=sub.name)).analyse(TRACE)
    exported = capfire.exporter.exported_spans_as_dict()
    spans = {s["name"]: s for s in exported}
    for name in (
        "rr session {rr.trace_id}",
        "rr iteration {rr.iteration}",
        "rr model call",
        "rr kernel execution",
        "rr sub-call",
    ):
        assert name in spans, sorted(spans)
    cells = [s["attributes"]["rr.code"] for s in exported if s["name"] == "rr kernel execution"]
    assert "ask_llm" in cells[0] and "FINAL" in cells[1]
    assert spans["rr session {rr.trace_id}"]["attributes"]["rr.outcome"] == "final"
    assert spans["rr sub-call"]["attributes"]["rr.model"] == sub.name
    assert spans["rr model call"]["attributes"]["rr.completion_tokens"] > 0


def test_without_configuration_nothing_is_emitted_and_nothing_warns() -> None:
    script = textwrap.dedent(
        """
        import warnings, sys
        warnings.simplefilter("error")
        from ace.rr import RRStep
        from ace.rr._tracing import tracing_enabled
        from ace.testing import ScriptedModel, explore_then_final, reflection
        from ace.traces import Trace
        import logfire  # imported but never configured
        trace = Trace.model_validate({"id": "t", "format": "ace", "steps": [{"index": 0, "content": "x"}]})
        model = ScriptedModel(explore_then_final(["print(1)"], reflection()))
        result = RRStep(model.name).analyse(trace)
        assert not tracing_enabled()
        print(result.transcript.outcome)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("final")
    assert "LogfireNotConfigured" not in out.stderr
