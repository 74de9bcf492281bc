"""The main model's conversation, kept under a size limit.

The system prompt and the first task message always stay. When the conversation
grows past ``max_chars``, the oldest iterations (a reply and its feedback) are dropped
and one line (``prompts/rr/conversation.j2``) says which iterations were summarised away
and what they did.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ace.prompting import render_prompt

Message = dict[str, str]
Digest = str | Callable[[], str]
"""One line on what a turn ran; a callable is rendered only if the turn is dropped."""


@dataclass
class Conversation:
    """Messages for the main model; ``log`` keeps every message ever added, untrimmed."""

    max_chars: int
    head: list[Message] = field(default_factory=list)
    turns: list[tuple[int, Message, Message, Digest]] = field(default_factory=list)
    """(iteration, assistant reply, feedback, one-line digest) per finished iteration."""
    dropped: list[tuple[int, str]] = field(default_factory=list)
    log: list[Message] = field(default_factory=list)
    _summary: list[Message] = field(default_factory=list, init=False, repr=False)
    """The two messages standing for the dropped turns (empty while none is dropped)."""

    def start(self, system: str, task: str) -> None:
        """Set the fixed head: system prompt and first task message."""
        self.head = [{"role": "system", "content": system}, {"role": "user", "content": task}]
        self.log.extend(self.head)

    def add_turn(self, iteration: int, reply: str, feedback: str, digest: Digest) -> None:
        """Record one iteration's reply and the feedback sent back."""
        assistant = {"role": "assistant", "content": reply}
        user = {"role": "user", "content": feedback}
        self.turns.append((iteration, assistant, user, digest))
        self.log.extend([assistant, user])
        self._trim()

    def add_log(self, message: Message) -> None:
        """Log a message sent outside the turn structure (e.g. the synthesis prompt)."""
        self.log.append(message)

    def messages(self) -> list[Message]:
        """What to send now: the head, a summary of dropped turns, the kept turns."""
        out = [*self.head, *self._summary]
        for _, assistant, user, _ in self.turns:
            out.extend([assistant, user])
        return out

    def size(self) -> int:
        """Characters of what would be sent now."""
        return sum(len(m["content"]) for m in self.messages())

    def _trim(self) -> None:
        # The newest turn always stays, even alone over the limit: the model must see
        # the output of the code it just ran.
        while len(self.turns) > 1 and self.size() > self.max_chars:
            iteration, _, _, digest = self.turns.pop(0)
            self.dropped.append((iteration, digest if isinstance(digest, str) else digest()))
            summary = render_prompt("rr/conversation.j2", part="dropped", dropped=self.dropped)
            ack = render_prompt("rr/conversation.j2", part="ack")
            self._summary = [
                {"role": "user", "content": summary},
                {"role": "assistant", "content": ack},
            ]
