"""``ace.toml`` (models per role, committable) and ``.env`` (API keys, never committed).

``ace.toml`` is found in the working directory or its parents (``ACE_CONFIG`` names a
file directly); the ``.env`` read is the one beside it, else the working directory's.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from pathlib import Path
from typing import Any

from ace._files import atomic_write
from ace.config.models import ACEModelConfig
from ace.errors import ConfigurationError

CONFIG_FILENAME = "ace.toml"
ENV_FILENAME = ".env"
CONFIG_ENV_VAR = "ACE_CONFIG"
"""An explicit path to the ``ace.toml`` to use."""

_ENV_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")


def find_config(start: str | os.PathLike[str] | None = None) -> Path | None:
    """``$ACE_CONFIG``, else the nearest ``ace.toml`` in ``start`` (default: cwd) or a parent."""
    explicit = os.environ.get(CONFIG_ENV_VAR)
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise FileNotFoundError(2, f"{CONFIG_ENV_VAR} names no file", str(path))
        return path
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / CONFIG_FILENAME
        if candidate.is_file():
            return candidate
    return None


def load_config(path: str | os.PathLike[str]) -> ACEModelConfig:
    """Read an ``ace.toml`` (or the one in a directory); a bad file names line and key."""
    file = Path(path)
    if file.is_dir():
        file = file / CONFIG_FILENAME
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(
            f"{file}: not valid TOML ({exc}); fix it or run ace setup"
        ) from None
    return ACEModelConfig.from_dict(data, where=str(file))


def config_text(config: ACEModelConfig) -> str:
    """``config`` as ``ace.toml`` text (strings written as TOML basic strings)."""
    lines = ["# Models per ACE role, written by `ace setup`. No secrets: keys live in .env.", ""]
    for name, table in config.to_dict().items():
        lines.append(f"[{name}]")
        for key, value in table.items():
            lines.append(f"{key} = {_toml(value)}")
        lines.append("")
    return "\n".join(lines)


def save_config(config: ACEModelConfig, directory: str | os.PathLike[str] = ".") -> Path:
    """Write ``ace.toml`` into ``directory`` atomically; returns its path."""
    return atomic_write(Path(directory) / CONFIG_FILENAME, config_text(config))


def read_dotenv(path: str | os.PathLike[str]) -> dict[str, str]:
    """``KEY=VALUE`` lines of a ``.env`` (``export``, quotes and ``#`` comments allowed)."""
    values: dict[str, str] = {}
    file = Path(path)
    if not file.is_file():
        return values
    for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _ENV_LINE.match(line)
        if match is None:
            raise ConfigurationError(f"{file}:{number}: expected KEY=VALUE")
        key, raw = match.groups()
        values[key] = _unquote(raw)
    return values


def load_dotenv(path: str | os.PathLike[str] | None = None) -> dict[str, str]:
    """Put the ``.env`` values into ``os.environ`` where the environment has none; returns
    what was added (the environment wins over ``.env``)."""
    file = Path(path) if path is not None else dotenv_path(find_config())
    added = {k: v for k, v in read_dotenv(file).items() if k not in os.environ}
    os.environ.update(added)
    return added


def dotenv_path(config_path: Path | None) -> Path:
    """The ``.env`` that goes with ``config_path``: beside it, else in the working directory."""
    return (config_path.parent if config_path is not None else Path.cwd()) / ENV_FILENAME


def write_dotenv(path: str | os.PathLike[str], updates: dict[str, str]) -> Path:
    """Set ``updates`` in the ``.env`` at ``path`` (other lines kept), mode 0600, atomically."""
    file = Path(path)
    for key, value in updates.items():
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise ConfigurationError(f"{key!r} is not a valid environment variable name")
        if "\n" in value or "\r" in value:
            raise ConfigurationError(f"the value for {key} has a line break")
    lines = file.read_text(encoding="utf-8").splitlines() if file.is_file() else []
    pending = dict(updates)
    out = []
    for line in lines:
        match = _ENV_LINE.match(line)
        if match and match.group(1) in pending:
            key = match.group(1)
            out.append(f"{key}={_quote(pending.pop(key))}")
        else:
            out.append(line)
    out += [f"{key}={_quote(value)}" for key, value in pending.items()]
    return atomic_write(file, "\n".join(out) + "\n", mode=0o600)


def _quote(value: str) -> str:
    return json.dumps(value) if re.search(r"[\s#'\"\\$`]", value) or not value else value


def _unquote(raw: str) -> str:
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        try:
            return str(json.loads(raw))
        except json.JSONDecodeError:
            return raw[1:-1]
    if len(raw) >= 2 and raw[0] == raw[-1] == "'":
        return raw[1:-1]
    return raw.split(" #", 1)[0].rstrip()


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    raise ConfigurationError(f"cannot write {value!r} to ace.toml")
