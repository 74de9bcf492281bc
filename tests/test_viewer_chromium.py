"""The HTML view in a real browser: headless Chromium shows every iteration."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from _cli_support import HOSTILE, sample_transcript
from conftest import skip_missing_system_package

from ace.viewer import write_html

pytestmark = [pytest.mark.slow, pytest.mark.needs_system("chromium")]


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        skip_missing_system_package("chromium", "renders the HTML transcript")
    assert found is not None
    return found


def _headless(chromium: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
            "--disable-background-networking",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_chromium_renders_every_iteration_and_runs_no_script(tmp_path: Path) -> None:
    chromium = _chromium()
    transcript = sample_transcript(6, text=HOSTILE)
    page = write_html(transcript, tmp_path / "t.html")
    dom = _headless(chromium, "--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    sections = re.findall(r'<section class="iteration" id="iteration-(\d+)"', dom.stdout)
    assert sections == [str(i) for i in range(1, 7)]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom.stdout
    assert "<script" not in dom.stdout.lower()

    shot = tmp_path / "t.png"
    result = _headless(chromium, f"--screenshot={shot}", "--window-size=1200,1600", page.as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    assert shot.stat().st_size > 10_000
