"""Format ``tau2_bench``: a tau2-bench results file, one trace per simulation.

tau2-bench (sierra-research/tau2-bench, ``src/tau2/data_model/simulation.py``) saves a
``Results`` object ``{timestamp, info, tasks: [Task], simulations: [SimulationRun]}``;
its directory format keeps each ``SimulationRun`` in a file of its own under
``simulations/`` (read one, or the folder, as is). A ``SimulationRun`` holds ``id``,
``task_id``, ``trial``, ``termination_reason``, times, costs, ``reward_info`` and
``messages`` (``src/tau2/data_model/message.py``): ``{role, content, tool_calls: [{id,
name, arguments, requestor}], turn_idx, timestamp}``, tool answers ``{role: "tool", id,
content, requestor, error}``, several at once as ``{role: "tool", tool_messages}``.

Each simulation is a trace with the simulation's ``id``; ``Trace.raw`` is the simulation
with its task under ``task`` and the results' ``info`` (agent, user, policy) under
``run_info``. Steps carry the messages' timestamps; a tool answer's step is named after
the tool it answers. The question is the task's user instructions.

Labels, never shown to a reflector: everything the evaluator was given or produced:
``reward_info``, ``review``, ``user_only_review``, ``hallucination_check``,
``auth_classification``, and the task's ``evaluation_criteria`` (expected actions,
assertions, information to communicate), ``description`` (its purpose and notes) and
``issues``.
"""

from __future__ import annotations

from pydantic import JsonValue

from ace.errors import TraceFormatError
from ace.traces._json import describe
from ace.traces._steps import parse_step, timestamp_of
from ace.traces.formats._base import Parsed, TraceFormat, need_record, take_labels, text
from ace.traces.schema import ToolResult, TraceStep

LABEL_KEYS = (
    "reward_info",
    "review",
    "user_only_review",
    "hallucination_check",
    "auth_classification",
    "task.evaluation_criteria",
    "task.description",
    "task.issues",
)


def _is_results(value: JsonValue) -> bool:
    return isinstance(value, dict) and "simulations" in value and "tasks" in value


def _is_simulation(value: JsonValue) -> bool:
    return (
        isinstance(value, dict)
        and "termination_reason" in value
        and "task_id" in value
        and ("messages" in value or "ticks" in value)
    )


def detect(value: JsonValue) -> bool:
    """A ``Results`` object (``simulations`` and ``tasks``) or one ``SimulationRun``."""
    return _is_results(value) or _is_simulation(value)


def split(value: JsonValue) -> list[JsonValue] | None:
    """A results object is one trace per simulation, each given its task and the run's
    ``info``; a simulation alone is one trace."""
    if not (isinstance(value, dict) and "simulations" in value):
        return None
    simulations = value["simulations"]
    if not isinstance(simulations, list):
        raise TraceFormatError(
            f"'simulations': expected a list of simulations, got {describe(simulations)}"
        )
    if not simulations and value.get("simulation_index"):
        raise TraceFormatError(
            "a tau2-bench results.json of the directory format: its simulations are files "
            "in the simulations/ folder beside it; load that folder"
        )
    tasks = value.get("tasks")
    by_id = {
        str(task["id"]): task
        for task in (tasks if isinstance(tasks, list) else [])
        if isinstance(task, dict) and isinstance(task.get("id"), str | int)
    }
    info = value.get("info")
    items: list[JsonValue] = []
    for simulation in simulations:
        if not isinstance(simulation, dict):
            items.append(simulation)  # refused with its position by parse
            continue
        item = dict(simulation)
        task = by_id.get(str(simulation.get("task_id")))
        if task is not None:
            item["task"] = task
        if info is not None:
            item["run_info"] = info
        items.append(item)
    return items


def parse(value: JsonValue) -> Parsed:
    """One simulation: its messages as steps, its labels taken out."""
    simulation = need_record(value, "a tau2-bench simulation {id, task_id, messages, ...}")
    record, labels = take_labels(simulation, LABEL_KEYS)
    messages = record.get("messages")
    if messages is None and record.get("ticks") is not None:
        raise TraceFormatError(
            "a full-duplex (voice) tau2-bench simulation keeps its conversation as ticks, "
            "which are not read; save it with messages"
        )
    if messages is None:
        messages = []
    if not isinstance(messages, list):
        raise TraceFormatError(f"'messages': expected a list of messages, got {describe(messages)}")
    simulation_id = record.get("id")
    return Parsed(
        format="tau2_bench",
        steps=_steps(messages),
        raw=record,
        fields={"question": _instructions(record.get("task"))},
        record_id=simulation_id if isinstance(simulation_id, str) and simulation_id else None,
        labels=labels,
    )


def _steps(messages: list[JsonValue]) -> list[TraceStep]:
    steps: list[TraceStep] = []
    tools: dict[str, str] = {}
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if isinstance(message, dict) and message.get("role") == "tool":
            step = _tool_step(message, i, where, tools)
        else:
            step = parse_step(message, i, where)
        for call in step.tool_calls:
            if call.id:
                tools[call.id] = call.name
        steps.append(step)
    return steps


def _tool_step(
    message: dict[str, JsonValue], index: int, where: str, tools: dict[str, str]
) -> TraceStep:
    """A tool answer (or several, as ``tool_messages``), matched to its call by ``id``."""
    parts = message.get("tool_messages")
    answers: list[tuple[JsonValue, str]]
    if parts is None:
        answers = [(message, where)]
    elif isinstance(parts, list):
        answers = [(part, f"{where}.tool_messages[{j}]") for j, part in enumerate(parts)]
    else:
        raise TraceFormatError(f"{where}.tool_messages: expected a list, got {describe(parts)}")
    results: list[ToolResult] = []
    for answer, at in answers:
        if not isinstance(answer, dict):
            raise TraceFormatError(f"{at}: expected a tool message, got {describe(answer)}")
        call_id = answer.get("id")
        call_id = call_id if isinstance(call_id, str) and call_id else None
        name = tools.get(call_id) if call_id else None
        output = text(answer.get("content")) or ""
        results.append(ToolResult(output=output, name=name, call_id=call_id))
    names = {r.name for r in results if r.name}
    return TraceStep(
        index=index,
        role="tool",
        agent=names.pop() if len(names) == 1 else "tool",
        tool_results=results,
        timestamp=timestamp_of(message.get("timestamp")),
    )


def _instructions(task: JsonValue) -> str | None:
    """The task's user instructions: text, or tau2's structured instructions as lines."""
    if not isinstance(task, dict):
        return None
    scenario = task.get("user_scenario")
    instructions = scenario.get("instructions") if isinstance(scenario, dict) else None
    if isinstance(instructions, dict):
        lines = [f"{key}: {text(value)}" for key, value in instructions.items() if value]
        return "\n".join(lines) or None
    return text(instructions)


FORMAT = TraceFormat(
    name="tau2_bench",
    accepts="tau2-bench results {info, tasks, simulations}, or one simulation",
    group="specific",
    detect=detect,
    parse=parse,
    split=split,
    label_keys=LABEL_KEYS,
)
