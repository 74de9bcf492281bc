"""A scripted team: one function model answering as whichever ACE role (or the RR) asks."""

from __future__ import annotations

import json
import threading
from collections import defaultdict

from ace.testing import FunctionModel, RecordedRequest, code_reply, final_code, reflection

MARKERS = (
    ("You are solving a task", "agent"),
    ("You review one attempt", "reflector"),
    ("You maintain a skillbook", "skill_manager"),
    ("You are the Recursive Reflector", "rr"),
)


def role_of(request: RecordedRequest) -> str:
    """Which role sent ``request`` (from its prompt's opening sentence); "sub" otherwise."""
    text = "\n".join(str(m.get("content", "")) for m in request.messages[:2])
    for marker, role in MARKERS:
        if marker in text:
            return role
    return "sub"


class Team:
    """Answers ``answer``; reflections teach ``lesson``; every SkillManager call adds it."""

    def __init__(self, answer: str = "4", lesson: str = "Show the arithmetic step by step") -> None:
        self.answer = answer
        self.lesson = lesson
        self.requests: dict[str, list[RecordedRequest]] = defaultdict(list)
        self._lock = threading.Lock()
        self.model = FunctionModel(self.reply)
        self.name = self.model.name

    def reply(self, request: RecordedRequest) -> str:
        role = role_of(request)
        with self._lock:
            self.requests[role].append(request)
        if role == "agent":
            return json.dumps({"reasoning": "2+2", "final_answer": self.answer, "skill_ids": []})
        if role == "reflector":
            return json.dumps(
                {
                    "reasoning": "checked the sum",
                    "error_identification": "",
                    "key_insight": self.lesson,
                    "extracted_learnings": [{"learning": self.lesson, "atomicity_score": 0.9}],
                }
            )
        if role == "skill_manager":
            return json.dumps(
                {
                    "reasoning": "one lesson",
                    "operations": [{"type": "ADD", "section": "math", "content": self.lesson}],
                }
            )
        if role == "rr":
            found = reflection(
                key_insight=self.lesson,
                extracted_learnings=[{"learning": self.lesson, "atomicity_score": 0.9}],
            )
            return code_reply(final_code(found), "The trace is short; I can conclude.")
        return "scripted sub-answer"
