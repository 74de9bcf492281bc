"""The one Jinja2 environment every page is rendered with, and writing a page to disk.

Autoescaping is on and undefined names are errors; templates live in ``templates/`` and
share ``_style.css.j2``. Every page carries the same Content-Security-Policy (in
``html.py``), so a page that shows trace text can neither run a script nor fetch.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jinja2


@cache
def environment() -> jinja2.Environment:
    """The shared environment (built once, on first use: jinja2 loads lazily)."""
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("ace.viewer", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_page(template: str, **values: Any) -> str:
    """Render ``template`` with the page's security policy and shared helpers."""
    from ace.viewer._facts import money
    from ace.viewer._sanitize import clean_text
    from ace.viewer.html import CONTENT_SECURITY_POLICY

    return (
        environment()
        .get_template(template)
        .render(csp=CONTENT_SECURITY_POLICY, money=money, clean=clean_text, **values)
    )


def write_page(text: str, path: str | os.PathLike[str]) -> Path:
    """Write a rendered page (its folder made when missing); returns its path."""
    file = Path(path)
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(text, encoding="utf-8")
    return file
