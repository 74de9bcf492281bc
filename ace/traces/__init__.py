"""Trace loaders: many source formats in, one normalised, label-free :class:`Trace` out.

Accepted (one module per format in ``ace.traces.formats``, tried in a fixed order):
ACE's own normalised traces, tau2-bench and tau-bench result files (one trace per run),
ACE ``{question, ground_truth, feedback, steps}`` dicts, OpenAI-style message lists (tool
calls and results), Who&When records (``history``), LangChain-style ``(action,
observation)`` pairs, plain-text logs, and batches (lists of records or ``{"tasks":
[...]}``). Any other JSON value is accepted as-is (format ``json``: no steps, the value
kept in ``raw``). Files: JSON, text, or JSONL, where a file whose every line is a message
is one conversation and any other JSONL is one trace per line. ``format=`` on every
loader forces one format instead of detecting it.

Evaluation labels never reach a reflector: the loaders remove them (at every depth,
including the kept ``raw``) before a :class:`Trace` is built, a ``Trace`` refuses a ``raw``
holding one, and the ``labelled`` loaders return them beside the trace in a
:class:`LabelledTrace`; formats add their own (tau-bench's ``reward``, ...). Malformed
input raises :class:`~ace.errors.TraceFormatError` naming the file, line or item and what
was expected.

Importing this package loads pydantic and orjson only.
"""

from ace.traces.formats import FORMATS, detect_format
from ace.traces.labels import DEFAULT_LABEL_KEYS, OUTCOME_KEYS, TraceLabels
from ace.traces.load import (
    load_labelled_trace,
    load_labelled_traces,
    load_trace,
    load_trace_file,
    load_traces,
)
from ace.traces.schema import LabelledTrace, ToolCall, ToolResult, Trace, TraceSource, TraceStep

__all__ = [
    "DEFAULT_LABEL_KEYS",
    "FORMATS",
    "OUTCOME_KEYS",
    "LabelledTrace",
    "ToolCall",
    "ToolResult",
    "Trace",
    "TraceLabels",
    "TraceSource",
    "TraceStep",
    "detect_format",
    "load_labelled_trace",
    "load_labelled_traces",
    "load_trace",
    "load_trace_file",
    "load_traces",
]
