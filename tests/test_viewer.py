"""Transcript views: everything shown, untrusted text made harmless."""

from __future__ import annotations

import html
import io
import re
from pathlib import Path

from _cli_support import HOSTILE, run_cli, sample_transcript
from hypothesis import given
from hypothesis import strategies as st

from ace.viewer import (
    CONTENT_SECURITY_POLICY,
    clean_text,
    make_console,
    print_transcript,
    render_html,
    shorten,
)

SGR = re.compile(r"\x1b\[[0-9;]*m")


def test_clean_text_removes_escape_sequences_controls_and_bidi() -> None:
    cleaned = clean_text(HOSTILE)
    assert "\x1b" not in cleaned and "\x9b" not in cleaned and "\x00" not in cleaned
    assert "\x07" not in cleaned and "\u202e" not in cleaned and "\r" not in cleaned
    assert "evil title" not in cleaned  # an OSC window title is dropped whole
    assert "http://evil.example/" not in cleaned  # so is an OSC 8 hyperlink target
    assert "red" in cleaned and "link" in cleaned and "<script>" in cleaned
    assert cleaned.endswith("done\nOVER")


def test_clean_text_keeps_ordinary_text() -> None:
    text = "def f(x):\n\treturn {'a': [1, 2]}  # é ü 漢字 🙂"
    assert clean_text(text) == text


@given(st.text())
def test_clean_text_never_leaves_a_control_character(text: str) -> None:
    cleaned = clean_text(text)
    assert all(ch in "\n\t" or (ord(ch) >= 0x20 and not 0x7F <= ord(ch) <= 0x9F) for ch in cleaned)
    assert clean_text(cleaned) == cleaned


def test_shorten_says_how_much_was_cut() -> None:
    assert shorten("abc", 5) == "abc"
    assert shorten("a" * 50, 10).endswith("[40 more characters not shown]")


def _terminal(transcript: object, *, color: bool) -> str:
    buffer = io.StringIO()
    console = make_console(buffer, width=120)
    if color:
        console = type(console)(
            file=buffer,
            width=120,
            force_terminal=True,
            color_system="truecolor",
            highlight=False,
            markup=False,
            emoji=False,
        )
    print_transcript(transcript, console)  # type: ignore[arg-type]
    return buffer.getvalue()


def test_terminal_view_shows_every_iteration_with_code_output_and_subcalls() -> None:
    out = _terminal(sample_transcript(4), color=False)
    for index in range(1, 5):
        assert f"Iteration {index}" in out
        assert f"print('iteration {index}')" in out
    assert "sub-calls (1)" in out and "answer plain output" in out
    assert "NameError" in out and "FINAL accepted" in out
    assert "5/30 calls" in out and "$0.0110" in out
    assert '"agent": "WebSurfer"' in out


def test_terminal_view_passes_no_escape_sequence_from_the_data() -> None:
    transcript = sample_transcript(3, text=HOSTILE)
    plain = _terminal(transcript, color=False)
    assert "\x1b" not in plain and "\x07" not in plain
    assert "[bold]markup[/bold]" in plain  # shown literally, not interpreted as markup
    coloured = _terminal(transcript, color=True)
    # With colour on, the only escapes left are rich's own colour codes (SGR).
    assert "\x1b" not in SGR.sub("", coloured)
    assert "evil title" not in coloured and "evil.example" not in coloured


def test_html_escapes_untrusted_text_and_forbids_scripts() -> None:
    page = render_html(sample_transcript(3, text=HOSTILE))
    assert f'content="{CONTENT_SECURITY_POLICY}"' in html.unescape(page)
    assert "default-src 'none'" in CONTENT_SECURITY_POLICY
    assert "script-src" not in CONTENT_SECURITY_POLICY
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "\x1b" not in page and "\x00" not in page
    assert not re.search(r"""(src|href)\s*=\s*["']?https?:""", page)


def test_html_shows_every_iteration() -> None:
    transcript = sample_transcript(5)
    page = render_html(transcript)
    for index in range(1, 6):
        assert f'id="iteration-{index}"' in page
    assert page.count('class="iteration"') == 6  # five iterations and the result
    assert "answer plain output" in page and "NameError" in page


def test_show_command_prints_and_writes_html(tmp_path: Path) -> None:
    path = sample_transcript(3, text=HOSTILE).save(tmp_path / "t.json")
    shown = run_cli("rr", "show", str(path))
    assert shown.returncode == 0, shown.stderr
    assert "Iteration 3" in shown.stdout and "\x1b" not in shown.stdout
    page = tmp_path / "out" / "t.html"
    written = run_cli("rr", "show", str(path), "--html", str(page))
    assert written.returncode == 0, written.stderr
    assert f"wrote {page}" in written.stdout
    assert 'id="iteration-3"' in page.read_text(encoding="utf-8")
