"""One precedence for every model setting: flags > environment > ``.env`` > ``ace.toml`` > defaults.

``resolve_config`` returns the configuration to run with and, per value, where it came
from; ``ace config`` prints exactly that, and ``ace setup``, ``ace rr analyse`` and
``ACELiteLLM.from_setup`` all resolve through it.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ace.config.files import dotenv_path, find_config, load_config, read_dotenv
from ace.config.keys import key_variables
from ace.config.models import DEFAULT_MODEL, ROLES, ACEModelConfig, ModelConfig

MODEL_VARIABLES = {
    "default": "ACE_MODEL",
    "agent": "ACE_AGENT_MODEL",
    "reflector": "ACE_REFLECTOR_MODEL",
    "skill_manager": "ACE_SKILL_MANAGER_MODEL",
    "subagent": "ACE_SUBAGENT_MODEL",
}
"""The environment (or ``.env``) variable that names each role's model."""


@dataclass(frozen=True)
class Setting:
    """One resolved value and where it came from (``"flag --model"``, ``"default"``, ...)."""

    name: str
    value: str | None
    source: str


@dataclass
class ResolvedConfig:
    """The configuration to run with, and the origin of each model choice and key."""

    config: ACEModelConfig
    settings: list[Setting] = field(default_factory=list)
    config_path: Path | None = None
    env_path: Path | None = None
    dotenv: dict[str, str] = field(default_factory=dict)

    def model_for(self, role: str) -> str:
        """The model string ``role`` runs with."""
        return self.config.for_role(role).model

    def apply_dotenv(self) -> dict[str, str]:
        """Export the ``.env`` values the environment lacks (keys for the models); returns them."""
        added = {k: v for k, v in self.dotenv.items() if k not in os.environ}
        os.environ.update(added)
        return added

    def keys(self) -> list[Setting]:
        """The API key variables the chosen models need: set or not, and where (never the value)."""
        out: list[Setting] = []
        groups = dict.fromkeys(key_variables(self.model_for(role)) for role in ROLES)
        for group in (g for g in groups if g):
            name = " or ".join(group)
            if any(os.environ.get(var) for var in group):
                out.append(Setting(name, "set", "environment"))
            elif any(self.dotenv.get(var) for var in group):
                out.append(Setting(name, "set", f".env ({self.env_path})"))
            else:
                out.append(Setting(name, None, "missing"))
        return out


def resolve_config(
    flags: Mapping[str, str | None] | None = None,
    *,
    start: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> ResolvedConfig:
    """Resolve every role's model; ``flags`` maps a role (or ``"default"``) to a flag value.

    A role's model is, first found: its flag, its ``ACE_<ROLE>_MODEL`` variable in the
    environment, then in ``.env``, its ``ace.toml`` table; then the same for ``default``
    (``--model``, ``ACE_MODEL``, ``[default]``), then ``gpt-4o-mini``. The subagent falls
    back to the reflector's model. Temperature and max_tokens come from ``ace.toml``.
    """
    env = os.environ if environ is None else environ
    given = {k: v for k, v in (flags or {}).items() if v}
    path = find_config(start)
    stored = load_config(path) if path is not None else ACEModelConfig(ModelConfig(DEFAULT_MODEL))
    env_file = dotenv_path(path) if path is not None else Path(start or Path.cwd()) / ".env"
    dotenv = read_dotenv(env_file)
    has_toml_default = path is not None

    def pick(role: str) -> Setting | None:
        variable = MODEL_VARIABLES[role]
        if role in given:
            flag = "--model" if role == "default" else f"--{role.replace('_', '-')}-model"
            return Setting(role, given[role], f"flag {flag}")
        if env.get(variable):
            return Setting(role, env[variable], f"environment {variable}")
        if dotenv.get(variable):
            return Setting(role, dotenv[variable], f".env {variable} ({env_file})")
        own = stored.default if role == "default" else getattr(stored, role)
        if own is not None and (role != "default" or has_toml_default):
            return Setting(role, own.model, f"ace.toml [{role}] ({path})")
        return None

    default = pick("default") or Setting("default", DEFAULT_MODEL, "default")
    settings = [default]
    config = ACEModelConfig(_with_model(stored.default, default.value or DEFAULT_MODEL))
    for role in ROLES:
        chosen = pick(role)
        if chosen is None:
            fallback = "reflector" if role == "subagent" else "default"
            settings.append(Setting(role, config.for_role(fallback).model, f"same as {fallback}"))
            continue
        settings.append(chosen)
        base = getattr(stored, role) or stored.default
        setattr(config, role, _with_model(base, chosen.value or DEFAULT_MODEL))
    return ResolvedConfig(config, settings, path, env_file, dotenv)


def _with_model(base: ModelConfig, model: str) -> ModelConfig:
    return dataclasses.replace(base, model=model)
