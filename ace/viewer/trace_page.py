"""The standalone page of one trace (``ace traces show --html``): header and timeline.

When the trace carried an evaluation label, its step is the one marked on the timeline
and the label is shown in the header (the page is for people; labels still never reach
a reflector).
"""

from __future__ import annotations

import os
from pathlib import Path

from ace.traces import Trace, TraceLabels
from ace.viewer._sanitize import clean_text


def render_trace_html(trace: Trace, labels: TraceLabels | None = None) -> str:
    """``trace`` as one self-contained HTML document (same security policy as every page)."""
    from ace.viewer._page import render_page
    from ace.viewer.timeline import build_timeline

    label_step = labels.mistake_step if labels is not None else None
    return render_page(
        "trace.html.j2",
        trace=trace,
        source=clean_text(trace.source.describe()) if trace.source else None,
        question=clean_text(trace.question or ""),
        labels=labels if labels is not None and not labels.is_empty() else None,
        timeline=build_timeline(trace, highlight=label_step),
    )


def write_trace_html(
    trace: Trace, path: str | os.PathLike[str], labels: TraceLabels | None = None
) -> Path:
    """Render and write the trace's page; returns its path."""
    from ace.viewer._page import write_page

    return write_page(render_trace_html(trace, labels), path)
