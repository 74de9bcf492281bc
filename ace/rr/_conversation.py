"""The main model's conversation, kept under a size limit.

The system prompt and the first task message always stay. When the conversation
grows past ``max_chars``, the oldest iterations (a reply and its feedback) are dropped
and one line says which iterations were summarised away and what they did.
"""

from __future__ import annotations

from dataclasses import dataclass, field

Message = dict[str, str]


@dataclass
class Conversation:
    """Messages for the main model; ``log`` keeps every message ever added, untrimmed."""

    max_chars: int
    head: list[Message] = field(default_factory=list)
    turns: list[tuple[int, Message, Message, str]] = field(default_factory=list)
    """(iteration, assistant reply, feedback, one-line digest) per finished iteration."""
    dropped: list[tuple[int, str]] = field(default_factory=list)
    log: list[Message] = field(default_factory=list)

    def start(self, system: str, task: str) -> None:
        """Set the fixed head: system prompt and first task message."""
        self.head = [{"role": "system", "content": system}, {"role": "user", "content": task}]
        self.log.extend(self.head)

    def add_turn(self, iteration: int, reply: str, feedback: str, digest: str) -> None:
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
        out = list(self.head)
        if self.dropped:
            lines = "; ".join(f"#{i}: {d}" for i, d in self.dropped)
            out.append(
                {
                    "role": "user",
                    "content": f"(Earlier iterations were removed to save space: {lines}. "
                    "Their variables still exist in the interpreter.)",
                }
            )
            out.append({"role": "assistant", "content": "Understood; continuing."})
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
            self.dropped.append((iteration, digest))
