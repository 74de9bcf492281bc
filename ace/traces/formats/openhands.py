"""Format ``openhands``: an OpenHands (V0) event stream.

OpenHands (``openhands/events/serialization/event.py``) writes each event as ``{id,
timestamp, source, message, cause, action, args, timeout, tool_call_metadata,
llm_metrics}`` for an action (``source`` ``agent`` or ``user``; ``action`` ``message``,
``system``, ``run``, ``run_ipython``, ``read``, ``edit``, ``write``, ``browse``,
``think``, ``finish``, ``reject``, ``delegate``, ``recall``, ...) and ``{id, timestamp,
source, message, cause, observation, content, extras, success}`` for an observation
(mostly from the ``environment``; ``cause`` is the id of the action it answers;
``observation`` ``run``, ``read``, ``edit``, ``error``, ``agent_state_changed``,
``recall``, ...). ``--save-trajectory-path`` saves the list of them (as does the event
store's page cache); the conversation API wraps it as ``{"trajectory": [...]}``.

Each event is one step, at its timestamp: a message action is its sender's text; any
other action is a tool call named by its ``action`` type (its ``args`` less the
``thought``, which is the step's text; id: the event's id); an observation is the
result of the action it answers (named after it), from the ``environment``. An ``error``
observation and a command that exited non-zero are marked ``(error)``. The question is
the first message from the user. There are no labels.
"""

from __future__ import annotations

from pydantic import JsonValue

from ace.errors import TraceFormatError
from ace.traces._json import describe
from ace.traces._steps import timestamp_of
from ace.traces.formats._base import Parsed, TraceFormat, record_id
from ace.traces.formats._frameworks import ERROR, Mark, as_text, marked, one_of
from ace.traces.schema import ToolCall, ToolResult, TraceStep

_SOURCES = frozenset({"agent", "user", "environment"})
_TEXT_ACTIONS = frozenset({"message", "system"})


def _is_event(item: JsonValue) -> bool:
    return (
        isinstance(item, dict)
        and ("action" in item) != ("observation" in item)
        and one_of(item.get("source", "agent"), _SOURCES)
        and ("args" in item or "extras" in item or "content" in item or "message" in item)
    )


def _events(value: JsonValue) -> list[JsonValue] | None:
    if isinstance(value, dict) and set(value) <= {"trajectory", "id", "conversation_id"}:
        value = value.get("trajectory")
    if (
        isinstance(value, list)
        and bool(value)
        and all(_is_event(item) for item in value)
        and any(isinstance(item, dict) and "source" in item for item in value)
    ):
        return value
    return None


def detect(value: JsonValue) -> bool:
    """A list of events, each either an ``action`` or an ``observation`` with a
    ``source`` of agent, user or environment; or ``{"trajectory": [...]}`` of them."""
    return _events(value) is not None


def parse(value: JsonValue) -> Parsed:
    """One session: a step per event."""
    events = _events(value)
    if events is None:
        raise TraceFormatError(
            "expected OpenHands events [{id, source, action | observation, ...}], got "
            f"{describe(value)}"
        )
    actions: dict[str, str] = {}
    steps = [_step(event, index, actions) for index, event in enumerate(events)]
    question = next(
        (
            step.content
            for step, event in zip(steps, events, strict=True)
            if isinstance(event, dict)
            and event.get("source") == "user"
            and event.get("action") == "message"
        ),
        None,
    )
    return Parsed(
        format="openhands",
        steps=steps,
        raw=value,
        fields={"question": question},
        record_id=record_id(value) if isinstance(value, dict) else None,
    )


def _step(event: JsonValue, index: int, actions: dict[str, str]) -> TraceStep:
    assert isinstance(event, dict)
    source = as_text(event.get("source")) or "agent"
    event_id = as_text(event.get("id")) or None
    timestamp = timestamp_of(event.get("timestamp"))
    if "action" in event:
        return _action(event, index, source, event_id, timestamp, actions)
    kind = as_text(event.get("observation"))
    extras = event.get("extras")
    extras = extras if isinstance(extras, dict) else {}
    cause = as_text(event.get("cause")) or None
    name = actions.get(cause or "", kind)
    output = as_text(event.get("content"))
    if not output and kind == "agent_state_changed":
        output = f"agent state: {as_text(extras.get('agent_state'))}"
    metadata = extras.get("metadata")
    exit_code = metadata.get("exit_code") if isinstance(metadata, dict) else None
    failed = kind == "error" or (isinstance(exit_code, int) and exit_code not in (0, -1))
    mark: Mark | None = ERROR if failed else None
    return TraceStep(
        index=index,
        role=marked(source, mark),
        agent=source,
        content=as_text(event.get("message")) if failed else "",
        tool_results=[ToolResult(output=output, name=name, call_id=cause)],
        timestamp=timestamp,
    )


def _action(
    event: dict[str, JsonValue],
    index: int,
    source: str,
    event_id: str | None,
    timestamp: str | None,
    actions: dict[str, str],
) -> TraceStep:
    kind = as_text(event.get("action"))
    args = event.get("args")
    args = args if isinstance(args, dict) else {}
    if kind in _TEXT_ACTIONS:
        content = as_text(args.get("content", event.get("message")))
        role = "system" if kind == "system" else source
        return TraceStep(index=index, role=role, agent=source, content=content, timestamp=timestamp)
    thought = as_text(args.get("thought"))
    if kind == "finish" and args.get("final_thought"):
        thought = "\n".join(filter(None, [thought, as_text(args["final_thought"])]))
    arguments: JsonValue = {k: v for k, v in args.items() if k not in ("thought", "final_thought")}
    if event_id is not None:
        actions[event_id] = kind
    return TraceStep(
        index=index,
        role=source,
        agent=source,
        content=thought,
        tool_calls=[ToolCall(name=kind, arguments=arguments, id=event_id)],
        timestamp=timestamp,
    )


FORMAT = TraceFormat(
    name="openhands",
    accepts="OpenHands event streams [{id, source, action | observation, ...}]",
    group="specific",
    detect=detect,
    parse=parse,
)
