"""PersistStep: write the skillbook to a target file after every sample."""

from __future__ import annotations

import os

from ace.pipeline.context import ACEStepContext
from ace.skillbook import Skillbook
from ace.steps._order import path_and_skillbook


class PersistStep:
    """Saves the skillbook to ``target_path`` after each sample, atomically.

    The format follows the file's suffix: ``.md``/``.markdown`` get the Markdown
    rendering (``skillbook_markdown``, e.g. for a project's notes file), anything else the
    skillbook JSON (``Skillbook.save``). Unlike ``CheckpointStep`` it keeps one file,
    always current. Built with the real Skillbook, like ``ApplyStep``.
    """

    requires = frozenset({"skillbook"})
    provides: frozenset[str] = frozenset()

    def __init__(
        self,
        target_path: str | os.PathLike[str] | Skillbook,
        skillbook: Skillbook | str | os.PathLike[str],
    ) -> None:
        path, book = path_and_skillbook(target_path, skillbook, "PersistStep")
        self.target_path = path
        self.skillbook = book

    def __call__(self, ctx: ACEStepContext) -> ACEStepContext:
        """Write the current skillbook; the context passes through unchanged."""
        if self.target_path.suffix.lower() in {".md", ".markdown"}:
            from ace.steps.export_markdown import skillbook_markdown, write_text_atomic

            write_text_atomic(self.target_path, skillbook_markdown(self.skillbook))
        else:
            self.skillbook.save(self.target_path)
        return ctx
