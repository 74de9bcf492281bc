"""Writes ``openhands.json``: an OpenHands event stream, as ``--save-trajectory-path``
saves it.

The events are real OpenHands (V0) objects: the ``openhands-ai`` package's own actions
and observations, added to its ``EventStream`` (which gives each its id, source and
timestamp, and stores it in a file store, here in memory), read back in order and
serialised with ``event_to_trajectory``, the function behind ``--save-trajectory-path``
(``StateTracker.get_trajectory``). No agent or model runs: the script plays what a
CodeAct agent did on a small bug (a failing command, a file that is not there, an edit,
a correction from the user, the finish).

Install the package for this script only (it is not a dependency of the project); its
V0 event stream is in the 0.x releases, which need Python 3.12::

    pip install "openhands-ai==0.62.0"
    python tests/data/traces/make_openhands.py

Timestamps are moved to a fixed day afterwards so that the file does not change between
runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from openhands.events import EventSource, EventStream
from openhands.events.action import (
    AgentFinishAction,
    CmdRunAction,
    FileEditAction,
    FileReadAction,
    MessageAction,
    SystemMessageAction,
)
from openhands.events.event import Event
from openhands.events.observation import (
    AgentStateChangedObservation,
    CmdOutputObservation,
    ErrorObservation,
    FileEditObservation,
    FileReadObservation,
)
from openhands.events.observation.commands import CmdOutputMetadata
from openhands.events.serialization.event import event_to_trajectory
from openhands.storage.memory import InMemoryFileStore

OUT = Path(__file__).with_name("openhands.json")
FAILING = (
    "F                                                                        [100%]\n"
    "FAILED tests/test_dates.py::test_parse_offset - ValueError: unconverted data "
    "remains: +02:00\n1 failed in 0.04s"
)


def main() -> None:
    stream = EventStream("session-42", InMemoryFileStore())
    agent, user, environment = EventSource.AGENT, EventSource.USER, EventSource.ENVIRONMENT

    def add(event: Event, source: EventSource, cause: Event | None = None) -> Event:
        if cause is not None:
            event._cause = cause.id  # type: ignore[attr-defined]
        stream.add_event(event, source)
        return event

    add(SystemMessageAction(content="You are OpenHands agent, a helpful AI assistant ..."), agent)
    add(MessageAction(content="tests/test_dates.py fails since the last merge, fix it."), user)
    run = add(
        CmdRunAction(command="python -m pytest tests/test_dates.py -q", thought="Reproduce it."),
        agent,
    )
    metadata = CmdOutputMetadata(exit_code=1, working_dir="/workspace/calendar")
    add(
        CmdOutputObservation(content=FAILING, command=run.command, metadata=metadata),  # type: ignore[attr-defined]
        environment,
        run,
    )
    read = add(FileReadAction(path="/workspace/calendar/src/date.py"), agent)
    add(
        ErrorObservation(content="File not found: /workspace/calendar/src/date.py"),
        environment,
        read,
    )
    read = add(FileReadAction(path="/workspace/calendar/src/dates.py"), agent)
    add(
        FileReadObservation(
            content='def parse(text):\n    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S")\n',
            path=read.path,  # type: ignore[attr-defined]
        ),
        environment,
        read,
    )
    edit = add(
        FileEditAction(
            path="/workspace/calendar/src/dates.py",
            command="str_replace",
            old_str='datetime.strptime(text, "%Y-%m-%dT%H:%M:%S")',
            new_str="datetime.fromisoformat(text)",
            thought="fromisoformat reads the offset.",
        ),
        agent,
    )
    add(
        FileEditObservation(
            content="The file /workspace/calendar/src/dates.py has been edited.",
            path=edit.path,  # type: ignore[attr-defined]
            old_content='datetime.strptime(text, "%Y-%m-%dT%H:%M:%S")',
            new_content="datetime.fromisoformat(text)",
        ),
        environment,
        edit,
    )
    add(MessageAction(content="Keep naive timestamps naive, do not add UTC to them."), user)
    run = add(CmdRunAction(command="python -m pytest tests -q"), agent)
    metadata = CmdOutputMetadata(exit_code=0, working_dir="/workspace/calendar")
    add(
        CmdOutputObservation(
            content="....                                                             "
            "[100%]\n4 passed in 0.05s",
            command=run.command,  # type: ignore[attr-defined]
            metadata=metadata,
        ),
        environment,
        run,
    )
    add(
        AgentFinishAction(
            final_thought="parse() now uses datetime.fromisoformat; naive values stay naive.",
            outputs={"files_changed": ["src/dates.py"]},
        ),
        agent,
    )
    add(AgentStateChangedObservation(content="", agent_state="finished"), environment)
    stream.close()
    events = [event_to_trajectory(event) for event in stream.search_events()]
    OUT.write_text(json.dumps(steady(events), indent=1) + "\n")
    print(f"{len(events)} events")


def steady(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events with their timestamps moved to 2026-01-01 10:00, 2 s apart, in order."""
    for number, event in enumerate(events):
        if event.get("timestamp"):
            event["timestamp"] = f"2026-01-01T10:00:{2 * number:02d}.000000"
    return events


if __name__ == "__main__":
    main()
