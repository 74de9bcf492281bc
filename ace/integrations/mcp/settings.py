"""What the MCP server may do, from flags and ``ACE_MCP_*`` variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ace.errors import ConfigurationError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigurationError(f"{name}={value!r}: use true or false")


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ConfigurationError(f"{name}={value!r}: expected a whole number") from None
    if number < 1:
        raise ConfigurationError(f"{name}={value!r}: expected a number >= 1")
    return number


@dataclass
class MCPSettings:
    """The server's switches (the established ``ACE_MCP_*`` names where it has them).

    ``safe_mode`` refuses every tool that changes a skillbook or the store (learning,
    load, save, learn_episode); ``allow_save_load`` False refuses save and load only.
    Paths given to tools must resolve (symlinks and ``..`` followed) inside ``roots``.
    """

    model: str | None = None
    """The model of every session; None: the configuration (``ace config``)."""
    safe_mode: bool = False
    allow_save_load: bool = True
    roots: list[Path] = field(default_factory=lambda: [Path.cwd()])
    session_ttl_s: int = 3600
    max_samples_per_call: int = 25
    max_prompt_chars: int = 100_000
    database_url: str | None = None
    """The store behind ``ace.embed_prompt``/``ace.learn_episode`` (default: ``./ace.db``)."""

    @classmethod
    def from_env(cls, **overrides: object) -> MCPSettings:
        """Settings from ``ACE_MCP_SAFE_MODE``, ``ACE_MCP_ALLOW_SAVE_LOAD``,
        ``ACE_MCP_ROOTS`` (paths separated by ``os.pathsep``), ``ACE_MCP_MODEL``,
        ``ACE_MCP_SESSION_TTL_SECONDS``, ``ACE_MCP_MAX_SAMPLES_PER_CALL``,
        ``ACE_MCP_MAX_PROMPT_CHARS`` and ``ACE_MCP_DATABASE_URL``; keyword overrides win."""
        roots = os.environ.get("ACE_MCP_ROOTS")
        settings = cls(
            model=os.environ.get("ACE_MCP_MODEL") or None,
            safe_mode=_flag("ACE_MCP_SAFE_MODE", False),
            allow_save_load=_flag("ACE_MCP_ALLOW_SAVE_LOAD", True),
            roots=[Path(p) for p in roots.split(os.pathsep) if p] if roots else [Path.cwd()],
            session_ttl_s=_int("ACE_MCP_SESSION_TTL_SECONDS", 3600),
            max_samples_per_call=_int("ACE_MCP_MAX_SAMPLES_PER_CALL", 25),
            max_prompt_chars=_int("ACE_MCP_MAX_PROMPT_CHARS", 100_000),
            database_url=os.environ.get("ACE_MCP_DATABASE_URL") or None,
        )
        for key, value in overrides.items():
            if value is not None:
                setattr(settings, key, value)
        settings.roots = [Path(r).expanduser().resolve() for r in settings.roots]
        return settings
