"""Format ``langsmith``: LangSmith runs, one trace per run tree.

A run (``langsmith.schemas.Run``, what ``Client.read_run(..., load_child_runs=True)``
returns and what a ``RunTree`` holds) is ``{id, name, run_type, start_time, end_time,
inputs, outputs, error, extra, events, tags, parent_run_id, trace_id, dotted_order,
child_runs}``; ``run_type`` is ``llm``, ``chain``, ``tool``, ``retriever``, ``prompt``,
``parser`` or ``embedding``. Read here: one run tree, a list of them, or runs exported
flat (``child_runs`` empty, ``parent_run_id`` set: a JSON list, or a JSONL with one run
per line), grouped by ``trace_id`` (else by their root).

Each run is one step, in the order the runs started (``dotted_order`` when every run has
one: it sorts a tree by start time, a parent before its children), so
``Trace.raw["runs"][i]`` is the run of ``steps[i]`` (its ``child_runs`` left out). An LLM
run's content is the input messages it adds to what that agent's previous LLM call saw,
then its output; the tool calls it asked for are its ``tool_calls``. A tool run has the
call (its name, its ``inputs``) and its result (``outputs``). Other runs show their
inputs and outputs; an ``error`` is an ``error: ...`` line (the first line of the text
LangSmith keeps). A step's agent is the LangGraph node it ran in
(``extra.metadata.langgraph_node``), else the nearest enclosing chain not named
``Runnable...``, else the root run's name. Messages may be OpenAI-style ``{role,
content, tool_calls}`` or LangChain's serialised messages (``{lc, id: [...,
"AIMessage"], kwargs: {content, tool_calls}}``); outputs ``{generations}``,
``{choices}``, ``{messages}`` or ``{output}``.

The question is the root's input (``input``, ``question``, ``query``, or its first user
message); the final answer is its output. Label: the root's ``feedback_stats`` (the
scores evaluators gave it); child runs' ``feedback_stats`` are left out of ``raw``.
"""

from __future__ import annotations

from pydantic import JsonValue

from ace.errors import TraceFormatError
from ace.traces._json import compact, describe
from ace.traces._steps import parse_step
from ace.traces.formats import _otel_semconv as semconv
from ace.traces.formats._base import Parsed, TraceFormat
from ace.traces.schema import ToolCall

NAME = "langsmith"
LABEL_KEYS = ("feedback_stats",)
_Run = dict[str, JsonValue]
_ROLES = {
    "human": "user",
    "ai": "assistant",
    "system": "system",
    "tool": "tool",
    "function": "tool",
}
_CLASSES = {
    "HumanMessage": "user",
    "AIMessage": "assistant",
    "SystemMessage": "system",
    "ToolMessage": "tool",
    "FunctionMessage": "tool",
    "ChatMessage": "user",
}
_TEXT_KEYS = ("input", "question", "query", "output", "answer", "result", "text")


def is_run(value: JsonValue) -> bool:
    """A LangSmith run: ``name``, ``run_type``, ``id``, and ``inputs``, ``outputs`` or
    ``child_runs``."""
    return (
        isinstance(value, dict)
        and isinstance(value.get("run_type"), str)
        and isinstance(value.get("name"), str)
        and "id" in value
        and ("inputs" in value or "outputs" in value or "child_runs" in value)
    )


def detect(value: JsonValue) -> bool:
    """A run (``{id, name, run_type, inputs | outputs | child_runs}``) or a non-empty
    list of runs."""
    if isinstance(value, list):
        return bool(value) and all(is_run(item) for item in value)
    return is_run(value)


def split(value: JsonValue) -> list[JsonValue] | None:
    """A list of runs of several traces as one value per trace (in the order their first
    run comes); None when it holds one trace."""
    if not isinstance(value, list):
        return None
    traces = _by_trace(value)
    if len(traces) <= 1:
        return None
    return [runs[0] if len(runs) == 1 else runs for runs in traces.values()]  # type: ignore[misc]


def _by_trace(items: list[JsonValue]) -> dict[str, list[JsonValue]]:
    by_id: dict[str, JsonValue] = {
        str(item["id"]): item for item in items if isinstance(item, dict)
    }
    traces: dict[str, list[JsonValue]] = {}
    for item in items:
        if not isinstance(item, dict):
            raise TraceFormatError(f"expected a LangSmith run, got {describe(item)}")
        traces.setdefault(_trace_key(item, by_id), []).append(item)
    return traces


def _trace_key(run: _Run, by_id: dict[str, JsonValue]) -> str:
    trace_id = run.get("trace_id")
    if isinstance(trace_id, str) and trace_id:
        return trace_id
    seen: set[str] = set()
    current = run
    while True:
        parent = current.get("parent_run_id")
        if not isinstance(parent, str) or parent not in by_id or parent in seen:
            return str(current.get("id"))
        seen.add(parent)
        found = by_id[parent]
        assert isinstance(found, dict)
        current = found


def parse(value: JsonValue) -> Parsed:
    """One run tree (or the flat runs of one trace): a step per run."""
    if not detect(value):
        raise TraceFormatError(
            "expected a LangSmith run {id, name, run_type, inputs, outputs, child_runs} or "
            f"a list of them, got {describe(value)}"
        )
    items: list[JsonValue] = value if isinstance(value, list) else [value]
    if len(_by_trace(items)) != 1:
        raise TraceFormatError("expected the runs of one trace, got runs of several traces")
    runs, parents = _flatten(items)
    ordered = _ordered(runs, parents)
    by_id = {id(run): run for run in runs}
    root = next((run for run in ordered if parents.get(id(run)) is None), ordered[0])
    labels: dict[str, JsonValue] = {}
    if "feedback_stats" in root:
        labels["feedback_stats"] = root["feedback_stats"]
    views = [_view(run) for run in ordered]
    agents = [_agent(run, parents, by_id, root) for run in ordered]
    trace_id = root.get("trace_id") or root.get("id")
    return Parsed(
        format=NAME,
        steps=semconv.steps(views, agents),
        raw={
            "trace_id": str(trace_id),
            "runs": [
                {k: v for k, v in run.items() if k not in ("child_runs", "feedback_stats")}
                for run in ordered
            ],
        },
        fields={
            "question": _text(_dict(root.get("inputs"))) or semconv.first_user_text(views),
            "final_answer": _text(_dict(root.get("outputs"))),
        },
        record_id=str(trace_id),
        labels=labels,
    )


def _flatten(items: list[JsonValue]) -> tuple[list[_Run], dict[int, _Run | None]]:
    """Every run of the trees, and each run's parent (by object identity)."""
    runs: list[_Run] = []
    parents: dict[int, _Run | None] = {}
    stack: list[tuple[JsonValue, _Run | None, str]] = [
        (item, None, f"[{i}]") for i, item in reversed(list(enumerate(items)))
    ]
    while stack:
        item, parent, where = stack.pop()
        if not is_run(item):
            raise TraceFormatError(f"{where}: expected a LangSmith run, got {describe(item)}")
        assert isinstance(item, dict)
        runs.append(item)
        parents[id(item)] = parent
        children = item.get("child_runs") or []
        if not isinstance(children, list):
            raise TraceFormatError(f"{where}.child_runs: expected a list, got {describe(children)}")
        stack += [
            (child, item, f"{where}.child_runs[{j}]")
            for j, child in reversed(list(enumerate(children)))
        ]
    by_run_id = {str(run.get("id")): run for run in runs}
    for run in runs:  # flat exports name their parent by id
        parent_id = run.get("parent_run_id")
        if parents[id(run)] is None and isinstance(parent_id, str) and parent_id in by_run_id:
            parents[id(run)] = by_run_id[parent_id]
    return runs, parents


def _ordered(runs: list[_Run], parents: dict[int, _Run | None]) -> list[_Run]:
    if all(isinstance(run.get("dotted_order"), str) and run["dotted_order"] for run in runs):
        return sorted(runs, key=lambda run: str(run["dotted_order"]))
    depth: dict[int, int] = {}

    def depth_of(run: _Run) -> int:
        count, current, seen = 0, parents.get(id(run)), {id(run)}
        while current is not None and id(current) not in seen:
            seen.add(id(current))
            count += 1
            current = parents.get(id(current))
        depth[id(run)] = count
        return count

    position = {id(run): i for i, run in enumerate(runs)}
    return sorted(
        runs,
        key=lambda run: (str(run.get("start_time") or ""), depth_of(run), position[id(run)]),
    )


def _agent(
    run: _Run, parents: dict[int, _Run | None], by_id: dict[int, _Run], root: _Run
) -> str | None:
    node = _metadata(run).get("langgraph_node")
    if isinstance(node, str) and node:
        return node
    current: _Run | None = run
    while current is not None:
        name = current.get("name")
        if (
            current.get("run_type") == "chain"
            and isinstance(name, str)
            and name
            and not name.startswith("Runnable")
        ):
            return name
        current = parents.get(id(current))
    name = root.get("name")
    return name if isinstance(name, str) else None


def _metadata(run: _Run) -> dict[str, JsonValue]:
    extra = _dict(run.get("extra"))
    return _dict(extra.get("metadata"))


def _view(run: _Run) -> semconv.SpanView:
    kind = str(run.get("run_type"))
    inputs, outputs = _dict(run.get("inputs")), _dict(run.get("outputs"))
    start = run.get("start_time")
    view = semconv.SpanView(
        kind=kind, name=str(run.get("name")), timestamp=start if isinstance(start, str) else None
    )
    if kind == "llm":
        view.inputs = _messages(inputs.get("messages", inputs.get("prompts")), "user")
        view.outputs = _outputs(outputs)
        if not view.outputs and outputs:
            view.output_text = compact(outputs)
    elif kind == "tool":
        arguments = inputs.get("input", inputs) if len(inputs) == 1 else inputs
        view.tool = ToolCall(name=view.name, arguments=semconv.decoded_arguments(arguments))
        if outputs:
            output = outputs.get("output", outputs) if len(outputs) == 1 else outputs
            view.tool_result = output if isinstance(output, str) else compact(output)
    else:
        view.input_text = _text(inputs) if inputs else None
        view.output_text = _text(outputs) if outputs else None
    error = run.get("error")
    if isinstance(error, str) and error.strip():
        view.errors = [error.strip().splitlines()[0]]
    return view


def _outputs(outputs: dict[str, JsonValue]) -> list[semconv.Message]:
    generations = outputs.get("generations")
    if isinstance(generations, list):
        flat = [g for group in generations for g in (group if isinstance(group, list) else [group])]
        found: list[semconv.Message] = []
        for generation in flat:
            if isinstance(generation, dict) and generation.get("message") is not None:
                found += _messages([generation["message"]], "assistant")
            elif isinstance(generation, dict) and isinstance(generation.get("text"), str):
                found.append(("assistant", str(generation["text"]), ()))
        return found
    choices = outputs.get("choices")
    if isinstance(choices, list):
        return _messages(
            [c.get("message") for c in choices if isinstance(c, dict) and c.get("message")],
            "assistant",
        )
    for key in ("messages", "message", "output"):
        if outputs.get(key) is not None:
            value = outputs[key]
            found = _messages(value if isinstance(value, list) else [value], "assistant")
            return found[-1:] if key == "messages" else found
    return []


def _messages(value: JsonValue, default_role: str) -> list[semconv.Message]:
    """OpenAI-style or LangChain-serialised messages (a list, or a list of lists)."""
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    if items and all(isinstance(item, list) for item in items):
        items = [message for group in items for message in group]  # type: ignore[union-attr]
    messages: list[semconv.Message] = []
    for i, item in enumerate(items):
        if isinstance(item, str):
            messages.append((default_role, item, ()))
            continue
        if not isinstance(item, dict):
            messages.append((default_role, compact(item), ()))
            continue
        fields = _dict(item.get("kwargs")) if "lc" in item else item
        if isinstance(item.get("data"), dict) and "type" in item:  # messages_to_dict()
            fields = _dict(item["data"])
        role = _role(item, fields) or default_role
        content = fields.get("content")
        text = content if isinstance(content, str) else (_parts_text(content) if content else "")
        calls = [call for call in (_call(c) for c in _items(fields.get("tool_calls"))) if call]
        if not text and not calls and "role" in fields:
            step = parse_step(fields, i, f"message[{i}]")
            text = step.content
            calls = step.tool_calls
        messages.append((role, text, calls))
    return messages


def _role(item: dict[str, JsonValue], fields: dict[str, JsonValue]) -> str | None:
    role = fields.get("role")
    if isinstance(role, str):
        return role
    kind = fields.get("type", item.get("type"))
    if isinstance(kind, str) and kind in _ROLES:
        return _ROLES[kind]
    ids = item.get("id")
    if isinstance(ids, list) and ids and isinstance(ids[-1], str):
        return _CLASSES.get(ids[-1].removesuffix("Chunk"))
    return None


def _call(value: JsonValue) -> ToolCall | None:
    """LangChain's ``{name, args, id}`` or OpenAI's ``{id, function: {name, arguments}}``."""
    if not isinstance(value, dict):
        return None
    spec = _dict(value.get("function")) or value
    name = spec.get("name")
    if not isinstance(name, str):
        return None
    arguments = spec.get("args", spec.get("arguments"))
    call_id = value.get("id")
    return ToolCall(
        name=name,
        arguments=semconv.decoded_arguments(arguments),
        id=call_id if isinstance(call_id, str) else None,
    )


def _parts_text(content: JsonValue) -> str:
    parts = content if isinstance(content, list) else [content]
    texts = [
        str(part["text"])
        if isinstance(part, dict) and isinstance(part.get("text"), str)
        else part
        if isinstance(part, str)
        else compact(part)
        for part in parts
    ]
    return "\n".join(texts)


def _text(values: dict[str, JsonValue]) -> str | None:
    """A run's inputs or outputs as text: a usual key's text, else compact JSON."""
    if not values:
        return None
    for key in _TEXT_KEYS:
        value = values.get(key)
        if isinstance(value, str) and value:
            return value
    messages = values.get("messages")
    if isinstance(messages, list) and messages:
        found = _messages(messages, "user")
        if found and found[-1][1]:
            return found[-1][1]
    return compact(values)


def _dict(value: JsonValue) -> dict[str, JsonValue]:
    return value if isinstance(value, dict) else {}


def _items(value: JsonValue) -> list[JsonValue]:
    return value if isinstance(value, list) else []


FORMAT = TraceFormat(
    name=NAME,
    accepts="LangSmith runs {id, name, run_type, inputs, outputs, child_runs}, one trace per "
    "run tree",
    group="specific",
    detect=detect,
    parse=parse,
    split=split,
    label_keys=LABEL_KEYS,
)
