"""One standalone HTML page per transcript: no scripts, no network, untrusted text escaped.

Jinja2 autoescaping escapes every value; the only markup inserted unescaped is
pygments' highlighting of the (cleaned) code, which pygments itself escapes. The page
carries a Content-Security-Policy that forbids scripts, frames, fonts, forms and any
fetch, so even a rendering bug cannot make it run code or reach the network.

The page opens with the verdict card (``verdict.py``) and, when the trace is given,
its timeline (``timeline.py``, inline SVG drawn on the host), then every iteration.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ace.rr.transcript import Iteration, Transcript
from ace.viewer._facts import final_status, iteration_cost, iteration_tokens, session_facts
from ace.viewer._sanitize import clean_text, clean_value

if TYPE_CHECKING:
    from ace.traces import Trace, TraceLabels

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "base-uri 'none'; form-action 'none'"
)
"""No scripts, no fetches, no frames: only the page's own inline styles."""


@dataclass(frozen=True)
class _IterationView:
    i: Iteration
    code_html: str
    tokens: int
    cost: float | None
    status: str | None


def render_html(
    transcript: Transcript, *, trace: Trace | None = None, labels: TraceLabels | None = None
) -> str:
    """The transcript as one self-contained HTML document.

    ``trace`` (the trace the session analysed) adds its timeline with the attributed
    step marked; ``labels`` (its evaluation labels) add the label to the verdict card,
    marked as matching the attribution or not.
    """
    from ace.viewer._page import render_page
    from ace.viewer.timeline import build_timeline
    from ace.viewer.verdict import verdict_of

    verdict = verdict_of(transcript, labels)
    timeline = build_timeline(trace, highlight=verdict.step) if trace is not None else None
    return render_page(
        "transcript.html.j2",
        t=transcript,
        verdict=verdict,
        timeline=timeline,
        step_links=timeline is not None and verdict.step == timeline.highlight,
        facts=session_facts(transcript),
        iterations=[_view(it) for it in transcript.iterations],
        final_json=(
            json.dumps(clean_value(transcript.final), indent=2, default=str, ensure_ascii=False)
            if transcript.final is not None
            else ""
        ),
        isolation=clean_text(json.dumps(transcript.isolation, indent=2, default=str)),
    )


def write_html(
    transcript: Transcript,
    path: str | os.PathLike[str],
    *,
    trace: Trace | None = None,
    labels: TraceLabels | None = None,
) -> Path:
    """Render and write the page; returns its path."""
    from ace.viewer._page import write_page

    return write_page(render_html(transcript, trace=trace, labels=labels), path)


def _view(iteration: Iteration) -> _IterationView:
    return _IterationView(
        i=iteration,
        code_html=highlight_python(iteration.code) if iteration.code else "",
        tokens=iteration_tokens(iteration),
        cost=iteration_cost(iteration),
        status=final_status(iteration),
    )


def highlight_python(code: str) -> str:
    """Python code as inline-styled HTML (pygments escapes the code)."""
    from pygments import highlight  # type: ignore[import-untyped]
    from pygments.formatters import HtmlFormatter  # type: ignore[import-untyped]
    from pygments.lexers import PythonLexer  # type: ignore[import-untyped]

    formatter = HtmlFormatter(noclasses=True, linenos=False, wrapcode=True, nobackground=True)
    return str(highlight(clean_text(code), PythonLexer(), formatter))
