"""The HTTP API of the ACE service (FastAPI): ``create_app(store, ...)``.

Routes (OpenAPI at ``/docs``): ``POST /playbooks/{id}/embed_prompt`` and
``POST /playbooks/{id}/episodes/learn`` (the two calls an agent makes), ``GET /jobs/{id}``,
``GET /playbooks`` (paginated), ``GET|DELETE /playbooks/{id}`` (JSON, or Markdown with
``Accept: text/markdown``), ``GET /playbooks/{id}/skills/{skill_id}``,
``GET /playbooks/{id}/history``, ``GET /playbooks/{id}/export``,
``POST /playbooks/{id}/import``, ``POST /playbooks/{id}/rollback``, ``GET /healthz``,
``/readyz`` and ``/metrics``.

Every route works on the caller's tenant only (``Principal``, set by the guard); a
playbook id outside the caller key's prefixes is refused (403), and a job of another
tenant (or outside the prefixes) is "not found" like one that never existed. Values reach
the database only as bound parameters. A caller's mistake is a 422 whose ``detail`` lists
each field (``loc``) with what is wrong, and whose ``message`` says it in one line.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, FastAPI, Header, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from ace.errors import InputError, UsageError
from ace.learning_loop.records import NotFoundError
from ace.service.api.metrics import CONTENT_TYPE, Metrics, job_counts
from ace.service.api.middleware import (
    PRINCIPAL,
    BodyLimit,
    Guard,
    Metered,
    Principal,
    RateLimiter,
)
from ace.service.api.ranking import Ranker
from ace.service.api.settings import PLAYBOOK_ID_PATTERN, PLAYBOOK_ID_RULE, ServiceSettings
from ace.service.keys import KeyRing
from ace.service.markers import embed
from ace.service.requests import DEFAULT_TENANT, MAX_ID_LENGTH, JobInfo, LearnRequest, check_id

if TYPE_CHECKING:
    from ace.service.store import Store
    from ace.service.worker import WorkerPool
    from ace.skillbook import Skill, Skillbook

_log = logging.getLogger("ace.service")


# ---------------------------------------------------------------------- bodies
class EmbedPromptRequest(BaseModel):
    """Body of ``embed_prompt``: the prompt about to be sent, and how many skills to embed."""

    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(description="The final prompt, as it would be sent to the model.")
    k: int = Field(20, strict=True, description="How many of the most relevant skills to embed.")


class EmbedPromptResponse(BaseModel):
    """The prompt with the playbook block appended, and what it holds."""

    prompt: str = Field(description="The prompt followed by **PLAYBOOK_BEGIN** ... END.")
    skill_ids: list[str] = Field(description="The embedded skills' ids, most relevant first.")
    playbook_version: int = Field(description="The playbook version they were read at.")


class LearnAccepted(BaseModel):
    """A learn job was queued (durably)."""

    learn_job_id: str
    status: str


class RollbackRequest(BaseModel):
    """Body of ``rollback``."""

    model_config = ConfigDict(extra="forbid")

    to_version: int = Field(ge=0, description="The version whose content to restore.")


# ---------------------------------------------------------------------- errors
class _TooLarge(Exception):
    def __init__(self, field: str, size: int, limit: int) -> None:
        super().__init__(f"{field} is {size} bytes; the limit is {limit} bytes")
        self.field = field


class _Refused(Exception):
    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers


def _invalid(loc: tuple[str, ...], message: str) -> RequestValidationError:
    return RequestValidationError([{"loc": loc, "msg": message, "type": "value_error"}])


def _field_name(loc: Any) -> str:
    parts = [str(p) for p in loc]
    if len(parts) > 1 and parts[0] in ("body", "path", "query", "header"):
        parts = parts[1:]
    return ".".join(parts) or "request"


def _validation_response(exc: RequestValidationError) -> JSONResponse:
    detail = [
        {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": e.get("type", "")}
        for e in exc.errors()
    ]
    message = "; ".join(f"{_field_name(e['loc'])}: {e['msg']}" for e in detail)
    return JSONResponse({"detail": detail, "message": message}, status_code=422)


def _check_text(field: str, value: str | None, limit: int) -> None:
    if value is None:
        return
    if "\x00" in value:
        raise _invalid(("body", field), "must not contain NUL characters (\\u0000)")
    if value.isascii():
        size = len(value)
    else:
        try:
            size = len(value.encode("utf-8"))
        except UnicodeEncodeError:
            raise _invalid(
                ("body", field), "is not valid Unicode (it holds a lone surrogate escape)"
            ) from None
    if size > limit:
        raise _TooLarge(field, size, limit)


def _check_strings(value: Any, where: str) -> None:
    """Every string inside ``value`` is storable (no NUL, valid Unicode)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise _invalid(("body",), f"{where} must not contain NUL characters (\\u0000)")
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise _invalid(("body",), f"{where} is not valid Unicode") from None
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _parse_skillbook(raw: bytes) -> Skillbook:
    import json

    from ace.skillbook import Skillbook

    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _invalid(("body",), f"not a JSON skillbook file: {exc}") from None
    if not isinstance(data, dict):
        raise _invalid(("body",), "a skillbook file is a JSON object")
    _check_strings(data, "the skillbook")
    return Skillbook.from_dict(data, origin="the request body")


# ---------------------------------------------------------------------- state
@dataclass
class ServiceState:
    """What the routes share: the store, limits, keys, metrics, ranking, the pool."""

    store: Store
    settings: ServiceSettings
    keys: KeyRing
    metrics: Metrics
    ranker: Ranker
    pool: WorkerPool | None = None
    limiter: RateLimiter = field(default_factory=RateLimiter)


@dataclass(frozen=True)
class Target:
    """A playbook of the caller's tenant that the caller may use."""

    tenant: str
    playbook_id: str


async def principal_of(request: Request) -> Principal:
    """The caller (set by the guard)."""
    principal = request.scope.get("state", {}).get(PRINCIPAL)
    if not isinstance(principal, Principal):  # pragma: no cover - the guard always sets it
        raise _Refused(401, "no caller identity")
    return principal


async def playbook_target(
    playbook_id: Annotated[str, Path(description=f"The playbook's id; it {PLAYBOOK_ID_RULE}.")],
    principal: Annotated[Principal, Depends(principal_of)],
) -> Target:
    """The playbook named in the path, checked: a valid id within the caller's prefixes."""
    if not PLAYBOOK_ID_PATTERN.fullmatch(playbook_id):
        raise _invalid(("path", "playbook_id"), f"playbook_id {PLAYBOOK_ID_RULE}")
    if not principal.allows(playbook_id):
        raise _Refused(
            403,
            f"this API key may only use playbook ids starting with "
            f"{' or '.join(repr(p) for p in principal.prefixes)}",
        )
    return Target(principal.tenant, playbook_id)


Caller = Annotated[Principal, Depends(principal_of)]
PlaybookRef = Annotated[Target, Depends(playbook_target)]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _skill_json(skill: Skill) -> dict[str, Any]:
    from ace.service.store import skill_record

    return skill_record(skill)


def _job_view(state: ServiceState, job: JobInfo) -> dict[str, Any]:
    result = job.result or {}
    timings: dict[str, float] = {
        k: float(v) for k, v in result.items() if k.endswith("_s") and isinstance(v, int | float)
    }
    if job.started_at is not None:
        timings["queued_s"] = round((job.started_at - job.created_at).total_seconds(), 3)
    if job.finished_at is not None:
        timings["total_s"] = round((job.finished_at - job.created_at).total_seconds(), 3)
    operations = None
    version = result.get("version")
    if job.status == "done" and isinstance(version, int):
        entry = state.store.history_entry(job.tenant, job.playbook_id, version)
        operations = entry.operations if entry is not None and entry.job_id == job.id else None
    reflection = (
        {
            "key_insight": result.get("key_insight"),
            "cited_skill_ids": list(result.get("cited_skill_ids") or []),
        }
        if job.status == "done"
        else None
    )
    return {
        "id": job.id,
        "playbook_id": job.playbook_id,
        "status": job.status,
        "attempts": job.attempts,
        "max_attempts": job.max_attempts,
        "error": job.error,
        "errors": job.errors,
        "created_at": _iso(job.created_at),
        "started_at": _iso(job.started_at),
        "finished_at": _iso(job.finished_at),
        "timings": timings,
        "reflection": reflection,
        "operations": operations,
        "skipped": result.get("skipped") if job.status == "done" else None,
        "playbook_version": version if job.status == "done" else None,
    }


def _wants_markdown(accept: str | None) -> bool:
    if not accept:
        return False
    best: tuple[float, str] = (-1.0, "")
    for index, part in enumerate(accept.split(",")):
        media, *params = (p.strip() for p in part.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if media in ("text/markdown", "application/json", "*/*") and quality > best[0]:
            best = (quality - index * 1e-6, media)
    return best[1] == "text/markdown"


# ---------------------------------------------------------------------- the app
def _without_native_telemetry() -> dict[str, Any]:
    """FastAPI's own request telemetry switched off, where it has any (0.165 and later).

    Once a process has a tracer provider (logfire configured for the RR's transcripts, for
    one), it would trace every request and take the caller's ``traceparent`` header as the
    parent of our spans: an untrusted client would place its requests inside any trace it
    names. ``/metrics`` counts requests instead."""
    import inspect

    if "telemetry" not in inspect.signature(FastAPI.__init__).parameters:
        return {}
    return {"telemetry": {"tracing": False, "metrics": False, "logs": False}}


def create_app(
    store: Store,
    *,
    settings: ServiceSettings | None = None,
    pool: WorkerPool | None = None,
    metrics: Metrics | None = None,
    keys: KeyRing | None = None,
    default_tenant: str = DEFAULT_TENANT,
    learning_model: str | None = None,
) -> FastAPI:
    """The service's FastAPI app over ``store``. ``pool`` (an in-process ``WorkerPool``)
    is woken when a job is queued and reported in ``/metrics`` and ``/readyz``; without one,
    ``ace worker`` processes must run the jobs. Callers without keys are
    ``default_tenant`` (only while no API key exists). ``learning_model`` reflects on the
    learning loop's queued trajectories (``POST /learning/process``; see
    ``ace.service.api.learning``)."""
    from ace import __version__

    settings = settings or ServiceSettings()
    state = ServiceState(
        store=store,
        settings=settings,
        keys=keys or KeyRing(store),
        metrics=metrics or Metrics(),
        ranker=Ranker(store),
        pool=pool,
    )
    app = FastAPI(
        title="ACE service",
        version=__version__,
        description="Playbooks that agents learn from: embed_prompt before inference, "
        "episodes/learn after the run.",
        **_without_native_telemetry(),
    )
    app.state.ace = state

    @app.exception_handler(RequestValidationError)
    async def _on_invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _validation_response(exc)

    @app.exception_handler(_TooLarge)
    async def _on_too_large(request: Request, exc: _TooLarge) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "field": exc.field}, status_code=413)

    @app.exception_handler(_Refused)
    async def _on_refused(request: Request, exc: _Refused) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status, headers=exc.headers)

    @app.exception_handler(NotFoundError)
    async def _on_not_found(request: Request, exc: NotFoundError) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "message": str(exc)}, status_code=404)

    @app.exception_handler(UsageError)
    async def _on_usage(request: Request, exc: UsageError) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "message": str(exc)}, status_code=422)

    @app.exception_handler(InputError)
    async def _on_input(request: Request, exc: InputError) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "message": str(exc)}, status_code=422)

    _add_database_errors(app)
    from ace.service.api.learning import learning_router  # it imports this module

    app.include_router(learning_router(state, model=learning_model))

    # -------------------------------------------------------------- the seed's two calls
    @app.post(
        "/playbooks/{playbook_id}/embed_prompt",
        response_model=EmbedPromptResponse,
        summary="Embed the playbook's most relevant skills in a prompt",
    )
    def embed_prompt(body: EmbedPromptRequest, target: PlaybookRef) -> dict[str, Any]:
        """Return the prompt followed by the ``k`` skills most relevant to it, between
        ``**PLAYBOOK_BEGIN**`` and ``**PLAYBOOK_END**``, each with its id. The playbook is
        created (empty) on first use."""
        if isinstance(body.k, bool) or not 1 <= body.k <= settings.max_k:
            raise _invalid(("body", "k"), f"k must be between 1 and {settings.max_k}")
        _check_text("prompt", body.prompt, settings.max_text_bytes)
        ranked = state.ranker.top(target.tenant, target.playbook_id, body.prompt, body.k)
        return {
            "prompt": embed(body.prompt, ranked.skills),
            "skill_ids": [s.id for s in ranked.skills],
            "playbook_version": ranked.version,
        }

    @app.post(
        "/playbooks/{playbook_id}/episodes/learn",
        status_code=202,
        response_model=LearnAccepted,
        summary="Queue a run to learn from",
    )
    def learn(
        body: LearnRequest,
        target: PlaybookRef,
        idempotency_key: Annotated[
            str | None,
            Header(
                alias="Idempotency-Key",
                description="Retrying with the same key returns the job it first queued.",
            ),
        ] = None,
    ) -> JSONResponse:
        """Queue a learn job (durable once this answers 202). The reflector and curator run
        in the background; ``GET /jobs/{learn_job_id}`` tells how it went."""
        if idempotency_key is not None and (
            not idempotency_key.strip()
            or len(idempotency_key) > MAX_ID_LENGTH
            or not idempotency_key.isprintable()
        ):
            raise _invalid(
                ("header", "Idempotency-Key"),
                f"Idempotency-Key must be 1-{MAX_ID_LENGTH} printable characters",
            )
        limits = settings.max_text_bytes
        _check_text("trajectory", body.trajectory, settings.max_trajectory_bytes)
        for name in (
            "user_message",
            "ground_truth",
            "evaluation",
            "reflector_additional_instructions",
            "curator_additional_instructions",
        ):
            _check_text(name, getattr(body, name), limits)
        job = state.store.submit_job(
            target.tenant, target.playbook_id, body, idempotency_key=idempotency_key
        )
        if job.playbook_id != target.playbook_id:
            raise _Refused(
                409, "this Idempotency-Key was already used for a job of another playbook"
            )
        if state.pool is not None:
            state.pool.notify()
        return JSONResponse(
            {"learn_job_id": job.id, "status": job.status},
            status_code=202,
            headers={"Location": f"/jobs/{job.id}"},
        )

    # -------------------------------------------------------------- jobs
    @app.get("/jobs/{job_id}", summary="A learn job: status, attempts, timings, outcome")
    def get_job(job_id: str, caller: Caller) -> dict[str, Any]:
        """The job's status (queued, running, done, failed), attempts, errors, timings,
        the reflection's key insight and the operations it applied."""
        try:
            uuid.UUID(job_id)
        except ValueError:
            raise _invalid(("path", "job_id"), "job_id must be a job id (a UUID)") from None
        job = state.store.get_job(caller.tenant, job_id)
        if job is None or not caller.allows(job.playbook_id):
            raise _Refused(404, f"no learn job {job_id}")
        return _job_view(state, job)

    # -------------------------------------------------------------- playbooks
    @app.get("/playbooks", summary="The caller's playbooks, a page at a time")
    def list_playbooks(
        caller: Caller,
        limit: Annotated[int | None, Query(description="Page size.")] = None,
        after: Annotated[str | None, Query(description="The last id of the previous page.")] = None,
    ) -> dict[str, Any]:
        """Playbooks sorted by id; pass ``next_after`` back as ``after`` for the next page."""
        size = settings.page_size if limit is None else limit
        if not 1 <= size <= settings.page_size * 10:
            raise _invalid(("query", "limit"), f"limit must be 1-{settings.page_size * 10}")
        if after is not None and not PLAYBOOK_ID_PATTERN.fullmatch(after):
            raise _invalid(("query", "after"), f"after {PLAYBOOK_ID_RULE}")
        page = state.store.playbook_page(
            caller.tenant, after=after, limit=size + 1, prefixes=caller.prefixes
        )
        items = page[:size]
        return {
            "items": [
                {
                    "playbook_id": p.playbook_id,
                    "version": p.version,
                    "skills": p.skills,
                    "created_at": _iso(p.created_at),
                    "updated_at": _iso(p.updated_at),
                }
                for p in items
            ],
            "next_after": items[-1].playbook_id if len(page) > size else None,
        }

    @app.get(
        "/playbooks/{playbook_id}",
        summary="A playbook: JSON, or Markdown with Accept: text/markdown",
        responses={200: {"content": {"application/json": {}, "text/markdown": {}}}},
    )
    def get_playbook(target: PlaybookRef, request: Request) -> Response:
        """The playbook's version and skills (active and removed ones, with counters)."""
        info = state.store.get_playbook(target.tenant, target.playbook_id)
        if info is None:
            raise _Refused(404, f"no playbook {target.playbook_id}")
        book, version = state.store.load_skillbook(target.tenant, target.playbook_id)
        if _wants_markdown(request.headers.get("accept")):
            from ace.steps.export_markdown import skillbook_markdown

            return PlainTextResponse(
                skillbook_markdown(book), media_type="text/markdown; charset=utf-8"
            )
        skills = book.skills(include_inactive=True)
        return JSONResponse(
            {
                "playbook_id": target.playbook_id,
                "version": version,
                "active_skills": sum(1 for s in skills if s.status == "active"),
                "created_at": _iso(info.created_at),
                "updated_at": _iso(info.updated_at),
                "skills": [_skill_json(s) for s in skills],
            }
        )

    @app.get("/playbooks/{playbook_id}/skills/{skill_id}", summary="One skill of a playbook")
    def get_skill(target: PlaybookRef, skill_id: str) -> dict[str, Any]:
        """The skill with its counters and sources."""
        try:
            check_id("skill_id", skill_id)
        except UsageError as exc:
            raise _invalid(("path", "skill_id"), str(exc)) from None
        book, _ = state.store.load_skillbook(target.tenant, target.playbook_id)
        skill = book.get_skill(skill_id)
        if skill is None:
            raise _Refused(404, f"playbook {target.playbook_id} has no skill {skill_id}")
        return _skill_json(skill)

    @app.get("/playbooks/{playbook_id}/history", summary="A playbook's changes, oldest first")
    def history(
        target: PlaybookRef,
        since_version: Annotated[int, Query(ge=0)] = 0,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        """Each change: its version, kind (update, import, rollback), the job that made it,
        the operations applied and skipped."""
        if state.store.get_playbook(target.tenant, target.playbook_id) is None:
            raise _Refused(404, f"no playbook {target.playbook_id}")
        entries = state.store.history(
            target.tenant, target.playbook_id, since_version=since_version, limit=limit
        )
        return {
            "items": [
                {
                    "version": e.version,
                    "kind": e.kind,
                    "job_id": e.job_id,
                    "base_version": e.base_version,
                    "operations": e.operations,
                    "skipped": e.skipped,
                    "added_ids": e.added_ids,
                    "note": e.note,
                    "created_at": _iso(e.created_at),
                }
                for e in entries
            ]
        }

    @app.delete("/playbooks/{playbook_id}", status_code=204, summary="Delete a playbook")
    def delete_playbook(target: PlaybookRef) -> Response:
        """Delete the playbook, its history and its jobs."""
        if not state.store.delete_playbook(target.tenant, target.playbook_id):
            raise _Refused(404, f"no playbook {target.playbook_id}")
        state.ranker.forget(target.tenant, target.playbook_id)
        return Response(status_code=204)

    @app.get("/playbooks/{playbook_id}/export", summary="The playbook as a skillbook file")
    def export_playbook(
        target: PlaybookRef, version: Annotated[int | None, Query(ge=0)] = None
    ) -> Response:
        """The skillbook file (JSON) of the playbook, at ``version`` (default: current)."""
        if state.store.get_playbook(target.tenant, target.playbook_id) is None:
            raise _Refused(404, f"no playbook {target.playbook_id}")
        try:
            book = state.store.export_skillbook(target.tenant, target.playbook_id, version=version)
        except UsageError as exc:
            raise _invalid(("query", "version"), str(exc)) from None
        return Response(
            book.dumps(),
            media_type="application/json",
            headers={"Content-Disposition": f'attachment; filename="{target.playbook_id}.json"'},
        )

    @app.post(
        "/playbooks/{playbook_id}/import",
        summary="Replace a playbook's content with a skillbook file",
        openapi_extra={
            "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}}
        },
    )
    async def import_playbook(target: PlaybookRef, request: Request) -> dict[str, Any]:
        """The body is a skillbook file (the JSON ``Skillbook.dumps`` writes); it becomes
        the playbook's content as one new version (the old one stays in the history)."""
        from starlette.concurrency import run_in_threadpool

        book = await run_in_threadpool(_parse_skillbook, await request.body())
        entry = await run_in_threadpool(
            state.store.import_skillbook,
            target.tenant,
            target.playbook_id,
            book,
            note="imported over HTTP",
        )
        return {
            "playbook_id": target.playbook_id,
            "version": entry.version,
            "skills": len(book.skills()),
        }

    @app.post("/playbooks/{playbook_id}/rollback", summary="Restore an earlier version")
    def rollback(target: PlaybookRef, body: RollbackRequest) -> dict[str, Any]:
        """Make the content what it was at ``to_version``, as a new version."""
        if state.store.get_playbook(target.tenant, target.playbook_id) is None:
            raise _Refused(404, f"no playbook {target.playbook_id}")
        try:
            entry = state.store.rollback(target.tenant, target.playbook_id, body.to_version)
        except UsageError as exc:
            raise _invalid(("body", "to_version"), str(exc)) from None
        return {"playbook_id": target.playbook_id, "version": entry.version}

    # -------------------------------------------------------------- operations
    @app.get("/healthz", summary="Liveness: the process answers")
    async def healthz() -> dict[str, str]:
        """Always ``{"status": "ok"}`` while the server runs (needs no key)."""
        return {"status": "ok"}

    @app.get("/readyz", summary="Readiness: the database answers")
    def readyz() -> JSONResponse:
        """200 when the database answers and, with an in-process pool, it is running."""
        from sqlalchemy import text

        try:
            with state.store._read() as connection:
                connection.execute(text("SELECT 1"))
        except Exception as exc:
            return JSONResponse(
                {"status": "unavailable", "database": type(exc).__name__}, status_code=503
            )
        workers = state.pool.concurrency if state.pool is not None else 0
        return JSONResponse({"status": "ready", "database": "ok", "workers": workers})

    @app.get("/metrics", summary="Prometheus metrics (text format)")
    def metrics_text() -> Response:
        """Requests, latency, queue depth, job outcomes, model calls and cost."""
        text = state.metrics.render(
            jobs_by_status=job_counts(state.store),
            pool=state.pool.stats if state.pool is not None else None,
            workers=state.pool.concurrency if state.pool is not None else 0,
        )
        return Response(text, media_type=CONTENT_TYPE)

    app.add_middleware(BodyLimit, settings=settings)
    app.add_middleware(
        Guard,
        keys=state.keys,
        limiter=state.limiter,
        settings=settings,
        default_tenant=default_tenant,
    )
    if settings.cors_origins:
        from starlette.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "Accept"],
        )
    app.add_middleware(Metered, metrics=state.metrics, routes=lambda: app.router.routes)
    return app


def _add_database_errors(app: FastAPI) -> None:
    from sqlalchemy.exc import OperationalError

    @app.exception_handler(OperationalError)
    async def _on_database(request: Request, exc: OperationalError) -> JSONResponse:
        _log.warning("database unavailable: %s", exc)
        return JSONResponse(
            {"detail": "the database is unavailable; retry later"},
            status_code=503,
            headers={"Retry-After": "1"},
        )


__all__ = [
    "EmbedPromptRequest",
    "EmbedPromptResponse",
    "LearnAccepted",
    "ServiceState",
    "create_app",
]
