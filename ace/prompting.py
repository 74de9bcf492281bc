"""Prompt templates: files under ``prompts/`` rendered strictly with Jinja2.

Templates ship inside the wheel as ``ace/prompts``; in a source checkout they are
read from the repository's ``prompts/`` directory. A variable the caller did not
supply is an error (``StrictUndefined``), never an empty string. Templates are read
when rendered, so nothing (such as a date) is frozen at import time.
"""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ace.errors import PromptTemplateError

if TYPE_CHECKING:
    import jinja2


@functools.cache
def prompt_dir() -> Path:
    """The directory holding the prompt templates (installed wheel or source checkout);
    found once per process."""
    installed = resources.files("ace").joinpath("prompts")
    if installed.is_dir():
        return Path(str(installed))
    checkout = Path(__file__).resolve().parent.parent / "prompts"
    if checkout.is_dir():
        return checkout
    raise PromptTemplateError(
        f"prompt templates not found in {installed} or {checkout}; the installation is broken"
    )


def available_prompts() -> list[str]:
    """Names of all shipped templates (file names relative to the prompt directory)."""
    root = prompt_dir()
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.j2"))


@functools.cache
def _environment(root: str) -> jinja2.Environment:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(root),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
        auto_reload=True,
    )


def render_prompt(name: str, /, **variables: Any) -> str:
    """Render template ``name`` (e.g. ``"agent.j2"``) with ``variables``.

    Raises ``PromptTemplateError`` naming the template and the missing variable.
    """
    import jinja2

    env = _environment(str(prompt_dir()))
    try:
        return env.get_template(name).render(**variables)
    except jinja2.TemplateNotFound as exc:
        raise PromptTemplateError(
            f"prompt template {name!r} not found in {prompt_dir()}; "
            f"available: {', '.join(available_prompts())}"
        ) from exc
    except jinja2.UndefinedError as exc:
        raise PromptTemplateError(f"prompt template {name!r}: {exc.message}") from exc
    except jinja2.TemplateSyntaxError as exc:
        raise PromptTemplateError(
            f"prompt template {name!r} line {exc.lineno}: {exc.message}"
        ) from exc


def render_file(path: str | Path, /, **variables: Any) -> str:
    """Render a user-supplied template file with the same strict rules."""
    import jinja2

    file = Path(path)
    try:
        source = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise PromptTemplateError(f"prompt template file {file}: cannot read ({exc})") from exc
    env = _environment(str(prompt_dir()))
    try:
        return env.from_string(source).render(**variables)
    except jinja2.UndefinedError as exc:
        raise PromptTemplateError(f"prompt template file {file}: {exc.message}") from exc
    except jinja2.TemplateSyntaxError as exc:
        raise PromptTemplateError(
            f"prompt template file {file} line {exc.lineno}: {exc.message}"
        ) from exc
