"""The reflectors an evaluation can run, behind one small contract.

``TraceReflector.analyse(trace)`` returns an :class:`Analysis`: the attribution and what
producing it cost. ``RandomReflector`` is the baseline; ``SimpleReflector`` wraps the
single-pass ``ace.roles.Reflector``; ``RRReflector`` wraps the Recursive Reflector.
"""

from __future__ import annotations

import os
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ace.outputs import AgentOutput, Attribution, ReflectorOutput

if TYPE_CHECKING:
    from ace.llm import LLMClient
    from ace.rr import RRConfig
    from ace.rr.run_ledger import RunLedger
    from ace.traces import Trace


@dataclass(frozen=True, kw_only=True)
class Analysis:
    """A reflector's attribution for one trace and what it spent."""

    attribution: Attribution | None
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = 0.0
    """None when a call could not be priced."""
    outcome: str | None = None
    """How the reflector ended, when it says (an RR session's outcome)."""
    cause: str | None = None
    """Why a session ended in a failure reflection (an RR session's first error)."""


class TraceReflector(Protocol):
    """Anything that attributes a failed trace's decisive error."""

    @property
    def name(self) -> str:
        """Short name for reports, e.g. ``random`` or ``rr``."""

    def analyse(self, trace: Trace) -> Analysis:
        """Attribute ``trace``'s decisive error; raise ``RunError`` when that fails."""


class RandomReflector:
    """Guesses a step uniformly and, independently, an agent uniformly among the
    trace's distinct agents.

    Each trace gets its own generator seeded from ``seed`` and the trace id, so a
    trace's guess does not depend on which other traces run or in what order.
    """

    name = "random"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def analyse(self, trace: Trace) -> Analysis:
        """A uniform guess; no model calls."""
        rng = random.Random(f"{self.seed}/{trace.id}")
        if not trace.steps:
            return Analysis(attribution=None)
        agents = sorted({s.agent for s in trace.steps if s.agent is not None})
        step = rng.randrange(len(trace.steps))
        agent = rng.choice(agents) if agents else None
        return Analysis(
            attribution=Attribution(agent=agent, step=step, reason="random baseline guess")
        )


class SimpleReflector:
    """The single-pass ``ace.roles.Reflector``, given the whole trace in one prompt."""

    name = "simple"

    def __init__(self, model: str | LLMClient) -> None:
        from ace.roles import Reflector

        self._reflector = Reflector(model)

    def analyse(self, trace: Trace) -> Analysis:
        """One structured model call (plus validation retries)."""
        from ace.skillbook import Skillbook

        output = self._reflector.reflect(
            question=trace.question or "",
            agent_output=AgentOutput(final_answer=trace.final_answer or ""),
            skillbook=Skillbook(),
            ground_truth=trace.ground_truth,
            feedback=trace.feedback,
            trace=trace,
        )
        usage = output.raw.get("usage", {})
        return Analysis(
            attribution=output.attribution,
            calls=int(usage.get("model_calls", 0)),
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", 0)),
            cost_usd=usage.get("cost_usd"),
        )


class RRReflector:
    """The Recursive Reflector: one sandboxed session per trace.

    Safe to call from several threads at once (each call is its own session and kernel).
    With a ``budget`` (a ``RunLedger``) every session is also charged to it, so all the
    sessions of a run share its limits; with a cost limit there, both models must have a
    price (``ConfigurationError`` otherwise, before any call).
    """

    name = "rr"

    def __init__(
        self,
        model: str,
        config: RRConfig | None = None,
        *,
        transcripts_dir: str | os.PathLike[str] | None = None,
        budget: RunLedger | None = None,
    ) -> None:
        from ace.rr import RRStep

        self._step = RRStep(model, config=config) if config is not None else RRStep(model)
        self.transcripts_dir = Path(transcripts_dir) if transcripts_dir is not None else None
        """Where each session's transcript is saved (``<trace id>.json``), if anywhere."""
        self.budget = budget
        """The run ledger every session is charged to besides its own, if any."""
        if budget is not None and budget.prices_calls:
            from ace.rr._metering import price

            price(self._step.main.model, 1, 1)  # raises ConfigurationError for unpriced models
            price(self._step.sub.model, 1, 1)

    def close(self) -> None:
        """Stop the step's warm kernels."""
        self._step.close()

    def analyse(self, trace: Trace) -> Analysis:
        """Run a session; its ledger gives the calls, tokens and cost."""
        result = self._step.analyse(trace, budget=self.budget)
        transcript = result.transcript
        if self.transcripts_dir is not None:
            transcript.save(self.transcripts_dir / transcript_file_name(trace.id))
        return analysis_of(
            result.reflection, transcript.usage, transcript.outcome, cause=transcript.cause
        )


def transcript_file_name(trace_id: str) -> str:
    """The file name ``RRReflector`` saves a trace's transcript under: ``<trace id>.json``
    with every run of characters other than letters, digits, ``.``, ``_`` and ``-`` made
    one ``_``."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", trace_id).strip("._") or "trace"
    return f"{name}.json"


def analysis_of(
    reflection: ReflectorOutput,
    usage: dict[str, Any],
    outcome: str | None,
    *,
    cause: str | None = None,
) -> Analysis:
    """An :class:`Analysis` from a reflection and an RR ledger snapshot."""
    by_model: dict[str, dict[str, Any]] = usage.get("by_model") or {}
    prompt = sum(int(m.get("prompt_tokens") or 0) for m in by_model.values())
    completion = sum(int(m.get("completion_tokens") or 0) for m in by_model.values())
    costs = [m.get("cost_usd") for m in by_model.values()]
    cost = None if any(c is None for c in costs) else float(sum(c for c in costs if c is not None))
    return Analysis(
        attribution=reflection.attribution,
        calls=int(usage.get("calls") or 0),
        prompt_tokens=prompt,
        completion_tokens=completion,
        cost_usd=cost,
        outcome=outcome,
        cause=cause,
    )
