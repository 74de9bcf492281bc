"""Model configuration: a model per role in ``ace.toml``, API keys in ``.env``.

One precedence everywhere: flags > environment > ``.env`` > ``ace.toml`` > defaults
(``resolve_config``). ``ace setup`` writes the files, ``ace config`` shows the result
and where each value came from.
"""

from ace.config.files import (
    CONFIG_FILENAME,
    ENV_FILENAME,
    find_config,
    load_config,
    load_dotenv,
    read_dotenv,
    save_config,
    write_dotenv,
)
from ace.config.keys import PROVIDER_KEYS, key_variables, missing_key
from ace.config.models import DEFAULT_MODEL, ROLES, ACEModelConfig, ModelConfig
from ace.config.resolve import MODEL_VARIABLES, ResolvedConfig, Setting, resolve_config
from ace.config.validate import ValidationResult, validate_connection

__all__ = [
    "CONFIG_FILENAME",
    "DEFAULT_MODEL",
    "ENV_FILENAME",
    "MODEL_VARIABLES",
    "PROVIDER_KEYS",
    "ROLES",
    "ACEModelConfig",
    "ModelConfig",
    "ResolvedConfig",
    "Setting",
    "ValidationResult",
    "find_config",
    "key_variables",
    "load_config",
    "load_dotenv",
    "missing_key",
    "read_dotenv",
    "resolve_config",
    "save_config",
    "validate_connection",
    "write_dotenv",
]
