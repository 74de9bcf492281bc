"""LangChain: record any chain or agent run as an ACE trace, and learn from runnables.

``ACETraceRecorder`` is a LangChain callback handler. Pass it in a run's config
(``chain.invoke(x, config={"callbacks": [recorder]})``) and it records every model call
(the messages it was sent, the message it returned, the tool calls it asked for), every
tool and retriever call with its result, every error, and the nesting of runs
(``run_id``/``parent_run_id``) with timestamps. ``recorder.to_record()`` is an
OpenAI-style messages record that ``ace.traces.load_trace`` reads
(``recorder.to_trace()`` does it for you).

``LangChainExecuteStep(runnable)`` → ``LangChainToTrace()`` → ``learning_tail(...,
from_trace=True)`` is the pipeline of ``ace.runners.langchain.LangChain``: it runs the
runnable with the skillbook injected, records the run, and learns from the recording.

Where the skills go (``skills_key`` defaults to ``"skillbook_context"``):

1. a runnable whose input names ``skillbook_context`` (a prompt template with
   ``{skillbook_context}`` in its system message) gets the skills there, ``""`` when
   there are none; a string task then fills the template's one other variable;
2. otherwise the skills go into the system message of the conversation the input
   carries: a message list, the ``messages`` of a dict input (a LangGraph state), or, for
   a string task, ``[system, human]``; a list or string goes as ``{"messages": [...]}``
   when the runnable's input is a dict with ``messages``. A leading system message is
   extended, else one is prepended; with no skills nothing is added;
3. any other combination is a caller mistake, a ``UsageError`` before any model call (a
   template without ``{skillbook_context}`` given a dict, a string for a template with
   several variables, a template's required variable missing). A dict for a runnable
   whose input variables LangChain cannot tell gets ``skillbook_context`` added.

Importing this module imports ``langchain_core`` (the ``langchain`` extra).
"""

from __future__ import annotations

import copy
import json
import logging
import math
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, cast
from uuid import UUID

try:
    from langchain_core.callbacks import BaseCallbackHandler, BaseCallbackManager
    from langchain_core.messages import (
        AIMessage,
        BaseMessage,
        HumanMessage,
        SystemMessage,
        ToolMessage,
        convert_to_messages,
    )
    from langchain_core.prompt_values import PromptValue
    from langchain_core.runnables import Runnable, RunnableConfig
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "ace.integrations.langchain needs langchain-core: pip install 'ace-rr[langchain]'"
    ) from exc

from ace.environments import Sample
from ace.errors import UsageError
from ace.integrations.base import ExecuteStep, Integration, RawResult, ToTraceStep
from ace.pipeline import ACEStepContext
from ace.traces import Trace

logger = logging.getLogger("ace.integrations.langchain")

SKILLS_KEY = "skillbook_context"
"""The input variable a prompt template names to receive the skills (rule 1)."""

INPUT_KEY = "langchain_input"
"""``Sample.metadata`` key holding the runnable's input when it is not the question text."""

__all__ = [
    "INPUT_KEY",
    "SKILLS_KEY",
    "ACETraceRecorder",
    "LangChainExecuteStep",
    "LangChainIntegration",
    "LangChainResult",
    "LangChainToTrace",
    "as_task",
    "inject_skills",
]

_ROLES: tuple[tuple[type[BaseMessage], str], ...] = (
    (HumanMessage, "user"),
    (AIMessage, "assistant"),
    (SystemMessage, "system"),
    (ToolMessage, "tool"),
)
_GENERIC_PREFIXES = ("Runnable", "Channel")
_GENERIC_SUFFIXES = ("PromptTemplate", "OutputParser")
_GENERIC_NAMES = frozenset({"<lambda>", "LangGraph", "__start__", "__end__"})
_OUTPUT_KEYS = ("output", "answer", "result", "text", "final_answer")
_QUESTION_KEYS = ("input", "question", "query")
_MAX_DEPTH = 50


# --------------------------------------------------------------------------- recorder
class ACETraceRecorder(BaseCallbackHandler):
    """Records a LangChain run (chains, agents, graphs) as an ACE trace.

    Each message a model is sent is recorded once, at its first appearance (a message
    re-sent in a later call's history, or a tool message answering a recorded tool run,
    is not repeated); each model reply, tool result and error is one step. Steps are
    OpenAI-style message dicts (``role``, ``content``, ``name``, ``tool_calls``,
    ``tool_call_id``) plus ``run_id``, ``parent_run_id``, ``timestamp`` (ISO 8601, UTC)
    and, where they apply, ``started_at``, ``model``, ``usage``, ``error``. ``name``
    is the step's agent: for a model reply, ``agent_name`` if given, else the nearest
    enclosing chain with a name of its own (a ``RunnableLambda``'s function, a graph
    node, a ``run_name``), else the model's name; for a tool step, the tool. Errors of
    chains and models are steps with role ``error``; a tool error is the tool's step,
    with ``error`` set. One exception is recorded once, where it was first seen.

    Thread-safe: callbacks from parallel branches and batches may arrive at once. One
    recorder may watch several runs; ``reset()`` starts over.
    """

    def __init__(self, *, agent_name: str | None = None) -> None:
        super().__init__()
        self.agent_name = agent_name
        self._lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        """Forget everything recorded so far."""
        with self._lock:
            self._steps: list[dict[str, Any]] = []
            self._runs: dict[str, dict[str, Any]] = {}
            self._seen: Counter[tuple[Any, ...]] = Counter()
            self._answered: set[str] = set()
            self._asked: dict[str, str] = {}
            self._unmatched: list[dict[str, Any]] = []
            self._errors: list[BaseException] = []
            self._root_output: Any = None
            self._has_root_output = False

    # ---------------------------------------------------------------- reading
    @property
    def steps(self) -> list[dict[str, Any]]:
        """A copy of the recorded steps (the record's ``messages``)."""
        with self._lock:
            return copy.deepcopy(self._steps)

    @property
    def runs(self) -> list[dict[str, Any]]:
        """A copy of every run seen (``kind`` chain/chat_model/llm/tool/retriever, ``name``,
        ``run_id``, ``parent_run_id``, ``started_at``, ``ended_at``, ``error``), in start
        order."""
        with self._lock:
            return copy.deepcopy(list(self._runs.values()))

    def to_record(
        self,
        *,
        question: str | None = None,
        final_answer: str | None = None,
        feedback: str | None = None,
        ground_truth: str | None = None,
        trace_id: str | None = None,
    ) -> dict[str, Any]:
        """The recording as ``{id, question, final_answer, feedback, ground_truth,
        messages, runs}`` (task fields only when known), which ``ace.traces.load_trace``
        reads as format ``openai_messages``.

        Unless given: ``question`` is the first user message, ``final_answer`` the text of
        the outermost run's output (else the last model reply), ``trace_id`` (the record's
        ``id``) the first outermost run's id.
        """
        with self._lock:
            steps = copy.deepcopy(self._steps)
            runs = copy.deepcopy(list(self._runs.values()))
            root_text = _output_text(self._root_output) if self._has_root_output else None
        record: dict[str, Any] = {}
        root = next((r for r in runs if r["parent_run_id"] is None), None)
        record_id = trace_id if trace_id is not None else (root["run_id"] if root else None)
        if record_id is not None:
            record["id"] = record_id
        if question is None:
            question = next((s["content"] for s in steps if s["role"] == "user"), None)
        if final_answer is None:
            replies = [s["content"] for s in steps if s["role"] == "assistant" and s["content"]]
            final_answer = root_text or (replies[-1] if replies else None)
        for key, value in (
            ("question", question),
            ("final_answer", final_answer),
            ("feedback", feedback),
            ("ground_truth", ground_truth),
        ):
            if value is not None:
                record[key] = value
        record["messages"] = steps
        record["runs"] = runs
        return record

    def to_trace(self, **fields: Any) -> Trace:
        """The recording loaded as a ``Trace`` (``fields`` as for ``to_record``)."""
        from ace.traces import load_trace

        return load_trace(self.to_record(**fields), format="openai_messages")

    # ---------------------------------------------------------------- chains
    def on_chain_start(
        self,
        serialized: dict[str, Any],
        inputs: dict[str, Any],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Open a chain run."""
        with self._lock:
            self._open(run_id, parent_run_id, "chain", _run_name(serialized, kwargs, "chain"))

    def on_chain_end(
        self,
        outputs: dict[str, Any],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        """Close a chain run; the outermost run's output is the default final answer."""
        with self._lock:
            run = self._close(run_id)
            if run is not None and run["parent_run_id"] is None and not self._has_root_output:
                self._root_output, self._has_root_output = outputs, True

    def on_chain_error(
        self,
        error: BaseException,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        """Close a chain run with its error; the error is a step unless already recorded."""
        with self._lock:
            run = self._close(run_id, error)
            name = run["name"] if run else "chain"
            self._error_step(error, run_id, parent_run_id, name, f"chain {name} failed")

    # ---------------------------------------------------------------- models
    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Open a model run and record the messages it is sent that are new."""
        with self._lock:
            now = _now()
            run = self._open(run_id, parent_run_id, "chat_model", _run_name(serialized, kwargs))
            run["model"] = _model_name(serialized, kwargs, metadata)
            for conversation in messages:
                in_call: Counter[tuple[Any, ...]] = Counter()
                for message in conversation:
                    self._input_message(message, in_call, run_id, parent_run_id, now)

    def on_llm_start(
        self,
        serialized: dict[str, Any],
        prompts: list[str],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Open a (text completion) model run; each new prompt is a user step."""
        with self._lock:
            now = _now()
            run = self._open(run_id, parent_run_id, "llm", _run_name(serialized, kwargs))
            run["model"] = _model_name(serialized, kwargs, metadata)
            for prompt in prompts:
                step = {"role": "user", "content": _clean(prompt)}
                in_call: Counter[tuple[Any, ...]] = Counter()
                self._add_input(step, in_call, run_id, parent_run_id, now)

    def on_llm_end(
        self,
        response: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        """Close a model run; its reply (text and tool calls) is a step."""
        with self._lock:
            run = self._close(run_id)
            generations = getattr(response, "generations", None) or [[]]
            first = generations[0][0] if generations and generations[0] else None
            message = getattr(first, "message", None)
            if isinstance(message, BaseMessage):
                step = _message_step(message)
                step["role"] = "assistant"
            else:
                step = {"role": "assistant", "content": _clean(getattr(first, "text", "") or "")}
            step["name"] = self._agent_label(parent_run_id, run)
            if run is not None and run.get("model"):
                step["model"] = run["model"]
            usage = getattr(message, "usage_metadata", None)
            if usage:
                step["usage"] = _jsonable(usage)
            self._seen[_fingerprint(step)] += 1
            self._remember_calls(step)
            self._add(step, run_id, parent_run_id, started=run["started_at"] if run else None)

    def on_llm_error(
        self,
        error: BaseException,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        """Close a model run with its error, recorded as an ``error`` step."""
        with self._lock:
            run = self._close(run_id, error)
            label = self._agent_label(parent_run_id, run)
            model = (run or {}).get("model") or label
            self._error_step(error, run_id, parent_run_id, label, f"the model {model} failed")

    # ---------------------------------------------------------------- tools
    def on_tool_start(
        self,
        serialized: dict[str, Any],
        input_str: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        inputs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Open a tool run with its arguments and the tool call id it answers."""
        with self._lock:
            run = self._open(run_id, parent_run_id, "tool", _run_name(serialized, kwargs, "tool"))
            run["arguments"] = _jsonable(inputs if inputs is not None else input_str)
            call_id = kwargs.get("tool_call_id")
            if isinstance(call_id, str) and call_id:
                run["tool_call_id"] = call_id

    def on_tool_end(
        self,
        output: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        """Close a tool run; its result is a ``tool`` step."""
        with self._lock:
            run = self._close(run_id)
            content = (
                _content_text(output.content) if isinstance(output, BaseMessage) else _text(output)
            )
            call_id = getattr(output, "tool_call_id", None)
            self._tool_step(run, run_id, parent_run_id, content, call_id)

    def on_tool_error(
        self,
        error: BaseException,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        """Close a tool run with its error; the error is the tool's result step."""
        with self._lock:
            run = self._close(run_id, error)
            if self._known(error):
                return
            self._errors.append(error)
            described = _describe(error)
            step = self._tool_step(
                run, run_id, parent_run_id, f"Error: {described}", kwargs.get("tool_call_id")
            )
            step["error"] = described

    def on_retriever_start(
        self,
        serialized: dict[str, Any],
        query: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Open a retriever run (recorded like a tool called with ``query``)."""
        with self._lock:
            name = _run_name(serialized, kwargs, "retriever")
            run = self._open(run_id, parent_run_id, "retriever", name)
            run["arguments"] = {"query": _clean(query)}

    def on_retriever_end(
        self,
        documents: Sequence[Any],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        """Close a retriever run; the documents' text is its result step."""
        with self._lock:
            run = self._close(run_id)
            texts = [_text(getattr(d, "page_content", d)) for d in documents]
            self._tool_step(run, run_id, parent_run_id, "\n\n".join(texts), None)

    def on_retriever_error(
        self,
        error: BaseException,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        """Close a retriever run with its error, as a tool error."""
        self.on_tool_error(error, run_id=run_id, parent_run_id=parent_run_id)

    # ---------------------------------------------------------------- internals
    def _open(
        self, run_id: UUID, parent_run_id: UUID | None, kind: str, name: str
    ) -> dict[str, Any]:
        run: dict[str, Any] = {
            "run_id": str(run_id),
            "parent_run_id": str(parent_run_id) if parent_run_id is not None else None,
            "kind": kind,
            "name": name,
            "started_at": _now(),
            "ended_at": None,
        }
        self._runs[str(run_id)] = run
        return run

    def _close(self, run_id: UUID, error: BaseException | None = None) -> dict[str, Any] | None:
        run = self._runs.get(str(run_id))
        if run is not None:
            run["ended_at"] = _now()
            if error is not None:
                run["error"] = _describe(error)
        return run

    def _add(
        self,
        step: dict[str, Any],
        run_id: UUID,
        parent_run_id: UUID | None,
        *,
        started: str | None = None,
        timestamp: str | None = None,
    ) -> dict[str, Any]:
        step["run_id"] = str(run_id)
        step["parent_run_id"] = str(parent_run_id) if parent_run_id is not None else None
        if started is not None:
            step["started_at"] = started
        step["timestamp"] = timestamp or _now()
        self._steps.append(step)
        return step

    def _input_message(
        self,
        message: BaseMessage,
        in_call: Counter[tuple[Any, ...]],
        run_id: UUID,
        parent_run_id: UUID | None,
        now: str,
    ) -> None:
        if isinstance(message, ToolMessage) and self._matched(message):
            return  # the tool run's own step already holds this result
        self._add_input(_message_step(message), in_call, run_id, parent_run_id, now)

    def _matched(self, message: ToolMessage) -> bool:
        """Whether a recorded tool run answers ``message``: by its call id, or (a tool the
        agent ran with plain arguments) the first unanswered run of the tool it names."""
        call_id = message.tool_call_id
        if call_id in self._answered:
            return True
        name = self._asked.get(call_id) or message.name
        step = next((s for s in self._unmatched if s["name"] == name), None)
        if step is None:
            return False
        self._unmatched.remove(step)
        step["tool_call_id"] = call_id
        step.pop("tool_calls", None)  # the model's step holds the call
        self._answered.add(call_id)
        return True

    def _add_input(
        self,
        step: dict[str, Any],
        in_call: Counter[tuple[Any, ...]],
        run_id: UUID,
        parent_run_id: UUID | None,
        now: str,
    ) -> None:
        key = _fingerprint(step)
        in_call[key] += 1
        if in_call[key] <= self._seen[key]:
            return  # sent before (a conversation's history), recorded then
        self._seen[key] += 1
        if step["role"] == "tool" and step.get("tool_call_id"):
            self._answered.add(step["tool_call_id"])
        self._remember_calls(step)
        self._add(step, run_id, parent_run_id, timestamp=now)

    def _remember_calls(self, step: dict[str, Any]) -> None:
        for call in step.get("tool_calls") or ():
            if call.get("id"):
                self._asked[call["id"]] = call["name"]

    def _tool_step(
        self,
        run: dict[str, Any] | None,
        run_id: UUID,
        parent_run_id: UUID | None,
        content: str,
        call_id: Any,
    ) -> dict[str, Any]:
        name = run["name"] if run else "tool"
        call_id = call_id if isinstance(call_id, str) and call_id else None
        call_id = (run or {}).get("tool_call_id") or call_id
        step: dict[str, Any] = {"role": "tool", "name": name, "content": content}
        if call_id:
            step["tool_call_id"] = call_id
            self._answered.add(call_id)
        else:  # no call id: the step shows the call, until a tool message names its id
            step["tool_calls"] = [{"name": name, "arguments": (run or {}).get("arguments")}]
            self._unmatched.append(step)
        started = run["started_at"] if run else None
        return self._add(step, run_id, parent_run_id, started=started)

    def _error_step(
        self,
        error: BaseException,
        run_id: UUID,
        parent_run_id: UUID | None,
        name: str,
        what: str,
    ) -> None:
        if self._known(error):
            return
        self._errors.append(error)
        described = _describe(error)
        step = {
            "role": "error",
            "name": name,
            "content": f"{what}: {described}",
            "error": described,
        }
        self._add(step, run_id, parent_run_id)

    def _known(self, error: BaseException) -> bool:
        return any(seen is error for seen in self._errors)

    def _agent_label(self, parent_run_id: UUID | None, run: dict[str, Any] | None) -> str:
        if self.agent_name:
            return self.agent_name
        current = str(parent_run_id) if parent_run_id is not None else None
        hops = 0
        while current is not None and hops < 1000:
            parent = self._runs.get(current)
            if parent is None:
                break
            if parent["kind"] == "chain" and not _is_generic(parent["name"]):
                return str(parent["name"])
            current, hops = parent["parent_run_id"], hops + 1
        if run is not None:
            return str(run.get("model") or run["name"])
        return "assistant"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _run_name(
    serialized: dict[str, Any] | None, kwargs: Mapping[str, Any], default: str = ""
) -> str:
    name = kwargs.get("name")
    if isinstance(name, str) and name:
        return name
    serialized = serialized or {}
    name = serialized.get("name")
    if isinstance(name, str) and name:
        return name
    ident = serialized.get("id")
    if isinstance(ident, list) and ident and isinstance(ident[-1], str):
        return ident[-1]
    return default or "model"


def _model_name(
    serialized: dict[str, Any] | None, kwargs: Mapping[str, Any], metadata: Mapping[str, Any] | None
) -> str:
    params = kwargs.get("invocation_params") or {}
    for value in (
        (metadata or {}).get("ls_model_name"),
        params.get("model") if isinstance(params, Mapping) else None,
        params.get("model_name") if isinstance(params, Mapping) else None,
    ):
        if isinstance(value, str) and value:
            return value
    return _run_name(serialized, {}, "model")


def _is_generic(name: str) -> bool:
    return (
        name in _GENERIC_NAMES
        or name.startswith(_GENERIC_PREFIXES)
        or name.endswith(_GENERIC_SUFFIXES)
    )


def _message_step(message: BaseMessage) -> dict[str, Any]:
    step: dict[str, Any] = {"role": _role(message), "content": _content_text(message.content)}
    if message.name:
        step["name"] = _clean(message.name)
    if isinstance(message, AIMessage):
        calls = [
            {"id": c.get("id"), "name": c["name"], "arguments": _jsonable(c.get("args"))}
            for c in message.tool_calls
        ]
        if calls:
            step["tool_calls"] = calls
        invalid = [
            f"[invalid tool call {c.get('name')}: {c.get('error') or 'unparsable arguments'}]"
            for c in message.invalid_tool_calls
        ]
        if invalid:
            step["content"] = "\n".join([step["content"], *invalid]).strip()
    if isinstance(message, ToolMessage):
        step["tool_call_id"] = message.tool_call_id
        if getattr(message, "status", None) == "error":
            step["error"] = step["content"]
    return step


def _role(message: BaseMessage) -> str:
    for kind, role in _ROLES:
        if isinstance(message, kind):
            return role
    return str(getattr(message, "role", "") or message.type)


def _fingerprint(step: Mapping[str, Any]) -> tuple[Any, ...]:
    calls = tuple((c.get("id"), c.get("name")) for c in step.get("tool_calls") or ())
    return (step["role"], step["content"], step.get("tool_call_id"), calls)


def _content_text(content: Any) -> str:
    """Message content as text: text parts joined; tool-use parts left out (they are the
    message's tool calls); other parts as compact JSON."""
    if isinstance(content, str):
        return _clean(content)
    if not isinstance(content, list):
        return _text(content)
    parts: list[str] = []
    for part in content:
        if isinstance(part, str):
            parts.append(_clean(part))
        elif isinstance(part, Mapping) and part.get("type") == "text":
            parts.append(_clean(str(part.get("text", ""))))
        elif isinstance(part, Mapping) and part.get("type") in ("tool_use", "tool_call"):
            continue
        else:
            parts.append(_text(part))
    return "\n".join(p for p in parts if p)


def _output_text(value: Any) -> str:
    """A run's output as text: a string, a message's text, a dict's ``output``/``answer``/
    ``result``/``text`` (or its last message), else compact JSON."""
    if isinstance(value, str):
        return _clean(value)
    if isinstance(value, BaseMessage):
        return _content_text(value.content)
    if isinstance(value, Mapping):
        for key in _OUTPUT_KEYS:
            if key in value:
                return _output_text(value[key])
        messages = value.get("messages")
        if isinstance(messages, list) and messages:
            replies = [m for m in messages if isinstance(m, AIMessage)]
            return _output_text(replies[-1] if replies else messages[-1])
    return _text(value)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return _clean(value)
    converted = _jsonable(value)
    if isinstance(converted, str):
        return converted
    return json.dumps(converted, ensure_ascii=False, separators=(",", ":"))


def _clean(text: str) -> str:
    from ace._text import clean_text

    return clean_text(text)


def _describe(error: BaseException) -> str:
    message = str(error)
    return f"{type(error).__name__}: {_clean(message)}" if message else type(error).__name__


def _jsonable(value: Any, depth: int = 0) -> Any:
    """JSON data for any value (never raises): messages as step dicts, pydantic models
    dumped, other objects as text."""
    if depth > _MAX_DEPTH:
        return "<nested too deeply>"
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if value.bit_length() <= 63 else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return _clean(value)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, BaseMessage):
        return _message_step(value)
    if isinstance(value, Mapping):
        return {_clean(str(k)): _jsonable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v, depth + 1) for v in value]
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        try:
            return _jsonable(dump(mode="json"), depth + 1)
        except Exception:  # a model that cannot dump itself is shown as text
            pass
    try:
        return _clean(str(value))
    except Exception:
        return f"<{type(value).__name__}>"


# --------------------------------------------------------------------------- input rule
def as_task(value: Any, index: int = 0) -> Sample:
    """A runnable's input as a ``Sample``: a string is the question; a message list (or
    ``PromptValue``), or a dict, is kept in ``metadata["langchain_input"]`` with its text
    as the question (the last user message, else the dict's ``input``/``question``/
    ``query``). A ``Sample`` passes through (its ``metadata["langchain_input"]``, when
    set, is what the runnable receives). Anything else is a ``UsageError``."""
    if isinstance(value, Sample):
        return value
    if isinstance(value, str):
        return Sample(question=value)
    if isinstance(value, PromptValue):
        value = value.to_messages()
    if isinstance(value, list | tuple):
        messages = _messages(value, f"input {index}")
        return Sample(question=_last_user_text(messages), metadata={INPUT_KEY: list(value)})
    if isinstance(value, Mapping):
        data = dict(value)
        if "messages" in data:
            messages = _messages(data["messages"], f"input {index} 'messages'")
            question = _last_user_text(messages)
        else:
            found = (data.get(k) for k in _QUESTION_KEYS)
            question = next((q for q in found if isinstance(q, str)), None) or _text(data)
        return Sample(question=question, metadata={INPUT_KEY: data})
    raise UsageError(
        f"input {index}: give a string, a list of messages, a dict of the runnable's inputs "
        f"or a Sample, got {type(value).__name__}"
    )


def inject_skills(runnable: Any, value: Any, skills: str, *, key: str = SKILLS_KEY) -> Any:
    """``value`` (a runnable's input) with ``skills`` placed by the rule in this module's
    docstring; a ``UsageError`` when the rule has no place for them. ``value`` is not
    changed."""
    variables, required = _input_variables(runnable)
    if isinstance(value, PromptValue):
        value = value.to_messages()
    if variables is not None and key in variables:
        return _fill_template(value, skills, key, variables, required)
    if isinstance(value, str | list | tuple):
        given = [HumanMessage(content=value)] if isinstance(value, str) else value
        conversation = _with_system(_messages(given, "input"), skills)
        if variables is None:
            return conversation
        if "messages" in variables:
            return {"messages": conversation}
        what = "a string task" if isinstance(value, str) else "a message list"
        raise UsageError(_no_place(runnable, variables, key, what))
    if isinstance(value, Mapping):
        if "messages" in value:
            messages = _with_system(_messages(value["messages"], "input 'messages'"), skills)
            return {**value, "messages": messages}
        if variables is not None:
            raise UsageError(_no_place(runnable, variables, key, "a dict input"))
        return _with_key(value, skills, key)
    raise UsageError(
        f"cannot inject skills into a {type(value).__name__} input; give a string, a list "
        "of messages or a dict"
    )


def _fill_template(
    value: Any, skills: str, key: str, variables: frozenset[str], required: frozenset[str]
) -> dict[str, Any]:
    others = sorted(variables - {key})
    if isinstance(value, str):
        if len(others) != 1:
            raise UsageError(
                f"a string task fills a template's one variable besides {{{key}}}; this one "
                f"has {others or 'none'}: pass a dict of them"
            )
        value = {others[0]: value}
    if not isinstance(value, Mapping):
        raise UsageError(
            f"the runnable takes the variables {sorted(variables)}; pass a dict of them, "
            f"got {type(value).__name__}"
        )
    missing = sorted(required - set(value) - {key})
    if missing:
        raise UsageError(f"the input lacks the runnable's required variables {missing}")
    return _with_key(value, skills, key)


def _with_key(value: Mapping[str, Any], skills: str, key: str) -> dict[str, Any]:
    if key in value:
        raise UsageError(f"the input already has {key!r}; ACE fills it with the skills")
    return {**value, key: skills}


def _no_place(runnable: Any, variables: frozenset[str], key: str, what: str) -> str:
    name = getattr(runnable, "get_name", lambda: type(runnable).__name__)()
    return (
        f"{name} takes the variables {sorted(variables)}, none of them {key!r} or 'messages', "
        f"so {what} leaves the skills nowhere to go: add {{{key}}} to its system prompt, "
        f"e.g. ('system', 'You are ...\\n\\n{{{key}}}')"
    )


def _input_variables(runnable: Any) -> tuple[frozenset[str] | None, frozenset[str]]:
    """The named inputs of ``runnable`` and the required ones; None when its input is not
    a set of named variables (a chat model, a function of messages)."""
    try:
        schema = runnable.get_input_schema()
        fields = dict(getattr(schema, "model_fields", None) or {})
    except Exception:
        return None, frozenset()
    if not fields or set(fields) == {"root"}:
        return None, frozenset()
    required = frozenset(n for n, f in fields.items() if _is_required(f))
    return frozenset(fields), required


def _is_required(field_info: Any) -> bool:
    try:
        return bool(field_info.is_required())
    except Exception:
        return False


def _messages(value: Any, where: str) -> list[BaseMessage]:
    if isinstance(value, PromptValue):
        return value.to_messages()
    if not isinstance(value, list | tuple):
        raise UsageError(f"{where}: expected a list of messages, got {type(value).__name__}")
    try:
        return convert_to_messages(list(value))
    except Exception as exc:
        raise UsageError(
            f"{where}: expected messages (BaseMessage, (role, text) pairs or "
            f"{{'role', 'content'}} dicts): {exc}"
        ) from exc


def _with_system(messages: list[BaseMessage], skills: str) -> list[BaseMessage]:
    if not skills:
        return list(messages)
    if messages and isinstance(messages[0], SystemMessage):
        first = messages[0]
        content: Any = first.content
        if isinstance(content, str):
            content = f"{content}\n\n{skills}" if content else skills
        else:
            content = [*content, {"type": "text", "text": skills}]
        return [first.model_copy(update={"content": content}), *messages[1:]]
    return [SystemMessage(content=skills), *messages]


def _last_user_text(messages: list[BaseMessage]) -> str:
    users = [m for m in messages if isinstance(m, HumanMessage)]
    return _content_text(users[-1].content) if users else ""


def _with_callback(config: Mapping[str, Any] | None, recorder: ACETraceRecorder) -> RunnableConfig:
    merged = dict(config or {})
    callbacks = merged.get("callbacks")
    if callbacks is None:
        merged["callbacks"] = [recorder]
    elif isinstance(callbacks, BaseCallbackManager):
        manager = callbacks.copy()
        manager.add_handler(recorder, inherit=True)
        merged["callbacks"] = manager
    else:
        merged["callbacks"] = [*callbacks, recorder]
    return cast(RunnableConfig, merged)


# --------------------------------------------------------------------------- integration
@dataclass
class LangChainResult:
    """One run of a runnable: its output and what the recorder saw.

    ``result_type`` is ``"error"`` when the run raised, ``"agent"`` when tools ran, else
    ``"simple"``. ``record`` is the recorder's trace record; ``messages`` its steps;
    ``intermediate_steps`` the tool runs as ``(call, result)`` pairs; ``input`` what the
    runnable was invoked with (skills injected); ``sample`` the task.
    """

    task: str
    output: str = ""
    result_type: str = "simple"
    success: bool = True
    error: str | None = None
    intermediate_steps: list[tuple[Any, Any]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    raw_result: Any = None
    record: dict[str, Any] = field(default_factory=dict)
    input: Any = None
    sample: Sample | None = None


class LangChainIntegration(Integration):
    """Any LangChain ``Runnable`` (chain, chat model, agent, LangGraph graph) as an ACE
    integration: ``execute`` injects the skills (module docstring), invokes it with an
    ``ACETraceRecorder`` among the callbacks and returns a ``LangChainResult``;
    ``to_trace`` returns the recorded trace record with the task and its outcome.

    A run that raises is a failed result (learned from), not an exception; a
    ``UsageError`` (a caller mistake) still raises. ``output_parser`` turns the runnable's
    output into the answer text; ``config`` is passed to every ``invoke`` (its callbacks
    are kept); ``agent_name`` names the model's steps in the trace.
    """

    name: ClassVar[str] = "langchain"

    def __init__(
        self,
        runnable: Any,
        output_parser: Callable[[Any], str] | None = None,
        *,
        skills_key: str = SKILLS_KEY,
        skills_k: int | None = None,
        config: Mapping[str, Any] | None = None,
        agent_name: str | None = None,
    ) -> None:
        if not isinstance(runnable, Runnable):
            raise UsageError(
                "LangChain: runnable must be a LangChain Runnable (a chain, chat model, "
                f"agent or graph), got {type(runnable).__name__}"
            )
        if output_parser is not None and not callable(output_parser):
            raise UsageError("LangChain: output_parser must be a callable (output -> str)")
        if not isinstance(skills_key, str) or not skills_key:
            raise UsageError(
                f"LangChain: skills_key must be a non-empty string, got {skills_key!r}"
            )
        if skills_k is not None and (
            isinstance(skills_k, bool) or not isinstance(skills_k, int) or skills_k < 1
        ):
            raise UsageError(f"LangChain: skills_k must be an int >= 1 or None, got {skills_k!r}")
        if config is not None and not isinstance(config, Mapping):
            raise UsageError("LangChain: config must be a RunnableConfig dict")
        self.runnable = runnable
        self.output_parser = output_parser or _output_text
        self.skills_key = skills_key
        self.skills_k = skills_k
        self.config = dict(config or {})
        self.agent_name = agent_name

    def prepare(self, task: Sample, skills: str) -> Any:
        """What the runnable is invoked with for ``task``: its input, skills injected."""
        value = task.metadata.get(INPUT_KEY, task.question)
        return inject_skills(self.runnable, value, skills, key=self.skills_key)

    def execute(self, task: Sample, skills: str) -> LangChainResult:
        """Invoke the runnable with the skills injected, recording the run."""
        prepared = self.prepare(task, skills)
        recorder = ACETraceRecorder(agent_name=self.agent_name)
        result = LangChainResult(task=task.question, input=prepared, sample=task)
        try:
            raw = self.runnable.invoke(prepared, config=_with_callback(self.config, recorder))
        except UsageError:
            raise
        except Exception as exc:
            result.success, result.result_type = False, "error"
            result.error = _describe(exc)
            result.output = ""
        else:
            result.raw_result = raw
            result.output = str(self.output_parser(raw))
        result.record = recorder.to_record(question=task.question)
        result.messages = result.record["messages"]
        result.intermediate_steps = _tool_pairs(result.messages)
        if result.success and result.intermediate_steps:
            result.result_type = "agent"
        return result

    def to_trace(self, result: Any, task: Sample) -> Any:
        """The recorded run as a ``Trace`` (format ``openai_messages``) with the question,
        the answer and, when the run failed, feedback naming the error."""
        return _trace_of(result, task)


def _trace_of(result: Any, task: Sample | None = None) -> Any:
    """A ``LangChainResult`` as a ``Trace`` (its record read as ``openai_messages``, with
    the task and outcome); a record or ``Trace`` already there is returned as it is."""
    from ace.traces import load_trace

    if isinstance(result, Trace | Mapping | list):
        return result
    if not isinstance(result, LangChainResult):
        raise UsageError(
            f"LangChainToTrace: expected a LangChainResult on ctx.trace, got {type(result).__name__}"
        )
    record = dict(result.record) or {"messages": []}
    record["question"] = task.question if task is not None else result.task
    if result.output:
        record["final_answer"] = result.output
    else:
        record.pop("final_answer", None)
    if not result.success:
        record["feedback"] = f"The run failed: {result.error}"
    return load_trace(record, format="openai_messages")


def _tool_pairs(steps: list[dict[str, Any]]) -> list[tuple[Any, Any]]:
    """The recorded tool results as ``({tool, tool_input, tool_call_id}, result)`` pairs,
    the serialised shape of LangChain's ``intermediate_steps``."""
    asked: dict[str, dict[str, Any]] = {}
    pairs: list[tuple[Any, Any]] = []
    for step in steps:
        calls = step.get("tool_calls") or []
        if step["role"] == "assistant":
            asked.update({c["id"]: c for c in calls if c.get("id")})
            continue
        if step["role"] != "tool":
            continue
        call_id = step.get("tool_call_id")
        call = asked.get(call_id, {}) if call_id else (calls[0] if calls else {})
        action = {
            "tool": step.get("name") or call.get("name"),
            "tool_input": call.get("arguments"),
            "tool_call_id": call_id,
        }
        pairs.append((action, step["content"]))
    return pairs


class _TraceOnly(Integration):
    """The conversion half of the integration, for ``LangChainToTrace()`` without one."""

    name: ClassVar[str] = "langchain"

    def execute(self, task: Sample, skills: str) -> Any:
        raise UsageError("LangChainToTrace converts results; use LangChainExecuteStep to run")

    def to_trace(self, result: Any, task: Sample) -> Any:
        return _trace_of(result, task)


class LangChainExecuteStep(ExecuteStep):
    """Injects the skillbook into a runnable's input and runs it, recording the run.

    Requires ``sample`` (a ``Sample``, or the raw input: a string, a message list or a
    dict, as in the established package) and ``skillbook``; provides ``trace``, a
    ``LangChainResult`` (``LangChainToTrace`` turns it into a ``Trace``). ``sample`` is
    left as it was. Keywords as for ``LangChainIntegration``.
    """

    def __init__(
        self,
        runnable: Any,
        output_parser: Callable[[Any], str] | None = None,
        *,
        skills_key: str = SKILLS_KEY,
        skills_k: int | None = None,
        config: Mapping[str, Any] | None = None,
        agent_name: str | None = None,
    ) -> None:
        super().__init__(
            LangChainIntegration(
                runnable,
                output_parser,
                skills_key=skills_key,
                skills_k=skills_k,
                config=config,
                agent_name=agent_name,
            )
        )

    @property
    def runnable(self) -> Any:
        """The runnable this step runs."""
        return getattr(self.integration, "runnable", None)

    def __call__(self, ctx: ACEStepContext) -> ACEStepContext:
        """Inject, run, record."""
        if ctx.sample is None or isinstance(ctx.sample, Sample):
            return super().__call__(ctx)
        out = super().__call__(ctx.replace(sample=as_task(ctx.sample)))
        return out.replace(sample=ctx.sample)


class LangChainToTrace(ToTraceStep):
    """Turns the ``LangChainResult`` in ``ctx.trace`` into a normalised ``Trace`` (format
    ``openai_messages``); the result is kept in ``metadata["integration_result"]``.

    Requires ``trace`` (the task comes from ``ctx.sample`` when it is a ``Sample``, else
    from the result); provides ``trace``.
    """

    requires = frozenset({"trace"})
    provides = frozenset({"trace"})

    def __init__(self, integration: Integration | None = None) -> None:
        super().__init__(integration if integration is not None else _TraceOnly())

    def __call__(self, ctx: ACEStepContext) -> ACEStepContext:
        """Describe the run as a trace."""
        if isinstance(ctx.sample, Sample):
            return super().__call__(ctx)
        raw = ctx.trace.value if isinstance(ctx.trace, RawResult) else ctx.trace
        task = raw.sample if isinstance(raw, LangChainResult) else None
        if task is None:
            task = as_task(ctx.sample) if ctx.sample is not None else Sample(question="")
        out = super().__call__(ctx.replace(sample=task))
        return out.replace(sample=ctx.sample)
