"""Making untrusted text safe to show: no terminal escape sequences, no control bytes.

Transcripts hold text that a model or traced agent wrote; printed raw, an escape
sequence could move the cursor, retitle the window, hide lines or plant hyperlinks
(OSC 8). ``clean_text`` removes CSI/OSC/DCS/other ESC sequences, C1 controls, C0
controls other than tab and newline, DEL, and Unicode bidirectional overrides
(which can make shown code differ from the code that ran).
"""

from __future__ import annotations

import re

_ESCAPE_SEQUENCES = re.compile(
    r"""
      \x1b\[ [0-?]* [ -/]* [@-~]?              # CSI ... final byte
    | \x1b\] .*? (?: \x07 | \x1b\\ | $ )        # OSC ... BEL or ST (or end of text)
    | \x1b [PX^_] .*? (?: \x1b\\ | $ )          # DCS, SOS, PM, APC ... ST
    | \x1b [ -/]* [0-~]?                        # other escapes (charset, keypad, ...)
    | \x9b [0-?]* [ -/]* [@-~]?                 # 8-bit CSI
    | [\x9d\x90\x98\x9e\x9f] .*? (?: \x07 | \x9c | \x1b\\ | $ )   # 8-bit OSC/DCS/SOS/PM/APC
    """,
    re.VERBOSE | re.DOTALL,
)
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def clean_text(text: str) -> str:
    """``text`` without escape sequences or control characters (tab and newline kept).

    A carriage return becomes a newline (``\\r\\n`` one newline), so a line cannot be
    overwritten on screen.
    """
    text = _ESCAPE_SEQUENCES.sub("", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROLS.sub("", text)


def clean_value(value: object) -> object:
    """A JSON-like value with every string in it (keys too) passed through ``clean_text``."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(str(k)): clean_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_value(item) for item in value]
    return value


def shorten(text: str, max_chars: int) -> str:
    """``text`` cut to ``max_chars`` with a marker saying how much was left out."""
    if len(text) <= max_chars:
        return text
    return f"{text[:max_chars]}\n… [{len(text) - max_chars:,} more characters not shown]"
