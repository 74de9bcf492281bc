"""Small helpers of the learning loop: opening its store and model client, reading ids
from a context, awaiting a task's awaitable, and the shared formatting and checking of
exceptions, durations, JSON text and caller-given data.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ace.errors import UsageError

if TYPE_CHECKING:
    from ace.llm.client import LLMClient
    from ace.service.store import Store


# ---------------------------------------------------------------- opening
def _open_store(session: Any) -> tuple[Store, bool]:
    from ace.service.store import Store

    if isinstance(session, Store):
        return session, False
    if session is None or isinstance(session, str | os.PathLike):
        return Store(session), True
    bind = session.get_bind() if callable(getattr(session, "get_bind", None)) else session
    engine = getattr(bind, "engine", bind)
    url = getattr(engine, "url", None)
    if url is None or not callable(getattr(url, "render_as_string", None)):
        raise UsageError(
            "session must be an ace.service.Store, a SQLAlchemy Session, Connection or Engine, "
            f"or a database URL; got {type(session).__name__}"
        )
    return Store(url.render_as_string(hide_password=False)), True


def _client(llm_provider: Any) -> LLMClient:
    from ace.llm.settings import client_from_settings

    if llm_provider is None:
        from ace.config import resolve_config

        config = resolve_config().config.for_role("reflector")
        return client_from_settings(config.model, config.model_settings())
    return client_from_settings(llm_provider)


def _from_context(
    context: Any, user_id: Any, agent_id: Any, tenant_id: Any
) -> tuple[Any, Any, Any]:
    if context is None:
        return user_id, agent_id, tenant_id

    def read(*names: str) -> Any:
        for name in names:
            value = (
                context.get(name) if isinstance(context, Mapping) else getattr(context, name, None)
            )
            if value is not None:
                return value
        return None

    found = []
    for given, names in (
        (user_id, ("user_id", "user")),
        (agent_id, ("agent_id",)),
        (tenant_id, ("tenant_id", "tenant")),
    ):
        value = read(*names)
        if given is not None and value is not None and value != given:
            raise UsageError(f"context says {names[0]}={value!r}, the argument {given!r}")
        found.append(given if given is not None else value)
    return found[0], found[1], found[2]


# ---------------------------------------------------------------- running a task
def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _await_here(awaitable: Any) -> Any:
    if _loop_running():
        close = getattr(awaitable, "close", None)
        if callable(close):
            close()
        raise UsageError(
            "task_fn returned an awaitable inside a running event loop: "
            "use `await loop.execute_with_learning_async(...)`"
        )

    async def wait() -> Any:
        return await awaitable

    return asyncio.run(wait())


# ---------------------------------------------------------------- shared
def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=repr)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _ms_since(started: float) -> int:
    return max(0, int((time.perf_counter() - started) * 1000))


def _safe_data(data: Mapping[str, Any] | None) -> dict[str, Any]:
    from ace.learning_loop.payloads import jsonable

    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise UsageError(f"expected a mapping, got {type(data).__name__}")
    value = jsonable(data)
    assert isinstance(value, dict)
    return value


def _duration(metrics: Mapping[str, Any] | None) -> int | None:
    value = (metrics or {}).get("duration_ms")
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
