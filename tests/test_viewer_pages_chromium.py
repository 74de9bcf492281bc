"""The three pages in a real browser: headless Chromium at a narrow and a wide window.

Layout is measured by Chromium itself: a copy of each page with a measuring script
added (and its security policy removed, so the script may run) is loaded with
``--dump-dom``; the script writes what it measured into the DOM. The pages as shipped
are screenshot at both widths, and loaded with hostile trace text while a loopback
listener waits for any request the text could make the browser send.
"""

from __future__ import annotations

import html
import json
import re
import socket
import struct
import threading
from pathlib import Path

import pytest
from _cli_support import DATA, HOSTILE, sample_transcript
from test_viewer_chromium import _chromium, _headless
from test_viewer_pages import hostile_trace, synthetic_trace

from ace.eval import EvalReport, RandomReflector, evaluate, score, summarise
from ace.outputs import Attribution
from ace.traces import Trace, TraceLabels, TraceStep, load_labelled_traces
from ace.viewer import write_html
from ace.viewer.eval_report import write_eval_html
from ace.viewer.trace_page import write_trace_html

pytestmark = [pytest.mark.slow, pytest.mark.needs_system("chromium")]

WIDTHS = (500, 1280)
"""A phone-like window (Chromium's headless minimum) and a desktop one."""

_PROBE = """<script>
const cw = document.documentElement.clientWidth;
const out = {iw: innerWidth, cw: cw, sw: document.documentElement.scrollWidth, els: {},
             marks: 0, visibleMarks: 0, bars: 0, overflowing: []};
for (const e of document.querySelectorAll("body *")) {
  if (e.getBoundingClientRect().right <= cw + 0.5) continue;
  let p = e.parentElement, scrolls = false;
  while (p && !scrolls) {
    scrolls = ["auto", "scroll", "hidden"].includes(getComputedStyle(p).overflowX);
    p = p.parentElement;
  }
  if (!scrolls) out.overflowing.push(e.tagName + "." + e.className + "#" + e.id);
}
for (const id of %s) {
  const e = document.getElementById(id);
  if (!e) { out.els[id] = null; continue; }
  const r = e.getBoundingClientRect(), s = getComputedStyle(e);
  out.els[id] = {w: r.width, h: r.height, left: r.left, right: r.right,
                 visibility: s.visibility, display: s.display};
}
for (const m of document.querySelectorAll("rect.mark")) {
  out.marks++;
  const r = m.getBoundingClientRect();
  if (r.width > 0 && r.height > 0) out.visibleMarks++;
}
out.bars = document.querySelectorAll("rect.bar").length;
document.body.setAttribute("data-layout", JSON.stringify(out));
</script>"""


def _pages(tmp_path: Path) -> dict[str, tuple[Path, list[str]]]:
    """Each page and the elements that must be on screen in it."""
    transcript = sample_transcript(4)
    trace = synthetic_trace(40, agents=3)
    page = write_html(
        transcript,
        tmp_path / "transcript.html",
        trace=trace,
        labels=TraceLabels(mistake_agent="WebSurfer", mistake_step=5),
    )
    big = write_trace_html(
        synthetic_trace(5_000, agents=5, text="y" * 300),
        tmp_path / "trace.html",
        TraceLabels(mistake_agent="agent_1", mistake_step=4_321),
    )
    items = load_labelled_traces(DATA / "algorithm_generated")
    runs = [
        ("random-0.json", evaluate(items, RandomReflector(0))),
        ("random-1.json", evaluate(items, RandomReflector(1))),
    ]
    first_id = runs[0][1].results[0].trace_id
    report = write_eval_html(runs, tmp_path / "report.html", [{first_id: "transcript.html"}])
    return {
        "transcript": (
            page,
            ["verdict", "verdict-label", "timeline", "step-5", "iteration-1", "result"],
        ),
        "trace": (big, ["trace-label", "timeline", "step-0", "step-4321"]),
        "report": (
            report,
            ["accuracy", "chart-accuracy", "chart-cost", "chart-time", "run-0", "run-1"],
        ),
    }


def _measure(chromium: str, page: Path, width: int, ids: list[str]) -> dict[str, object]:
    text = page.read_text(encoding="utf-8")
    text = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", text, count=1)
    probe = page.with_name(f"{page.stem}-{width}-probe.html")
    probe.write_text(text.replace("</body>", _PROBE % json.dumps(ids) + "</body>"), "utf-8")
    dom = _headless(chromium, f"--window-size={width},900", "--dump-dom", probe.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    found = re.search(r'data-layout="([^"]*)"', dom.stdout)
    assert found is not None, dom.stdout[-2000:]
    measured: dict[str, object] = json.loads(html.unescape(found.group(1)))
    return measured


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def test_each_page_fits_both_widths_with_its_elements_visible(tmp_path: Path) -> None:
    chromium = _chromium()
    for name, (page, ids) in _pages(tmp_path).items():
        for width in WIDTHS:
            layout = _measure(chromium, page, width, ids)
            where = f"{name} page at {width}px"
            assert layout["iw"] == width, where
            client = layout["cw"]  # the width left beside the vertical scroll bar
            assert isinstance(client, int) and width - 30 < client <= width, (where, client)
            assert layout["sw"] == client, (where, layout["sw"], client)  # no page scrolling
            # Only a box that scrolls on its own (a wide table, a long timeline) may hold
            # something wider than the window.
            assert layout["overflowing"] == [], (where, layout["overflowing"])
            elements = layout["els"]
            assert isinstance(elements, dict)
            for element in ids:
                box = elements[element]
                assert box is not None, f"{where}: #{element} missing"
                assert box["w"] > 0 and box["h"] > 0, (where, element, box)
                assert box["visibility"] == "visible" and box["display"] != "none", (where, box)
                assert box["left"] >= 0 and box["right"] <= client + 0.5, (where, element, box)
            if name != "report":
                assert layout["marks"] == layout["visibleMarks"] > 0, (where, layout)
            if name == "trace":
                assert 0 < int(str(layout["marks"])) <= 300 * 5, layout
            if name == "report":
                assert int(str(layout["bars"])) > 12, layout

            shot = tmp_path / f"{name}-{width}.png"
            taken = _headless(
                chromium, f"--screenshot={shot}", f"--window-size={width},1400", page.as_uri()
            )
            assert taken.returncode == 0, taken.stderr[-2000:]
            assert _png_size(shot) == (width, 1400), where
            assert shot.stat().st_size > 15_000, (where, shot.stat().st_size)


class _Listener:
    """A loopback TCP listener that records the first line of every request it gets."""

    def __init__(self) -> None:
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(16)
        self.server.settimeout(0.2)
        self.port = self.server.getsockname()[1]
        self.requests: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self.server.accept()
            except TimeoutError:
                continue
            with client:
                client.settimeout(2)
                try:
                    data = client.recv(4096)
                except OSError:
                    data = b""
                self.requests.append(data.split(b"\r\n", 1)[0].decode("latin-1"))
                client.sendall(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.server.close()


def _attacks(port: int) -> str:
    base = f"http://127.0.0.1:{port}"
    return (
        f'{HOSTILE} "><img src="{base}/img" onerror="document.title=\'PWNED\'">'
        f"<script>document.title='PWNED';fetch('{base}/fetch')</script>"
        f'<script src="{base}/script.js"></script><link rel="stylesheet" href="{base}/css">'
        f'<iframe src="{base}/frame"></iframe><meta http-equiv="refresh" content="0;url={base}/go">'
        f'<svg><image href="{base}/svgimage"/></svg><div style="background:url({base}/bg)">x</div>'
        f'</title></style></textarea><object data="{base}/object"></object>'
        f"]]><a href=\"javascript:fetch('{base}/js')\">click</a>"
    )


def _hostile_pages(tmp_path: Path, evil: str) -> list[Path]:
    base = hostile_trace()
    trace = Trace(
        id=f"evil {evil}",
        format="ace",
        question=evil,
        steps=[
            *base.steps,
            TraceStep(index=len(base.steps), role="assistant", agent=evil, content=evil),
        ],
    )
    labels = TraceLabels(mistake_agent=evil, mistake_step=1, mistake_reason=evil)
    transcript = sample_transcript(3, text=evil)
    transcript.final = {"key_insight": evil, "attribution": {"agent": evil, "step": 1}}
    result = score(trace.id, Attribution(agent=evil, step=2, reason=evil), labels)
    result = result.model_copy(update={"error": evil, "source": evil})
    report = EvalReport(
        reflector=evil, model=evil, dataset=evil, summary=summarise([result]), results=[result]
    )
    return [
        write_trace_html(trace, tmp_path / "evil-trace.html", labels),
        write_html(transcript, tmp_path / "evil-transcript.html", trace=trace, labels=labels),
        write_eval_html([(evil, report)], tmp_path / "evil-report.html", [{trace.id: evil}]),
    ]


def test_hostile_trace_text_runs_nothing_injects_nothing_and_fetches_nothing(
    tmp_path: Path,
) -> None:
    chromium = _chromium()
    listener = _Listener()
    try:
        # The listener hears a page that does load from it, so its silence below means
        # something.
        control = tmp_path / "control.html"
        control.write_text(
            f'<!DOCTYPE html><img src="http://127.0.0.1:{listener.port}/control">', "utf-8"
        )
        loaded = _headless(chromium, "--virtual-time-budget=3000", "--dump-dom", control.as_uri())
        assert loaded.returncode == 0, loaded.stderr[-2000:]
        assert any("/control" in line for line in listener.requests), listener.requests
        listener.requests.clear()

        for page in _hostile_pages(tmp_path, _attacks(listener.port)):
            dom = _headless(chromium, "--virtual-time-budget=3000", "--dump-dom", page.as_uri())
            assert dom.returncode == 0, dom.stderr[-2000:]
            lowered = dom.stdout.lower()
            for tag in ("<script", "<img", "<iframe", "<object", "<link", "<image"):
                assert tag not in lowered, (page.name, tag)
            assert '<meta http-equiv="refresh"' not in lowered, page.name
            assert not re.search(r"<[a-z][^<>]*\son[a-z]+\s*=", lowered), page.name
            tag_link = r"""<[a-z][^<>]*href\s*=\s*["']?javascript:"""
            assert not re.search(tag_link, lowered), page.name
            assert "&lt;img src=" in dom.stdout, page.name  # shown, as text
            title = re.search(r"<title>(.*?)</title>", dom.stdout, re.S)
            assert title is not None and html.unescape(title.group(1)).strip() != "PWNED"
        assert listener.requests == [], listener.requests
    finally:
        listener.close()
