"""How a session ends without an accepted FINAL: the synthesis, or a stand-in reflection.

The synthesis continues the main conversation (the previews and every kept turn, so a
server with a prefix cache reads only the new request) with a request for reflection
JSON. Its reply cannot be sent back for repair, so the parts that fail validation are
dropped (``salvage``). Without a usable synthesis, the session returns a timeout
reflection holding the last findings; a session that could not run at all returns a
failure reflection naming the cause.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ace.errors import BudgetExceededError, LLMError
from ace.outputs import ReflectorOutput
from ace.rr._final import salvage
from ace.rr._prompts import FINDINGS_CHARS, SessionPrompts, cut, ending
from ace.rr._tracing import span
from ace.rr.extract import reflection_value

if TYPE_CHECKING:
    from ace.llm import LLMClient
    from ace.rr._conversation import Conversation
    from ace.rr.transcript import Transcript


def record_cause(transcript: Transcript, exc: BaseException) -> None:
    """Keep the first failure as the session's cause; later ones are its symptoms."""
    if transcript.cause is None:
        transcript.cause = f"{type(exc).__name__}: {exc}"


def failure_reflection(reason: str) -> ReflectorOutput:
    """The reflection of a session that could not analyse the trace at all."""
    return ReflectorOutput(
        reasoning=ending("failure_reasoning", reason=reason),
        error_identification=ending("failure_error"),
        raw={"error": reason},
    )


def timeout_reflection(reason: str, transcript: Transcript) -> ReflectorOutput:
    """The reflection of a session that ended without one: the last output it saw."""
    last = next((it for it in reversed(transcript.iterations) if it.stdout), None)
    findings = cut(last.stdout, FINDINGS_CHARS) if last else ending("no_output")
    return ReflectorOutput(
        reasoning=ending("timeout_reasoning", reason=reason, findings=findings),
        error_identification=ending("timeout_error"),
        raw={"timeout": True, "reason": reason},
    )


@dataclass
class Endings:
    """The end of a session that has no accepted FINAL."""

    client: LLMClient
    """The main model, charged to the ledger as ``synthesis`` (its reserved call)."""
    conversation: Conversation
    prompts: SessionPrompts
    enabled: bool
    """``RRConfig.enable_fallback_synthesis``."""
    max_tokens: int
    temperature: float
    progress: Callable[[str], None]

    def without_final(
        self, transcript: Transcript, scope: tuple[str, int] | None
    ) -> ReflectorOutput:
        """The synthesis when it is enabled and works, else the timeout reflection. The
        reason is the transcript's last note (why the loop stopped)."""
        reason = transcript.notes[-1] if transcript.notes else "the session ended"
        if self.enabled:
            self.progress("synthesis")
            reflection = self._synthesise(reason, scope, transcript)
            if reflection is not None:
                transcript.outcome = "synthesis"
                reflection.raw.update({"timeout": True, "synthesised": True, "reason": reason})
                return reflection
        transcript.outcome = "timeout"
        return timeout_reflection(reason, transcript)

    def _synthesise(
        self, reason: str, scope: tuple[str, int] | None, transcript: Transcript
    ) -> ReflectorOutput | None:
        request = self.prompts.synthesis(reason, scope)
        messages = self.conversation.messages()
        if messages[-1]["role"] == "user":
            messages[-1] = {"role": "user", "content": f"{messages[-1]['content']}\n\n{request}"}
        else:
            messages.append({"role": "user", "content": request})
        self.conversation.add_log({"role": "user", "content": request})
        with span("rr synthesis"):
            try:
                reply = self.client.complete(
                    messages, max_tokens=self.max_tokens, temperature=self.temperature
                )
            except (BudgetExceededError, LLMError) as exc:
                transcript.notes.append(f"synthesis failed: {exc}")
                record_cause(transcript, exc)
                return None
        self.conversation.add_log({"role": "assistant", "content": reply.text})
        answer = reflection_value(reply.text)
        if answer is None:
            transcript.notes.append("synthesis reply held no reflection JSON")
            return None
        decision, dropped = salvage(answer)
        if decision.accepted is None:
            transcript.notes.append(
                f"synthesis reply was not a valid reflection: {decision.rejection}"
            )
            return None
        if dropped:
            transcript.notes.append(f"synthesis: dropped invalid parts {', '.join(dropped)}")
            decision.accepted.raw["dropped"] = dropped
        if "attribution_from" in decision.accepted.raw:
            transcript.notes.append(
                f"synthesis: attribution taken from {decision.accepted.raw['attribution_from']}"
            )
        return decision.accepted
