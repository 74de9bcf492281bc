"""The journal beside an evaluation report: what a long run has finished, line by line.

``RESULTS.json`` is one JSON report written at the end (or when interrupted). While the
run goes, ``RESULTS.json.journal.jsonl`` gets a header line with the run's settings, then
one `TraceResult` per finished trace, each flushed and fsynced as it is written, so a
crash, Ctrl-C or SIGTERM loses at most the trace in flight. ``--resume RESULTS.json``
reads it back, refuses when the settings differ (naming each difference), and skips
what is done. Batch analysis and scale-out reuse this format.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import IO, Any

from pydantic import ValidationError

from ace.errors import InputError
from ace.eval.scoring import TraceResult

SUFFIX = ".journal.jsonl"
FORMAT = "ace-eval-journal"


def journal_path(report: Path) -> Path:
    """Where the journal of `report` lives."""
    return report.with_name(report.name + SUFFIX)


class Journal:
    """An open journal: append one result per finished trace."""

    def __init__(self, path: Path, handle: IO[str]) -> None:
        self.path = path
        self._handle = handle

    @classmethod
    def start(cls, report: Path, settings: dict[str, Any]) -> Journal:
        """A new journal for `report` (an old one is replaced), with its header written."""
        path = journal_path(report)
        handle = path.open("w", encoding="utf-8")
        journal = cls(path, handle)
        journal._write({"format": FORMAT, "settings": settings})
        return journal

    @classmethod
    def resume(cls, report: Path, settings: dict[str, Any]) -> tuple[Journal, list[TraceResult]]:
        """The journal of `report` reopened for appending, and the results it holds.

        Raises ``InputError`` when there is none or when its settings differ from
        `settings` (each difference named). A last line cut short by a crash is dropped.
        """
        path = journal_path(report)
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            raise InputError(
                f"--resume {report}: no journal {path.name} beside it (the run finished, or "
                "never started with this --out); start a new run instead"
            ) from None
        header = _json(lines[0]) if lines else None
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise InputError(f"--resume {report}: {path.name} is not an evaluation journal")
        differences = describe_differences(header.get("settings") or {}, settings)
        if differences:
            raise InputError(
                f"--resume {report}: the run was started with other settings ({differences}); "
                "resume with the same options, or start a new run with another --out"
            )
        done: list[TraceResult] = []
        for line in lines[1:]:
            value = _json(line)
            try:
                done.append(TraceResult.model_validate(value))
            except ValidationError:
                continue  # the line a crash cut short
        return cls(path, path.open("a", encoding="utf-8")), done

    def append(self, result: TraceResult) -> None:
        """Record one finished trace, durably."""
        self._write(result.model_dump(mode="json"))

    def close(self, *, remove: bool = False) -> None:
        """Close it; `remove` once the complete report is written."""
        self._handle.close()
        if remove:
            self.path.unlink(missing_ok=True)

    def _write(self, value: object) -> None:
        self._handle.write(json.dumps(value, separators=(",", ":")) + "\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())


def describe_differences(old: dict[str, Any], new: dict[str, Any]) -> str:
    """``seed: 0 then, 1 now; version: ...`` for every setting that differs, or ""."""
    keys = sorted(set(old) | set(new))
    return "; ".join(
        f"{key}: {old.get(key)!r} then, {new.get(key)!r} now"
        for key in keys
        if old.get(key) != new.get(key)
    )


def _json(line: str) -> object:
    try:
        return json.loads(line)
    except ValueError:
        return None
