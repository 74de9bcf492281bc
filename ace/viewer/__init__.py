"""Viewing RR transcripts: in the terminal (rich) and as one standalone HTML page.

Untrusted text (model replies, cell output, trace content) is stripped of terminal
escape sequences and control characters before it is shown, and HTML-escaped on the
page, whose Content-Security-Policy allows no scripts and no network.
"""

from __future__ import annotations

from ace.viewer._sanitize import clean_text, shorten
from ace.viewer.html import CONTENT_SECURITY_POLICY, render_html, write_html
from ace.viewer.terminal import make_console, print_reflection, print_transcript

__all__ = [
    "CONTENT_SECURITY_POLICY",
    "clean_text",
    "make_console",
    "print_reflection",
    "print_transcript",
    "render_html",
    "shorten",
    "write_html",
]
