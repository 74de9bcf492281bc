"""The ACE service over HTTP: ``embed_prompt`` and ``episodes/learn`` for agents, plus
jobs, playbooks, keys, limits and metrics (FastAPI under uvicorn; ``ace serve``).

::

    from ace.service import Store, LearnerConfig
    from ace.service.api import ServiceServer

    with Store() as store, ServiceServer(store, learner=LearnerConfig.from_config(),
                                         port=8000) as server:
        ...                                   # server.url answers; ace.client talks to it

Needs the ``service`` extra (FastAPI, uvicorn, SQLAlchemy, Alembic, psycopg); names are
imported lazily, so importing this package loads none of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ace import _lazy

_EXPORTS: dict[str, str] = {
    "ServiceServer": "ace.service.api.server",
    "ServiceSettings": "ace.service.api.settings",
    "create_app": "ace.service.api.app",
    "Metrics": "ace.service.api.metrics",
    "Principal": "ace.service.api.middleware",
}

__all__ = ["Metrics", "Principal", "ServiceServer", "ServiceSettings", "create_app"]


def _require_extras(module: str) -> None:
    if module != "ace.service.api.settings":
        from ace.service._db import require_service_extra
        from ace.service.api.settings import require_http_extra

        require_service_extra()
        require_http_extra()


def __getattr__(name: str) -> Any:
    return _lazy.load(__name__, _EXPORTS, globals(), name, before=_require_extras)


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:
    from ace.service.api.app import create_app
    from ace.service.api.metrics import Metrics
    from ace.service.api.middleware import Principal
    from ace.service.api.server import ServiceServer
    from ace.service.api.settings import ServiceSettings
