"""Public loaders: one trace, many traces, files; labels split off on the way.

- :func:`load_trace` / :func:`load_labelled_trace` take one in-memory trace (any JSON
  value; a ``str`` is a plain-text log).
- :func:`load_traces` / :func:`load_labelled_traces` take a batch, a single trace, or a
  path (``os.PathLike``, or a one-line ``str`` ending in a trace suffix or naming an
  existing path; a directory means its trace files in natural order).
- :func:`load_trace_file` reads a file that holds exactly one trace.
- :func:`load_labelled_bytes` reads a file's content from elsewhere (standard input).
- :func:`iter_labelled_traces` is :func:`load_labelled_traces` one trace at a time: an
  OpenTelemetry JSONL file (see below) is read trace by trace in bounded memory, any
  other file whole, one file after the other.

An OpenTelemetry JSONL file (``.jsonl``/``.ndjson`` whose first line is an OTLP export or
a span) may be far larger than memory and may spread a trace's spans over the whole file.
It is read in two passes, each a block of lines at a time into one reused buffer (lines
are searched and parsed in place, never copied out). The first reads each line's trace
ids off its bytes (no JSON parsing) and keeps, per trace id, where its first line starts
and which line is its last. The second parses the lines in order and holds the spans of
the traces still open; a trace is built and handed over as soon as its last line is read
(so traces come in the order they end, as the ``otel`` format orders them). When the open traces hold more than
``OTEL_BUFFER_BYTES`` of their lines, those ending last are dropped and read again from
their first line when their last one comes. Memory is thus bounded by that budget, the
index (about 150 bytes per trace id) and the largest single trace.

Every loader takes ``format=`` to read with one registered format (``FORMATS``) instead
of detecting it; an unknown name is a ``UsageError`` listing the registered ones.

Every input either loads or raises :class:`~ace.errors.TraceFormatError` whose message
names the file, line or item and what was expected. Evaluation labels
(``DEFAULT_LABEL_KEYS`` plus ``extra_label_keys``) are always removed from the trace; the
``labelled`` variants return them beside it.
"""

from __future__ import annotations

import errno
import gc
import logging
import os
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from pydantic import JsonValue, ValidationError

from ace.errors import TraceFormatError
from ace.traces._files import (
    JSONL_SUFFIXES,
    first_line_value,
    jsonl_blocks,
    jsonl_lines,
    looks_like_path,
    parse_documents,
    parse_line,
    read_documents,
    trace_files,
)
from ace.traces._json import as_json, content_hash, describe
from ace.traces.formats import REGISTRY, TraceFormat, find_format, get_format, otel, parse
from ace.traces.labels import DEFAULT_LABEL_KEYS, TraceLabels, scrub_labels, split_labels
from ace.traces.schema import LabelledTrace, Trace, TraceSource

logger = logging.getLogger("ace.traces")


def load_trace(
    obj: object,
    *,
    source: TraceSource | None = None,
    extra_label_keys: Iterable[str] = (),
    format: str | None = None,
) -> Trace:
    """One trace, label-free, ready for a reflector. ``format`` names the format to read
    it with (one of ``FORMATS``) instead of detecting it."""
    return load_labelled_trace(
        obj, source=source, extra_label_keys=extra_label_keys, format=format
    ).trace


def load_labelled_trace(
    obj: object,
    *,
    source: TraceSource | None = None,
    extra_label_keys: Iterable[str] = (),
    format: str | None = None,
) -> LabelledTrace:
    """One trace and, held apart, the evaluation labels its record carried."""
    forced = get_format(format) if format is not None else None
    if isinstance(obj, Trace):
        return LabelledTrace(trace=obj, labels=TraceLabels())
    keys = DEFAULT_LABEL_KEYS | frozenset(extra_label_keys)
    with _located(source):
        return _build(as_json(obj), source, keys, forced)


def load_traces(
    obj_or_path: object, *, extra_label_keys: Iterable[str] = (), format: str | None = None
) -> list[Trace]:
    """Every trace in a batch, file or directory (a single trace gives a list of one)."""
    loaded = load_labelled_traces(obj_or_path, extra_label_keys=extra_label_keys, format=format)
    return [item.trace for item in loaded]


def load_labelled_traces(
    obj_or_path: object, *, extra_label_keys: Iterable[str] = (), format: str | None = None
) -> list[LabelledTrace]:
    """Like :func:`load_traces`, with each trace's labels.

    A Python list or tuple is one trace per element (as in the established API), each
    element read by the format rules; a file follows the file rules (a JSON list in a file
    may be one conversation, and so may a JSONL file whose every line is a message).
    Already normalised ``Trace`` objects pass through unchanged. A path (any
    ``os.PathLike``, or a string `looks_like_path`) that does not exist is a
    ``FileNotFoundError`` naming it. ``format`` (one of ``FORMATS``) reads every document
    with that format instead of detecting it; an unknown name is a ``UsageError``.
    """
    forced = get_format(format) if format is not None else None
    keys = DEFAULT_LABEL_KEYS | frozenset(extra_label_keys)
    if isinstance(obj_or_path, Trace):
        return [LabelledTrace(trace=obj_or_path, labels=TraceLabels())]
    if isinstance(obj_or_path, list | tuple):
        return _one_per_element(obj_or_path, keys, forced)
    if isinstance(obj_or_path, os.PathLike) or (
        isinstance(obj_or_path, str) and looks_like_path(obj_or_path)
    ):
        path = Path(obj_or_path)
        if not path.exists():
            raise FileNotFoundError(errno.ENOENT, f"trace file {path} does not exist", str(path))
        loaded: list[LabelledTrace] = []
        for file in trace_files(path):
            loaded += _file_traces(file, keys, forced)
        return loaded
    with _located(None):
        value = as_json(obj_or_path)
    return _expand(value, None, keys, forced)


def iter_labelled_traces(
    obj_or_path: object, *, extra_label_keys: Iterable[str] = (), format: str | None = None
) -> Iterator[LabelledTrace]:
    """:func:`load_labelled_traces` one trace at a time, in the same order.

    A path is read file by file; an OpenTelemetry JSONL file trace by trace, in memory
    bounded by ``OTEL_BUFFER_BYTES`` and its largest trace (see the module's notes). A
    file that turns out not to be a trace raises once its traces so far have been given.
    Anything else is loaded as by :func:`load_labelled_traces`.
    """
    forced = get_format(format) if format is not None else None
    keys = DEFAULT_LABEL_KEYS | frozenset(extra_label_keys)
    if isinstance(obj_or_path, os.PathLike) or (
        isinstance(obj_or_path, str) and looks_like_path(obj_or_path)
    ):
        path = Path(obj_or_path)
        if not path.exists():
            raise FileNotFoundError(errno.ENOENT, f"trace file {path} does not exist", str(path))
        for file in trace_files(path):
            yield from _file_traces(file, keys, forced)
        return
    yield from load_labelled_traces(obj_or_path, extra_label_keys=extra_label_keys, format=format)


OTEL_BUFFER_BYTES = 32 * 1024 * 1024
"""How many bytes of lines the open traces of an OpenTelemetry JSONL file may hold before
the ones ending last are dropped (to be read again when they end)."""

_ESCAPED_LETTER = re.compile(rb"\\u00(?:[46][1-9a-fA-F]|[57][0-9aA]|5[fF])")
"""A ``\\u`` escape of an ASCII letter or ``_``: a key spelled so may be a label key."""


def _file_traces(
    file: Path, keys: frozenset[str], forced: TraceFormat | None
) -> Iterator[LabelledTrace]:
    """One file's traces: an OpenTelemetry JSONL streamed, anything else read whole."""
    if file.suffix.lower() in JSONL_SUFFIXES and forced in (None, otel.FORMAT):
        first = first_line_value(file)
        if first is not None and otel.is_document(first):
            yield from _otel_file(file, keys, OTEL_BUFFER_BYTES)
            return
    yield from _from_documents(file, read_documents(file), keys, forced)


def _otel_file(file: Path, keys: frozenset[str], budget: int) -> Iterator[LabelledTrace]:
    """The traces of an OpenTelemetry JSONL file, each as soon as its last line is read."""
    with _gc_paused():
        index = _otel_index(file)
    numbered = len(index) != 1
    reader = otel.SpanReader()
    open_spans: dict[str, list[otel.Span]] = {}
    held: dict[str, int] = {}
    total = 0
    dropped: set[str] = set()
    given = 0
    for number, _, line in jsonl_lines(file):
        ready: list[LabelledTrace] = []
        with _gc_paused():
            spans = _otel_line(reader, line, file, number, keys)
            share = len(line) // max(len(spans), 1)
            by_trace = otel.group(spans)  # in the order of their last span on this line
            for trace_id, found in by_trace:
                if trace_id not in dropped:
                    open_spans.setdefault(trace_id, []).extend(found)
                    held[trace_id] = held.get(trace_id, 0) + share * len(found)
                    total += share * len(found)
            for trace_id, _ in by_trace:
                entry = index.get(trace_id)
                if entry is None or entry[2] != number:
                    continue
                total -= held.pop(trace_id, 0)
                if trace_id in dropped:
                    dropped.discard(trace_id)
                    found = _otel_reread(file, trace_id, entry, keys)
                else:
                    found = open_spans.pop(trace_id)
                ready.append(_otel_trace(file, trace_id, found, given if numbered else None))
                given += 1
            if total > budget:
                total = _drop_latest(index, open_spans, held, dropped, total, budget // 2)
        yield from ready
    # traces whose last line the first pass placed elsewhere (an id escaped in the JSON,
    # or a link to the trace on a later line)
    with _gc_paused():
        rest = otel.group(span for spans in open_spans.values() for span in spans)
        for trace_id in sorted(dropped, key=lambda t: index[t][2]):
            rest.append((trace_id, _otel_reread(file, trace_id, index[trace_id], keys)))
    for trace_id, found in rest:
        if found:
            yield _otel_trace(file, trace_id, found, given if numbered else None)
            given += 1
    if given == 0:
        raise TraceFormatError(_no_steps(file, []))


def _drop_latest(
    index: dict[str, list[int]],
    open_spans: dict[str, list[otel.Span]],
    held: dict[str, int],
    dropped: set[str],
    total: int,
    target: int,
) -> int:
    """Drop the open traces that end last until they hold at most ``target`` bytes."""
    for trace_id in sorted(held, key=lambda t: index[t][2] if t in index else 0, reverse=True):
        dropped.add(trace_id)
        open_spans.pop(trace_id, None)
        total -= held.pop(trace_id)
        if total <= target:
            break
    return total


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a line's spans are read and traces built.

    What is built holds no reference cycles (reference counting frees it); the many
    objects of the open traces would otherwise be scanned again and again, about a
    seventh of the time of reading a big file. Never paused across a ``yield``.
    """
    paused = gc.isenabled()
    if paused:
        gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


def _otel_index(file: Path) -> dict[str, list[int]]:
    """Per trace id: the byte offset and number of its first line, and its last line.

    Read a block of lines at a time, each line searched in place (not copied out)."""
    index: dict[str, list[int]] = {}
    number = 1
    for block in jsonl_blocks(file):
        data, end, start = block.data, block.end, 0
        while start < end:
            stop = data.find(b"\n", start, end) + 1 or end
            for trace_id in otel.trace_ids_in(data, start, stop):
                entry = index.get(trace_id)
                if entry is None:
                    index[trace_id] = [block.offset + start, number, number]
                else:
                    entry[2] = number
            start = stop
            number += 1
    return index


def _otel_line(
    reader: otel.SpanReader,
    line: bytes | memoryview,
    file: Path,
    number: int,
    keys: frozenset[str],
) -> list[otel.Span]:
    """The spans of one line (label keys taken out, as a file read whole would have them)."""
    spans = reader.line_spans(line, keys)
    if spans is not None:
        return spans
    value = parse_line(line, file, number)
    spans = reader.export_spans(value, keys)
    if spans is not None:
        return spans
    if _may_hold_labels(line, keys):
        value = scrub_labels(value, keys)
    if not otel.is_document(value):
        raise TraceFormatError(
            f"trace file {file} line {number}: expected an OTLP export or a span, as on the "
            f"file's first line, got {describe(value)}"
        )
    with _located(TraceSource(path=str(file), line=number)):
        return list(reader.spans(value))


def _may_hold_labels(line: bytes | memoryview, keys: frozenset[str]) -> bool:
    """Whether a label key may be a key of the line's JSON: its quoted name is there, or an
    escape that could spell one. Cheap (no parsing), and never wrong when it says no."""
    return bool(_quoted(keys).search(line) or _ESCAPED_LETTER.search(line))


@lru_cache(maxsize=16)
def _quoted(keys: frozenset[str]) -> re.Pattern[bytes]:
    """One pattern for all the quoted keys (one scan of a line, not one per key)."""
    names = sorted(re.escape(key.encode()) for key in keys)
    return re.compile(b'"(?:' + b"|".join(names) + b')"')


def _otel_reread(
    file: Path, trace_id: str, entry: list[int], keys: frozenset[str]
) -> list[otel.Span]:
    """The spans of a trace dropped from memory, read again from its first line."""
    reader = otel.SpanReader()
    found: list[otel.Span] = []
    for number, _, line in jsonl_lines(file, start=entry[0], number=entry[1], last=entry[2]):
        if trace_id in otel.trace_ids_in(line):
            spans = _otel_line(reader, line, file, number, keys)
            found += [span for span in spans if span.trace_id == trace_id]
    return found


def _otel_trace(
    file: Path, trace_id: str, spans: list[otel.Span], index: int | None
) -> LabelledTrace:
    """A trace of an OpenTelemetry file. Built without validating ``raw`` again: the
    ``otel`` reader made it, of JSON values only, with every label key left out (the
    schema's checks would walk it all once more, a third of the time of a big file)."""
    source = TraceSource(path=str(file), index=index)
    with _located(source):
        parsed = otel.parse_spans(trace_id, spans)
        trace = Trace.model_construct(
            id=trace_id,
            format=parsed.format,
            source=source,
            steps=parsed.steps,
            raw=parsed.raw,
            **parsed.fields,
        )
    return LabelledTrace.model_construct(trace=trace, labels=TraceLabels())


def load_labelled_bytes(
    data: bytes,
    *,
    name: str = "<stdin>",
    extra_label_keys: Iterable[str] = (),
    format: str | None = None,
) -> list[LabelledTrace]:
    """The traces of a file's content read from elsewhere (standard input), by the rules
    of a file without a known suffix: a JSON document, else JSONL, else a plain-text log.
    ``name`` stands for the path in sources, ids and errors."""
    forced = get_format(format) if format is not None else None
    keys = DEFAULT_LABEL_KEYS | frozenset(extra_label_keys)
    where = Path(name)
    return _from_documents(where, parse_documents(data, where), keys, forced)


def _accepted() -> str:
    return "; ".join(f"{fmt.name}: {fmt.accepts}" for fmt in REGISTRY)


ACCEPTED = _accepted()
"""Every registered format with what it reads, for messages about files that are not traces."""


def _from_documents(
    file: Path,
    documents: list[tuple[JsonValue, int | None]],
    keys: frozenset[str],
    forced: TraceFormat | None,
) -> list[LabelledTrace]:
    loaded: list[LabelledTrace] = []
    for document, line in documents:
        loaded += _expand(document, TraceSource(path=str(file), line=line), keys, forced)
    if not any(item.trace.steps for item in loaded):
        raise TraceFormatError(_no_steps(file, loaded))
    return loaded


def _no_steps(file: Path, loaded: list[LabelledTrace]) -> str:
    formats = sorted({item.trace.format for item in loaded}) or ["nothing"]
    return (
        f"{file}: no trace steps found (it read as {', '.join(formats)}); is it a trace? "
        f"The formats tried, in order: {ACCEPTED}"
    )


def _one_per_element(
    items: list[object] | tuple[object, ...], keys: frozenset[str], forced: TraceFormat | None
) -> list[LabelledTrace]:
    messages = sum(1 for item in items if isinstance(item, dict) and "role" in item)
    if messages > 1:
        logger.warning(
            "load_traces: a list of %d message dicts is read as %d traces, one per element; "
            "to pass one conversation, wrap it: load_traces([messages]) or {'messages': messages}",
            len(items),
            len(items),
        )
    loaded: list[LabelledTrace] = []
    for index, item in enumerate(items):
        if isinstance(item, Trace):
            loaded.append(LabelledTrace(trace=item, labels=TraceLabels()))
            continue
        source = TraceSource(index=index)
        with _located(source):
            value = as_json(item)
        loaded.append(_one(value, source, keys, forced))
    return loaded


def load_trace_file(
    path: str | os.PathLike[str],
    *,
    extra_label_keys: Iterable[str] = (),
    format: str | None = None,
) -> Trace:
    """The one trace a file holds; a file with several is an error (use load_traces)."""
    traces = load_traces(Path(path), extra_label_keys=extra_label_keys, format=format)
    if len(traces) != 1:
        raise TraceFormatError(
            f"trace file {path}: expected one trace, found {len(traces)}; use load_traces"
        )
    return traces[0]


def _expand(
    value: JsonValue, base: TraceSource | None, keys: frozenset[str], forced: TraceFormat | None
) -> list[LabelledTrace]:
    """A value that may hold several traces (a batch, a benchmark's results) as its traces."""
    fmt = forced or find_format(value)
    with _located(base):
        items = fmt.split(value) if fmt.split is not None else None
    if items is None:
        return [_one(value, base, keys, forced)]
    item_format = None if fmt.items_detected else fmt
    located = [
        (base.model_copy(update={"index": i}) if base else TraceSource(index=i))
        for i in range(len(items))
    ]
    return [
        _one(item, source, keys, item_format) for item, source in zip(items, located, strict=True)
    ]


def _one(
    value: JsonValue, source: TraceSource | None, keys: frozenset[str], forced: TraceFormat | None
) -> LabelledTrace:
    with _located(source):
        return _build(value, source, keys, forced)


def _build(
    value: JsonValue, source: TraceSource | None, keys: frozenset[str], forced: TraceFormat | None
) -> LabelledTrace:
    labels = TraceLabels()
    if isinstance(value, dict):
        value, labels = split_labels(value, keys)
    else:
        value = scrub_labels(value, keys)
    parsed = parse(value, forced)
    if parsed.labels:
        labels = labels.model_copy(update={"other": {**labels.other, **parsed.labels}})
    trace = Trace(
        id=parsed.record_id or _source_id(source) or content_hash(parsed.raw),
        format=parsed.format,
        source=source,
        steps=parsed.steps,
        raw=parsed.raw,
        **parsed.fields,
    )
    return LabelledTrace(trace=trace, labels=labels)


def _source_id(source: TraceSource | None) -> str | None:
    if source is None or source.path is None:
        return None
    name = Path(source.path).name
    line = f":{source.line}" if source.line is not None else ""
    index = f"#{source.index}" if source.index is not None else ""
    return f"{name}{line}{index}"


@contextmanager
def _located(source: TraceSource | None) -> Iterator[None]:
    """Prefix any trace error with where the trace came from; no other error escapes."""
    where = (source or TraceSource()).describe()
    try:
        yield
    except TraceFormatError as exc:
        raise TraceFormatError(f"{where}: {exc}") from exc
    except RecursionError:
        raise TraceFormatError(f"{where}: expected JSON nested less deeply") from None
    except ValidationError as exc:
        raise TraceFormatError(f"{where}: does not fit the trace schema: {exc}") from exc
