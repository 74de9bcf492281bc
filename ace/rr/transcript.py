"""The RR transcript: every prompt, reply, cell and sub-call of a session.

A versioned JSON document (``schema_version``) that can be saved, loaded and viewed.
``summary()`` is the compact form placed in ``ReflectorOutput.raw["rr_trace"]``.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from ace._files import atomic_write
from ace._text import clean_json
from ace.errors import InputError

SCHEMA_VERSION = 1
Outcome = Literal["final", "direct_json", "synthesis", "timeout", "error", "interrupted", "running"]


def _now() -> str:
    return datetime.now(UTC).isoformat()


class SubCall(BaseModel):
    """One sub-LLM call made from kernel code."""

    model: str
    prompt_chars: int
    reply_chars: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    duration_s: float = 0.0
    error: str | None = None
    prompt: str = ""
    reply: str = ""


class ChildSession(BaseModel):
    """A child session started from kernel code with ``rr_query``."""

    question: str
    depth: int
    budget_calls: int
    data_chars: int
    outcome: str = "running"
    duration_s: float = 0.0
    transcript: Transcript | None = None


class Iteration(BaseModel):
    """One turn: the model's reply, the code run, and what came back."""

    index: int
    reply: str
    code: str = ""
    kind: str = "code"
    """What the reply held: ``code``, ``final_call``, ``json`` or ``none``."""
    stdout: str = ""
    stderr: str = ""
    error: str | None = None
    timed_out: bool = False
    kernel_note: str | None = None
    """What happened to the kernel (restart, lost state), as told to the model."""
    duration_s: float = 0.0
    model_duration_s: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    subcalls: list[SubCall] = Field(default_factory=list)
    children: list[ChildSession] = Field(default_factory=list)
    final_accepted: bool | None = None
    final_rejection: str | None = None


class Transcript(BaseModel):
    """A whole RR session, enough to replay its reasoning and to render it."""

    schema_version: int = SCHEMA_VERSION
    session_id: str
    started_at: str = Field(default_factory=_now)
    finished_at: str | None = None
    model: str
    subagent_model: str | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    isolation: dict[str, Any] = Field(default_factory=dict)
    trace_id: str | None = None
    """The trace analysed (for a batch: the first one; ``task_ids`` lists all)."""
    task_ids: list[str] = Field(default_factory=list)
    depth: int = 0
    """0 for a top-level session; children started by ``rr_query`` count up."""
    messages: list[dict[str, str]] = Field(default_factory=list)
    """Every message sent to or received from the main model, in order, never trimmed."""
    iterations: list[Iteration] = Field(default_factory=list)
    outcome: Outcome = "running"
    final: dict[str, Any] | None = None
    usage: dict[str, Any] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)
    cause: str | None = None
    """What first stopped the session early (a model call, the budget, the sandbox), as
    ``"ErrorType: message"``; None when nothing failed. Later symptoms (a synthesis that
    could not run because the model was down) go to ``notes``, not here."""
    duration_s: float = 0.0

    def summary(self, max_chars: int = 1_000) -> dict[str, Any]:
        """Compact, JSON-ready form for ``raw["rr_trace"]``.

        ``total_iterations`` (main-loop turns), ``subagent_calls`` (sub-agent requests of
        the session, as counted by its ledger) and ``timed_out`` are the names the
        established ACE package uses.
        """
        return {
            "schema_version": self.schema_version,
            "session_id": self.session_id,
            "outcome": self.outcome,
            "timed_out": self.outcome == "timeout",
            "total_iterations": len(self.iterations),
            "subagent_calls": self._subagent_calls(),
            "iterations": [
                {
                    "index": it.index,
                    "code": it.code[:max_chars],
                    "output": (it.stdout + it.stderr)[:max_chars],
                    "error": it.error,
                    "timed_out": it.timed_out,
                    "duration_s": round(it.duration_s, 4),
                    "subcalls": [sc.model_dump(exclude={"prompt", "reply"}) for sc in it.subcalls],
                    "children": [
                        {
                            "question": ch.question[:200],
                            "depth": ch.depth,
                            "budget_calls": ch.budget_calls,
                            "outcome": ch.outcome,
                            "calls": ch.transcript.usage.get("calls") if ch.transcript else None,
                        }
                        for ch in it.children
                    ],
                }
                for it in self.iterations
            ],
            "usage": self.usage,
            "isolation": self.isolation,
            "notes": self.notes,
            "cause": self.cause,
            "duration_s": round(self.duration_s, 3),
        }

    def _subagent_calls(self) -> int:
        counted = self.usage.get("subagent_calls")
        if isinstance(counted, int):
            return counted
        # A transcript written before the ledger counted them: the calls that were sent.
        return sum(
            1
            for it in self.iterations
            for sc in it.subcalls
            if not (sc.error or "").startswith("budget:")
        )

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the transcript atomically as JSON."""
        try:
            text = self.model_dump_json(indent=2)
        except ValueError:
            # A lone surrogate that slipped past the entry points: never lose the record.
            text = json.dumps(clean_json(self.model_dump(mode="json", round_trip=True)), indent=2)
        return atomic_write(path, text)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Transcript:
        """Read a saved transcript; a wrong version or shape raises ``InputError``."""
        file = Path(path)
        try:
            text = file.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise InputError(
                f"transcript file {file}: not UTF-8 text (a binary file?); "
                "give the .json file `ace rr analyse --save` wrote"
            ) from None
        except OSError as exc:
            raise InputError(
                f"transcript file {file}: cannot read ({exc.strerror or exc})"
            ) from None
        try:
            transcript = cls.model_validate_json(text)
        except ValidationError as exc:
            raise InputError(
                f"transcript file {file}: not an RR transcript ({exc.errors()[0]['msg']})"
            ) from exc
        if transcript.schema_version != SCHEMA_VERSION:
            raise InputError(
                f"transcript file {file}: schema_version {transcript.schema_version} is not "
                f"supported (this version reads {SCHEMA_VERSION})"
            )
        return transcript


ChildSession.model_rebuild()
