"""``ModelConfig`` and ``ACEModelConfig``: which model each role uses. No secrets here."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from ace.errors import ConfigurationError

ROLES = ("agent", "reflector", "skill_manager", "subagent")
"""The roles a model can be chosen for; ``subagent`` is the RR's sub-call model."""

DEFAULT_MODEL = "gpt-4o-mini"
"""The model of every role when nothing else names one (the established default)."""


@dataclass
class ModelConfig:
    """One role's model and call settings (API keys come from the environment)."""

    model: str
    temperature: float = 0.0
    max_tokens: int = 2048
    extra_params: dict[str, Any] | None = field(default=None)
    """More litellm parameters (``top_p``, ``api_base``, ...), passed on every call."""

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model.strip():
            raise ConfigurationError(
                f"ModelConfig: model must be a model string, got {self.model!r}"
            )
        if isinstance(self.temperature, bool) or not isinstance(self.temperature, int | float):
            raise ConfigurationError(
                f"ModelConfig: temperature must be a number, got {self.temperature!r}"
            )
        if (
            isinstance(self.max_tokens, bool)
            or not isinstance(self.max_tokens, int)
            or self.max_tokens < 1
        ):
            raise ConfigurationError(
                f"ModelConfig: max_tokens must be an int >= 1, got {self.max_tokens!r}"
            )
        if self.extra_params is not None and not isinstance(self.extra_params, dict):
            raise ConfigurationError(
                "ModelConfig: extra_params must be a table of litellm parameters"
            )

    def model_settings(self) -> dict[str, Any]:
        """The settings as the roles take them (``model_settings=``)."""
        return {
            **(self.extra_params or {}),
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
        }

    def to_dict(self) -> dict[str, Any]:
        """The non-default values, as ``ace.toml`` stores them."""
        out: dict[str, Any] = {"model": self.model}
        if self.temperature != 0.0:
            out["temperature"] = self.temperature
        if self.max_tokens != 2048:
            out["max_tokens"] = self.max_tokens
        if self.extra_params:
            out["extra_params"] = dict(self.extra_params)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, where: str = "ModelConfig") -> ModelConfig:
        """Read a table; an unknown key is an error naming it (a typo must not pass silently)."""
        if not isinstance(data, dict):
            raise ConfigurationError(f"{where}: expected a table with a model, got {data!r}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigurationError(
                f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(known))}"
            )
        if "model" not in data:
            raise ConfigurationError(f'{where}: no model; write model = "provider/name"')
        return cls(**data)


@dataclass
class ACEModelConfig:
    """A model per role; a role without its own falls back to ``default``.

    ``subagent`` (the RR's sub-calls) falls back to the reflector's model.
    """

    default: ModelConfig = field(default_factory=lambda: ModelConfig(DEFAULT_MODEL))
    agent: ModelConfig | None = None
    reflector: ModelConfig | None = None
    skill_manager: ModelConfig | None = None
    subagent: ModelConfig | None = None

    def for_role(self, role: str) -> ModelConfig:
        """The configuration ``role`` runs with."""
        if role not in ("default", *ROLES):
            raise ConfigurationError(f"unknown role {role!r}; roles are {', '.join(ROLES)}")
        explicit: ModelConfig | None = getattr(self, role)
        if explicit is not None:
            return explicit
        return self.for_role("reflector") if role == "subagent" else self.default

    def to_dict(self) -> dict[str, Any]:
        """Tables for ``ace.toml``: ``default`` and every role that has its own."""
        out = {"default": self.default.to_dict()}
        for role in ROLES:
            own = getattr(self, role)
            if own is not None:
                out[role] = own.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, where: str = "ace.toml") -> ACEModelConfig:
        """Read the tables of ``ace.toml``; unknown tables are errors naming them."""
        unknown = sorted(set(data) - {"default", *ROLES})
        if unknown:
            raise ConfigurationError(
                f"{where}: unknown table(s) {', '.join(unknown)}; "
                f"tables are default, {', '.join(ROLES)}"
            )
        tables = {
            name: ModelConfig.from_dict(value, where=f"{where} [{name}]")
            for name, value in data.items()
        }
        return cls(**tables) if "default" in tables else cls(ModelConfig(DEFAULT_MODEL), **tables)
