"""Format ``text``: a plain-text log.

Lines that open with a speaker (``Name: ...`` or ``[Name] ...``) start a step; without
any, each blank-line-separated block is a step.
"""

from __future__ import annotations

import re

from pydantic import JsonValue

from ace.errors import TraceFormatError
from ace.traces._json import describe
from ace.traces.formats._base import Parsed, TraceFormat
from ace.traces.schema import TraceStep

_SPEAKER = re.compile(
    r"^(?:\[(?P<bracket>[^\]\n]{1,60})\]:?|(?P<name>[A-Za-z][\w .()>-]{0,60}):)\s"
)


def detect(value: JsonValue) -> bool:
    """Any string."""
    return isinstance(value, str)


def parse(value: JsonValue) -> Parsed:
    """The log split at speaker lines, else at blank lines."""
    if not isinstance(value, str):
        raise TraceFormatError(f"expected a plain-text log, got {describe(value)}")
    return parse_text(value)


def parse_text(text: str) -> Parsed:
    """A plain-text log, split at speaker lines, else at blank lines."""
    lines = text.splitlines()
    blocks: list[tuple[str | None, list[str]]] = []
    if any(_SPEAKER.match(line) for line in lines):
        for line in lines:
            match = _SPEAKER.match(line)
            if match:
                speaker = (match["bracket"] or match["name"]).strip()
                blocks.append((speaker, [line[match.end() :]]))
            elif blocks:
                blocks[-1][1].append(line)
            else:
                blocks.append((None, [line]))
    else:
        for chunk in re.split(r"\n\s*\n", text.strip()):
            if chunk.strip():
                blocks.append((None, [chunk]))
    steps = [
        TraceStep(index=i, agent=speaker, content="\n".join(body).strip())
        for i, (speaker, body) in enumerate(blocks)
    ]
    return Parsed(format="text", steps=steps, raw=text)


FORMAT = TraceFormat(
    name="text",
    accepts="plain-text logs",
    group="generic",
    detect=detect,
    parse=parse,
)
