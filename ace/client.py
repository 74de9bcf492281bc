"""A client of the ACE service's HTTP API (``ace serve``), sync and async, over httpx.

An agent needs two calls::

    from ace.client import ACEClient

    ace = ACEClient("http://127.0.0.1:8000")              # api_key="ace_..." when keys are on
    prompt = ace.embed_prompt("support-bot", prompt)      # before inference
    ...                                                   # run the agent with `prompt`
    ace.start_learn("support-bot", prompt, trajectory)    # after the run; returns the job id

``AsyncACEClient`` has the same methods as coroutines. ``start_learn`` sends an
``Idempotency-Key`` (a fresh one per call unless you pass yours), so its retries of a
request whose answer was lost never queue the run twice. Connection failures, 502-504 and
429 (after its ``Retry-After``, at most ``max_retry_wait_s``) are retried ``retries``
times; any other error is an `ACEServiceError` with the status and the server's message.
Importing this module needs no service extra (httpx comes with litellm).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

from ace.errors import RunError

DEFAULT_URL = "http://127.0.0.1:8000"
"""Where ``ace serve`` listens by default."""
RETRYABLE_STATUS = frozenset({429, 502, 503, 504})


class ACEServiceError(RunError):
    """The service answered with an error (``status``; ``detail`` is its message) or could
    not be reached (``status`` None)."""

    def __init__(self, message: str, *, status: int | None, detail: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.detail = detail


def _error(response: httpx.Response) -> ACEServiceError:
    try:
        body = response.json()
    except ValueError:
        body = {"detail": response.text[:500]}
    detail = body.get("detail") if isinstance(body, dict) else body
    message = body.get("message") if isinstance(body, dict) else None
    text = message or (detail if isinstance(detail, str) else str(detail))
    request = response.request
    return ACEServiceError(
        f"{request.method} {request.url.path}: {response.status_code} {text}",
        status=response.status_code,
        detail=detail,
    )


def _seg(value: str) -> str:
    """``value`` as one path segment (a ``/`` or ``..`` in it never changes the route)."""
    return quote(str(value), safe="")


def _learn_body(
    user_message: str,
    trajectory: str,
    ground_truth: str | None,
    evaluation: str | None,
    reflector_additional_instructions: str | None,
    curator_additional_instructions: str | None,
) -> dict[str, str]:
    body = {"user_message": user_message, "trajectory": trajectory}
    for name, value in (
        ("ground_truth", ground_truth),
        ("evaluation", evaluation),
        ("reflector_additional_instructions", reflector_additional_instructions),
        ("curator_additional_instructions", curator_additional_instructions),
    ):
        if value is not None:
            body[name] = value
    return body


def _retry_wait(response: httpx.Response | None, attempt: int, cap: float) -> float:
    if response is not None and response.status_code == 429:
        try:
            wanted = float(response.headers.get("Retry-After", "1"))
        except ValueError:
            wanted = 1.0
        return min(max(wanted, 0.0), cap)
    return min(0.2 * 2.0**attempt, cap)


class _Base:
    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        timeout: float,
        retries: int,
        max_retry_wait_s: float,
    ) -> None:
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ValueError(f"retries must be an integer >= 0, got {retries!r}")
        self.base_url = base_url.rstrip("/")
        self.retries = retries
        self.max_retry_wait_s = max_retry_wait_s
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._timeout = timeout


class ACEClient(_Base):
    """A blocking client of ``base_url`` (default ``http://127.0.0.1:8000``); reuse one
    (it keeps connections open) and ``close()`` it, or use it as a context manager."""

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        retries: int = 2,
        max_retry_wait_s: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(base_url, api_key, timeout, retries, max_retry_wait_s)
        self._http = httpx.Client(
            base_url=self.base_url, headers=self._headers, timeout=timeout, transport=transport
        )

    def close(self) -> None:
        """Close the connections."""
        self._http.close()

    def __enter__(self) -> ACEClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        attempt = 0
        while True:
            response: httpx.Response | None = None
            try:
                response = self._http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                if attempt >= self.retries:
                    raise ACEServiceError(
                        f"{method} {path}: cannot reach {self.base_url}: {exc}", status=None
                    ) from exc
            else:
                if response.status_code < 400:
                    return response
                if response.status_code not in RETRYABLE_STATUS or attempt >= self.retries:
                    raise _error(response)
            time.sleep(_retry_wait(response, attempt, self.max_retry_wait_s))
            attempt += 1

    def embed_prompt(self, playbook_id: str, prompt: str, k: int = 20) -> str:
        """``prompt`` with the playbook's ``k`` most relevant skills embedded (between
        ``**PLAYBOOK_BEGIN**`` and ``**PLAYBOOK_END**``); send this to the model."""
        response = self._request(
            "POST", f"/playbooks/{_seg(playbook_id)}/embed_prompt", json={"prompt": prompt, "k": k}
        )
        return str(response.json()["prompt"])

    def start_learn(
        self,
        playbook_id: str,
        user_message: str,
        trajectory: str,
        *,
        ground_truth: str | None = None,
        evaluation: str | None = None,
        reflector_additional_instructions: str | None = None,
        curator_additional_instructions: str | None = None,
        idempotency_key: str | None = None,
    ) -> str:
        """Queue the run for learning (``user_message``: the prompt that was sent, with its
        playbook block; ``trajectory``: everything that happened); returns the job id. No
        need to wait for it."""
        response = self._request(
            "POST",
            f"/playbooks/{_seg(playbook_id)}/episodes/learn",
            json=_learn_body(
                user_message,
                trajectory,
                ground_truth,
                evaluation,
                reflector_additional_instructions,
                curator_additional_instructions,
            ),
            headers={"Idempotency-Key": idempotency_key or str(uuid.uuid4())},
        )
        return str(response.json()["learn_job_id"])

    def get_job(self, job_id: str) -> dict[str, Any]:
        """The job: ``status``, ``attempts``, ``error``, ``timings``, ``reflection``,
        ``operations``."""
        return dict(self._request("GET", f"/jobs/{_seg(job_id)}").json())

    def wait_for_job(
        self, job_id: str, *, timeout: float = 120.0, poll_s: float = 0.2
    ) -> dict[str, Any]:
        """Poll until the job is ``done`` or ``failed`` (for scripts and tests; agents need
        not wait). Raises ``TimeoutError`` after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.get_job(job_id)
            if job["status"] in ("done", "failed"):
                return job
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {job['status']} after {timeout} s")
            time.sleep(poll_s)

    def list_playbooks(
        self, *, limit: int | None = None, after: str | None = None
    ) -> dict[str, Any]:
        """A page of playbooks: ``{"items": [...], "next_after": id or None}``."""
        params: dict[str, Any] = {k: v for k, v in (("limit", limit), ("after", after)) if v}
        return dict(self._request("GET", "/playbooks", params=params).json())

    def get_playbook(self, playbook_id: str, *, markdown: bool = False) -> Any:
        """The playbook as JSON (a dict), or as Markdown text with ``markdown=True``."""
        accept = "text/markdown" if markdown else "application/json"
        response = self._request(
            "GET", f"/playbooks/{_seg(playbook_id)}", headers={"Accept": accept}
        )
        return response.text if markdown else response.json()

    def history(self, playbook_id: str, *, since_version: int = 0) -> list[dict[str, Any]]:
        """The playbook's changes after ``since_version`` (the first 1000)."""
        response = self._request(
            "GET",
            f"/playbooks/{_seg(playbook_id)}/history",
            params={"since_version": since_version, "limit": 1000},
        )
        return list(response.json()["items"])

    def export_playbook(self, playbook_id: str, *, version: int | None = None) -> str:
        """The playbook as a skillbook file (JSON text; ``Skillbook.loads`` reads it)."""
        params = {"version": version} if version is not None else {}
        return self._request("GET", f"/playbooks/{_seg(playbook_id)}/export", params=params).text

    def import_playbook(self, playbook_id: str, skillbook: str | bytes | Mapping[str, Any]) -> int:
        """Replace the playbook's content with a skillbook file's; returns the new version."""
        content = skillbook.encode() if isinstance(skillbook, str) else skillbook
        kwargs: dict[str, Any] = (
            {"json": dict(skillbook)} if isinstance(skillbook, Mapping) else {"content": content}
        )
        response = self._request(
            "POST",
            f"/playbooks/{_seg(playbook_id)}/import",
            headers={"Content-Type": "application/json"},
            **kwargs,
        )
        return int(response.json()["version"])

    def delete_playbook(self, playbook_id: str) -> None:
        """Delete the playbook with its history and jobs."""
        self._request("DELETE", f"/playbooks/{_seg(playbook_id)}")


class AsyncACEClient(_Base):
    """`ACEClient`'s calls as coroutines (``async with AsyncACEClient(url) as ace: ...``)."""

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        retries: int = 2,
        max_retry_wait_s: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(base_url, api_key, timeout, retries, max_retry_wait_s)
        self._http = httpx.AsyncClient(
            base_url=self.base_url, headers=self._headers, timeout=timeout, transport=transport
        )

    async def aclose(self) -> None:
        """Close the connections."""
        await self._http.aclose()

    async def __aenter__(self) -> AsyncACEClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        attempt = 0
        while True:
            response: httpx.Response | None = None
            try:
                response = await self._http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                if attempt >= self.retries:
                    raise ACEServiceError(
                        f"{method} {path}: cannot reach {self.base_url}: {exc}", status=None
                    ) from exc
            else:
                if response.status_code < 400:
                    return response
                if response.status_code not in RETRYABLE_STATUS or attempt >= self.retries:
                    raise _error(response)
            await asyncio.sleep(_retry_wait(response, attempt, self.max_retry_wait_s))
            attempt += 1

    async def embed_prompt(self, playbook_id: str, prompt: str, k: int = 20) -> str:
        """See `ACEClient.embed_prompt`."""
        response = await self._request(
            "POST", f"/playbooks/{_seg(playbook_id)}/embed_prompt", json={"prompt": prompt, "k": k}
        )
        return str(response.json()["prompt"])

    async def start_learn(
        self,
        playbook_id: str,
        user_message: str,
        trajectory: str,
        *,
        ground_truth: str | None = None,
        evaluation: str | None = None,
        reflector_additional_instructions: str | None = None,
        curator_additional_instructions: str | None = None,
        idempotency_key: str | None = None,
    ) -> str:
        """See `ACEClient.start_learn`."""
        response = await self._request(
            "POST",
            f"/playbooks/{_seg(playbook_id)}/episodes/learn",
            json=_learn_body(
                user_message,
                trajectory,
                ground_truth,
                evaluation,
                reflector_additional_instructions,
                curator_additional_instructions,
            ),
            headers={"Idempotency-Key": idempotency_key or str(uuid.uuid4())},
        )
        return str(response.json()["learn_job_id"])

    async def get_job(self, job_id: str) -> dict[str, Any]:
        """See `ACEClient.get_job`."""
        return dict((await self._request("GET", f"/jobs/{_seg(job_id)}")).json())

    async def wait_for_job(
        self, job_id: str, *, timeout: float = 120.0, poll_s: float = 0.2
    ) -> dict[str, Any]:
        """See `ACEClient.wait_for_job`."""
        deadline = time.monotonic() + timeout
        while True:
            job = await self.get_job(job_id)
            if job["status"] in ("done", "failed"):
                return job
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {job['status']} after {timeout} s")
            await asyncio.sleep(poll_s)


__all__ = ["DEFAULT_URL", "ACEClient", "ACEServiceError", "AsyncACEClient"]
