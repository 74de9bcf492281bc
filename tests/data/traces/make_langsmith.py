"""Writes ``langsmith.json``: two LangSmith run trees of a small support agent, built with
``langsmith``'s own ``RunTree`` offline (tracing off, nothing sent) and saved the way the
LangSmith API returns a run with its children: each ``RunTree`` as a
``langsmith.schemas.Run`` with ``child_runs``, dumped by pydantic. The LLM runs hold
LangChain-serialised messages (``langchain_core.load.dumpd``), as LangChain's tracer
records them. The second run's refund tool fails (its run has an ``error``); the first
root carries ``feedback_stats``, which the loader takes out as a label.

Run: ``.venv/bin/python tests/data/traces/make_langsmith.py`` (``langsmith`` and
``langchain-core`` come with ace's ``langchain`` extra; not a dependency of ace itself).
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

os.environ["LANGSMITH_TRACING"] = "false"  # build the trees only; nothing is sent

from langchain_core.load import dumpd
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langsmith.run_trees import RunTree
from langsmith.schemas import Run

OUT = Path(__file__).with_name("langsmith.json")
SYSTEM = SystemMessage("You are the support agent of Acme Shop. Refunds need an order id.")
START = datetime(2025, 4, 2, 9, 30, tzinfo=UTC)
ids = (uuid.UUID(int=n) for n in range(1, 1000))


class Clock:
    """Run times one second apart, so that the samples are the same every time."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def tick(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def llm(parent: RunTree, clock: Clock, messages: list, reply: AIMessage) -> None:
    run = parent.create_child(
        name="ChatOpenAI",
        run_type="llm",
        inputs={"messages": [[dumpd(m) for m in messages]]},
        start_time=clock.tick(),
        run_id=next(ids),
        extra={"metadata": {"ls_model_name": "gpt-4o-mini", "ls_provider": "openai"}},
    )
    run.end(
        outputs={"generations": [[{"text": reply.content, "message": dumpd(reply)}]]},
        end_time=clock.tick(),
    )
    messages.append(reply)


def tool(parent: RunTree, clock: Clock, name: str, args: dict, result: str | None) -> None:
    run = parent.create_child(
        name=name,
        run_type="tool",
        inputs={"input": json.dumps(args)},
        start_time=clock.tick(),
        run_id=next(ids),
    )
    if result is None:
        run.end(
            error="ValueError('order A-1043 is past the 30-day refund window')\n\nTraceback "
            '(most recent call last):\n  File "tools.py", line 41, in refund\nValueError: '
            "order A-1043 is past the 30-day refund window",
            end_time=clock.tick(),
        )
    else:
        run.end(outputs={"output": result}, end_time=clock.tick())


def support_run(question: str, order: str, refund_result: str | None, answer: str) -> RunTree:
    clock = Clock(START if refund_result else START + timedelta(hours=1))
    root = RunTree(
        name="SupportAgent",
        run_type="chain",
        inputs={"input": question},
        start_time=clock.tick(),
        id=next(ids),
        project_name="acme-support",
    )
    messages: list = [SYSTEM, HumanMessage(question)]
    lookup = {"name": "lookup_order", "args": {"order_id": order}, "id": f"call_{order}_1"}
    llm(root, clock, messages, AIMessage("", tool_calls=[lookup]))
    status = json.dumps(
        {
            "order_id": order,
            "status": "delivered",
            "days_since_delivery": 12 if refund_result else 41,
        }
    )
    tool(root, clock, "lookup_order", {"order_id": order}, status)
    messages.append(ToolMessage(status, tool_call_id=lookup["id"]))
    refund = {"name": "issue_refund", "args": {"order_id": order}, "id": f"call_{order}_2"}
    llm(root, clock, messages, AIMessage("", tool_calls=[refund]))
    tool(root, clock, "issue_refund", {"order_id": order}, refund_result)
    messages.append(ToolMessage(refund_result or "error: refund failed", tool_call_id=refund["id"]))
    llm(root, clock, messages, AIMessage(answer))
    root.end(outputs={"output": answer}, end_time=clock.tick())
    return root


def as_run(tree: RunTree) -> Run:
    """A RunTree as the API returns it: a Run with its child runs."""
    fields = tree.model_dump(exclude={"child_runs"})
    fields["status"] = "error" if tree.error else "success"
    return Run(**fields, child_runs=[as_run(child) for child in tree.child_runs])


runs = [
    as_run(
        support_run(
            "Please refund order A-1042.",
            "A-1042",
            "refund R-77 issued",
            "Done: refund R-77 for order A-1042.",
        )
    ),
    as_run(
        support_run(
            "Refund my order A-1043, it broke.",
            "A-1043",
            None,
            "Your refund for A-1043 has been issued.",
        )
    ),
]
documents = [json.loads(run.model_dump_json(exclude_none=True)) for run in runs]
documents[0]["feedback_stats"] = {"correctness": {"n": 1, "avg": 1.0}}
OUT.write_text(json.dumps(documents, indent=1) + "\n")
print(f"wrote {OUT}")
