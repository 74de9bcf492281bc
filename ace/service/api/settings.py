"""What an HTTP service allows: sizes, ``k``, ids, rate limits, CORS, and where it may bind.

Nothing here imports FastAPI, so the CLI can check its flags before loading the server.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from ace.errors import ConfigurationError

MIB = 1024 * 1024
PLAYBOOK_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
"""A playbook id over HTTP: 1-128 ASCII letters, digits, ``.``, ``_``, ``:`` or ``-``,
starting with a letter or digit (so no spaces, slashes, quotes or look-alike characters)."""
PLAYBOOK_ID_RULE = (
    "must be 1-128 characters: ASCII letters, digits, '.', '_', ':' or '-', "
    "starting with a letter or digit"
)
JSON_ALLOWANCE = 64 * 1024
"""Bytes a request body may have beyond its text fields (keys, quotes, escapes)."""
LEARN_TEXT_FIELDS = 5
"""Text fields of a learn request besides the trajectory."""


@dataclass(frozen=True)
class ServiceSettings:
    """Limits and options of one HTTP service.

    ``max_trajectory_bytes`` bounds a learn request's ``trajectory`` (UTF-8) and, with five
    times ``max_text_bytes`` for its other fields, the raw body of that route, which is
    refused (413) before it is parsed; every other text field (``prompt``,
    ``user_message``, ``ground_truth``, ``evaluation``, the instructions) is bounded by
    ``max_text_bytes``, a learning-loop steps body by ``max_trajectory_bytes``, and an
    imported skillbook file by ``max_import_bytes``. ``k`` is
    1..``max_k``. ``rate_limit`` is requests per minute per API key (a key's own limit
    replaces it; with no keys configured nothing is rate limited). ``cors_origins`` turns
    CORS on for those origins only (``"*"``: any).
    """

    max_trajectory_bytes: int = 10 * MIB
    max_text_bytes: int = 2 * MIB
    max_import_bytes: int = 32 * MIB
    max_k: int = 100
    rate_limit: int = 600
    cors_origins: tuple[str, ...] = field(default_factory=tuple)
    page_size: int = 100
    """Default (and at most ten times this, the largest) page of ``GET /playbooks``."""

    def __post_init__(self) -> None:
        for name in (
            "max_trajectory_bytes",
            "max_text_bytes",
            "max_import_bytes",
            "max_k",
            "rate_limit",
            "page_size",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigurationError(f"{name} must be an integer >= 1, got {value!r}")
        for origin in self.cors_origins:
            if origin != "*" and not re.fullmatch(r"https?://[^\s/]+", origin):
                raise ConfigurationError(
                    f"CORS origin {origin!r}: expected scheme://host[:port] (e.g. "
                    "https://app.example.com) or *"
                )

    def body_limit(self, path: str) -> int:
        """The largest raw body accepted on ``path``."""
        if path.endswith("/episodes/learn"):
            return (
                self.max_trajectory_bytes + LEARN_TEXT_FIELDS * self.max_text_bytes + JSON_ALLOWANCE
            )
        if path.endswith("/steps"):
            return self.max_trajectory_bytes + JSON_ALLOWANCE
        if path.endswith("/import"):
            return self.max_import_bytes
        return self.max_text_bytes + JSON_ALLOWANCE


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) only accepts local connections."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, *, keys_configured: bool, insecure: bool) -> None:
    """Refuse (``ConfigurationError``) to listen beyond loopback with no API keys, unless
    ``insecure``: anyone who can reach the port could read and change every playbook."""
    if is_loopback(host) or keys_configured or insecure:
        return
    raise ConfigurationError(
        f"refusing to listen on {host} without API keys: anyone who can reach it could read "
        "and change every playbook. Create a key first (ace keys create --tenant T), or pass "
        "--insecure to serve without keys anyway"
    )


def require_http_extra() -> None:
    """Raise ``ConfigurationError`` naming the install command when FastAPI or uvicorn is
    missing (they come with the ``service`` extra)."""
    import importlib.util

    missing = [n for n in ("fastapi", "uvicorn") if importlib.util.find_spec(n) is None]
    if missing:
        raise ConfigurationError(
            f"the ACE HTTP service needs the 'service' extra (missing: {', '.join(missing)}); "
            "install it with: pip install 'ace-rr[service]'"
        )


__all__ = [
    "MIB",
    "PLAYBOOK_ID_PATTERN",
    "PLAYBOOK_ID_RULE",
    "ServiceSettings",
    "check_bind",
    "is_loopback",
    "require_http_extra",
]
