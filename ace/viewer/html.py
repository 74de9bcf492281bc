"""One standalone HTML page per transcript: no scripts, no network, untrusted text escaped.

Jinja2 autoescaping escapes every value; the only markup inserted unescaped is
pygments' highlighting of the (cleaned) code, which pygments itself escapes. The page
carries a Content-Security-Policy that forbids scripts, frames, fonts, forms and any
fetch, so even a rendering bug cannot make it run code or reach the network.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from ace.rr.transcript import Iteration, Transcript
from ace.viewer._facts import final_status, iteration_cost, iteration_tokens, money, session_facts
from ace.viewer._sanitize import clean_text, clean_value

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


def render_html(transcript: Transcript) -> str:
    """The transcript as one self-contained HTML document."""
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("ace.viewer", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    template = environment.get_template("transcript.html.j2")
    return template.render(
        t=transcript,
        csp=CONTENT_SECURITY_POLICY,
        facts=session_facts(transcript),
        iterations=[_view(it) for it in transcript.iterations],
        final_json=(
            json.dumps(clean_value(transcript.final), indent=2, default=str, ensure_ascii=False)
            if transcript.final is not None
            else ""
        ),
        isolation=clean_text(json.dumps(transcript.isolation, indent=2, default=str)),
        money=money,
        clean=clean_text,
    )


def write_html(transcript: Transcript, path: str | os.PathLike[str]) -> Path:
    """Render and write the page; returns its path."""
    file = Path(path)
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(render_html(transcript), encoding="utf-8")
    return file


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
