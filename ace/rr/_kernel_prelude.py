"""Kernel-side code of an RR session: the ``trace`` view over the injected JSON.

This file is never imported by ACE: its text runs as the first cell of each session,
under the same code policy as model-written cells, so it can open no door the policy
keeps shut. It expects ``traces`` (the normalised trace JSON, or a list of them for a
batch) in the namespace and defines ``TraceView`` and ``trace``.
"""

import re

ERROR_PATTERN = (
    r"Traceback \(most recent call last\)|\b\w*Error\b|\bException\b|exitcode: [1-9]"
    r"|\bfailed\b|\bfailure\b|\bnot found\b|\bunable to\b|\bcannot\b|\bincorrect\b"
)


class TraceView:
    """A navigable view over one normalised trace (a dict with ``steps``)."""

    def __init__(self, data):
        self.data = data
        self.id = data.get("id")
        self.question = data.get("question")
        self.steps = data.get("steps") or []

    def __len__(self):
        return len(self.steps)

    def __repr__(self):
        return f"TraceView(id={self.id!r}, steps={len(self.steps)}, agents={self.agents()})"

    def __getitem__(self, i):
        return self.steps[i]

    def __iter__(self):
        return iter(self.steps)

    def step(self, i):
        """The step dict at index ``i`` (negative indices count from the end)."""
        return self.steps[i]

    def text(self, i):
        """All text of step ``i``: content, tool calls and tool results."""
        s = self.steps[i]
        parts = [s.get("content") or ""]
        for call in s.get("tool_calls") or []:
            parts.append(f"[tool call] {call.get('name')}({call.get('arguments')})")
        for result in s.get("tool_results") or []:
            parts.append(f"[tool result] {result.get('output')}")
        return "\n".join(p for p in parts if p)

    def agents(self):
        """Agent names in order of first appearance."""
        seen = []
        for s in self.steps:
            name = s.get("agent")
            if name and name not in seen:
                seen.append(name)
        return seen

    def by_agent(self, name):
        """Steps whose agent equals ``name`` (case-insensitive)."""
        wanted = str(name).lower()
        return [s for s in self.steps if str(s.get("agent") or "").lower() == wanted]

    def search(self, pattern, regex=True, ignore_case=True, context=60):
        """Matches of ``pattern`` in every step's text: index, agent and a snippet."""
        flags = re.IGNORECASE if ignore_case else 0
        compiled = re.compile(pattern if regex else re.escape(pattern), flags)
        hits = []
        for i in range(len(self.steps)):
            body = self.text(i)
            for m in compiled.finditer(body):
                start = max(0, m.start() - context)
                hits.append(
                    {
                        "index": i,
                        "agent": self.steps[i].get("agent"),
                        "match": m.group(0),
                        "snippet": body[start : m.end() + context],
                    }
                )
        return hits

    def errors(self):
        """Steps whose text looks like an error or a failure (a heuristic; check them)."""
        compiled = re.compile(ERROR_PATTERN, re.IGNORECASE)
        return [
            {"index": i, "agent": self.steps[i].get("agent"), "match": m.group(0)}
            for i in range(len(self.steps))
            if (m := compiled.search(self.text(i)))
        ]

    def window(self, i, k=2):
        """Steps ``i-k`` to ``i+k`` (clipped to the trace)."""
        return self.steps[max(0, i - k) : i + k + 1]

    def preview(self, i, chars=300):
        """A one-line preview of step ``i``: index, agent and the start of its text."""
        body = " ".join(self.text(i).split())
        more = f" ... (+{len(body) - chars} chars)" if len(body) > chars else ""
        return (
            f"#{i} [{self.steps[i].get('agent') or self.steps[i].get('role')}] {body[:chars]}{more}"
        )

    def overview(self, chars=120):
        """Previews of every step, one per line."""
        return "\n".join(self.preview(i, chars) for i in range(len(self.steps)))


if isinstance(traces, list):  # noqa: F821 - injected by the host before this cell runs
    trace = TraceView(traces[0]) if traces else TraceView({"steps": []})  # noqa: F821
    tasks = [TraceView(t) for t in traces]  # noqa: F821
else:
    trace = TraceView(traces)  # noqa: F821
    tasks = [trace]
