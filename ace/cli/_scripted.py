"""Scripted sessions from a file: ``--model scripted:SESSION.json``.

The file is JSON::

    {"description": "...", "replies": ["...", "..."],
     "subagent": {"default": "...", "rules": [{"contains": "...", "reply": "..."}]}}

``replies`` answer the main model's turns in order. Sub-calls are answered by rules
(first rule whose text occurs in the prompt, else ``default``), so concurrent sub-calls
get the same answers whatever order they arrive in.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ace.errors import InputError


class SubagentRule(BaseModel):
    """A sub-call whose prompt contains ``contains`` gets ``reply``."""

    model_config = ConfigDict(extra="forbid")

    contains: str
    reply: str


class SubagentScript(BaseModel):
    """How the scripted sub-model answers."""

    model_config = ConfigDict(extra="forbid")

    default: str = "(scripted sub-model: no rule matched this prompt)"
    rules: list[SubagentRule] = Field(default_factory=list)

    def answer(self, prompt: str) -> str:
        """The first matching rule's reply, else the default."""
        for rule in self.rules:
            if rule.contains in prompt:
                return rule.reply
        return self.default


class ScriptedSession(BaseModel):
    """A scripted RR session: the main model's replies and the sub-model's rules."""

    model_config = ConfigDict(extra="forbid")

    description: str = ""
    """What this script is (say that it is scripted, and why)."""
    replies: list[str] = Field(min_length=1)
    subagent: SubagentScript | None = None

    @classmethod
    def load(cls, path: str | Path) -> ScriptedSession:
        """Read a session file; a bad one raises ``InputError`` naming the problem."""
        file = Path(path)
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise InputError(
                f"scripted session {file}: cannot read it ({exc.strerror or type(exc).__name__})"
            ) from exc
        try:
            return cls.model_validate_json(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "document"
            raise InputError(f"scripted session {file}: {where}: {first['msg']}") from None


@dataclass(frozen=True)
class ScriptedModels:
    """Model strings for a scripted session (and the objects that keep them registered)."""

    model: str
    subagent_model: str | None
    keep_alive: tuple[object, ...]


def scripted_models(session: ScriptedSession) -> ScriptedModels:
    """Register the session's scripted models with ``ace.testing``."""
    from ace.testing import FunctionModel, RecordedRequest, ScriptedModel

    main = ScriptedModel(session.replies)
    script = session.subagent
    if script is None:
        return ScriptedModels(model=main.name, subagent_model=None, keep_alive=(main,))

    def answer(request: RecordedRequest) -> str:
        prompt = "\n".join(str(m.get("content") or "") for m in request.messages)
        return script.answer(prompt)

    sub = FunctionModel(answer)
    return ScriptedModels(model=main.name, subagent_model=sub.name, keep_alive=(main, sub))
