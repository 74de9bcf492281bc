"""Viewing RR sessions, traces and evaluations: in the terminal (rich) and as standalone
HTML pages.

Pages: a transcript (verdict card, the trace's timeline when given, every iteration;
``html.py``), one trace's timeline (``trace_page.py``) and an evaluation report comparing
results files (``eval_report.py``). Untrusted text (model replies, cell output, trace
content) is stripped of terminal escape sequences and control characters before it is
shown, and HTML-escaped on the pages, whose Content-Security-Policy allows no scripts and
no network; charts and timelines are inline SVG drawn on the host.
"""

from __future__ import annotations

from ace.viewer._sanitize import clean_text, shorten
from ace.viewer.eval_report import load_report, render_eval_html, write_eval_html
from ace.viewer.html import CONTENT_SECURITY_POLICY, render_html, write_html
from ace.viewer.terminal import make_console, print_reflection, print_transcript
from ace.viewer.terminal_cards import print_timeline, print_verdict
from ace.viewer.timeline import Timeline, build_timeline
from ace.viewer.trace_page import render_trace_html, write_trace_html
from ace.viewer.verdict import Verdict, verdict_of

__all__ = [
    "CONTENT_SECURITY_POLICY",
    "Timeline",
    "Verdict",
    "build_timeline",
    "clean_text",
    "load_report",
    "make_console",
    "print_reflection",
    "print_timeline",
    "print_transcript",
    "print_verdict",
    "render_eval_html",
    "render_html",
    "render_trace_html",
    "shorten",
    "verdict_of",
    "write_eval_html",
    "write_html",
    "write_trace_html",
]
