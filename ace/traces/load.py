"""Public loaders: one trace, many traces, files; labels split off on the way.

- :func:`load_trace` / :func:`load_labelled_trace` take one in-memory trace (any JSON
  value; a ``str`` is a plain-text log).
- :func:`load_traces` / :func:`load_labelled_traces` take a batch, a single trace, or a
  path (``os.PathLike``, or a one-line ``str`` ending in a trace suffix or naming an
  existing path; a directory means its trace files in natural order).
- :func:`load_trace_file` reads a file that holds exactly one trace.
- :func:`load_labelled_bytes` reads a file's content from elsewhere (standard input).

Every loader takes ``format=`` to read with one registered format (``FORMATS``) instead
of detecting it; an unknown name is a ``UsageError`` listing the registered ones.

Every input either loads or raises :class:`~ace.errors.TraceFormatError` whose message
names the file, line or item and what was expected. Evaluation labels
(``DEFAULT_LABEL_KEYS`` plus ``extra_label_keys``) are always removed from the trace; the
``labelled`` variants return them beside it.
"""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import JsonValue, ValidationError

from ace.errors import TraceFormatError
from ace.traces._files import looks_like_path, parse_documents, read_documents, trace_files
from ace.traces._json import as_json, content_hash
from ace.traces.formats import REGISTRY, TraceFormat, find_format, get_format, parse
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
            loaded += _from_documents(file, read_documents(file), keys, forced)
        return loaded
    with _located(None):
        value = as_json(obj_or_path)
    return _expand(value, None, keys, forced)


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
