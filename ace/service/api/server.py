"""``ServiceServer``: the HTTP API under uvicorn, with the in-process worker pool.

``run()`` serves in the foreground (``ace serve``; SIGTERM or Ctrl-C stops it: uvicorn
finishes open requests, then the pool lets running jobs finish for ``grace_s`` and gives
the rest back). ``start()`` serves from a background thread until ``stop()`` (tests,
notebooks, benchmarks); port 0 picks a free port (see ``url``).

litellm is imported in the calling thread before the server starts: imported for the first
time in another thread while uvicorn's loop runs, replies were seen to go undelivered.
"""

from __future__ import annotations

import signal
import socket
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ace.errors import ConfigurationError, UsageError
from ace.service.api.app import create_app
from ace.service.api.metrics import MeteredLearner, Metrics
from ace.service.api.settings import ServiceSettings, check_bind, require_http_extra
from ace.service.keys import KeyRing, keys_exist

if TYPE_CHECKING:
    import uvicorn
    from fastapi import FastAPI

    from ace.service.learner import LearnerConfig
    from ace.service.store import Store
    from ace.service.worker import WorkerPool

DEFAULT_HOST = "127.0.0.1"
"""Where ``ace serve`` listens unless told otherwise: this machine only."""
DEFAULT_PORT = 8000
"""The seed's port."""
STARTUP_TIMEOUT_S = 30.0
_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class ServiceServer:
    """The API over ``store`` on ``host:port``, with ``workers`` in-process worker threads
    learning with ``learner`` (a ``LearnerConfig``; None, or ``workers=0``: no pool, so
    ``ace worker`` processes must run the jobs, which needs PostgreSQL).

    Listening beyond loopback is refused while no API key exists, unless ``insecure``.
    ``pool_options`` go to ``WorkerPool`` (``lease_s``, ``poll_s``, ``retry_policy``,
    ``retention_days``, ...). The server does not close ``store``.
    """

    def __init__(
        self,
        store: Store,
        *,
        learner: LearnerConfig | None = None,
        workers: int = 1,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        settings: ServiceSettings | None = None,
        insecure: bool = False,
        pool_options: dict[str, Any] | None = None,
        access_log: bool = False,
        grace_s: float = 30.0,
    ) -> None:
        require_http_extra()
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
            raise UsageError(f"workers must be an integer >= 0, got {workers!r}")
        if workers and learner is None:
            raise UsageError("workers > 0 needs a learner (a LearnerConfig naming the models)")
        if not workers and store.dialect == "sqlite":
            raise ConfigurationError(
                "workers=0 on SQLite: nothing would run the learn jobs (ace worker needs "
                "PostgreSQL); keep at least one in-process worker"
            )
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise UsageError(f"port must be 0-65535, got {port!r}")
        check_bind(host, keys_configured=keys_exist(store), insecure=insecure)
        self.store = store
        self.host = host
        self.port = port
        self.settings = settings or ServiceSettings()
        self.metrics = Metrics()
        self.keys = KeyRing(store)
        self.grace_s = grace_s
        self.access_log = access_log
        self.pool: WorkerPool | None = None
        if workers:
            from ace.service.worker import WorkerPool

            assert learner is not None
            self.pool = WorkerPool(
                store,
                MeteredLearner(learner, self.metrics),
                concurrency=workers,
                **(pool_options or {}),
            )
        self.app: FastAPI = create_app(
            store,
            settings=self.settings,
            pool=self.pool,
            metrics=self.metrics,
            keys=self.keys,
            learning_model=learner.reflector_model if learner is not None else None,
        )
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._pool_running = False

    @property
    def url(self) -> str:
        """``http://host:port`` (the bound port, also when 0 was asked for)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def _bind(self) -> socket.socket:
        family, kind, proto, _, address = socket.getaddrinfo(
            self.host, self.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            # Accepted connections inherit it: without it a response written in two parts
            # waits for the client's delayed ACK (~40 ms on Linux).
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.bind(address)
            sock.listen(2048)
        except OSError:
            sock.close()
            raise
        sock.set_inheritable(True)
        self.port = int(sock.getsockname()[1])
        return sock

    def _prepare(self) -> uvicorn.Server:
        import uvicorn

        from ace.llm import _litellm

        if self.pool is not None or self.store.embedding_model is not None:
            _litellm.load()  # in this thread, before uvicorn's loop runs (see module doc)
        self._socket = self._bind()
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            access_log=self.access_log,
            server_header=False,
            lifespan="off",
            timeout_graceful_shutdown=int(self.grace_s) or 1,
        )
        self._server = uvicorn.Server(config)
        if self.pool is not None:
            self.pool.start()
            self._pool_running = True
        return self._server

    def run(self, *, on_listening: Callable[[str], None] | None = None) -> None:
        """Serve in this thread until SIGTERM/SIGINT, then stop the pool (see module doc).
        ``on_listening(url)`` is called once the port is bound."""
        # uvicorn handles SIGTERM/SIGINT while it serves, then raises the signal again once
        # it has stopped; these handlers take that second delivery, so the pool still stops
        # cleanly (running jobs finish or go back to the queue) and the process exits 0.
        stopping: list[int] = []
        main = threading.current_thread() is threading.main_thread()
        previous = (
            {sig: signal.signal(sig, lambda n, f: stopping.append(n)) for sig in _SIGNALS}
            if main
            else {}
        )
        try:
            server = self._prepare()
            assert self._socket is not None
            if on_listening is not None:
                on_listening(self.url)
            server.run(sockets=[self._socket])
        finally:
            try:
                self._shutdown()
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

    def start(self) -> ServiceServer:
        """Serve from a background thread; returns once the server accepts connections."""
        try:
            server = self._prepare()
        except BaseException:
            self._shutdown()
            raise
        sock = self._socket
        assert sock is not None
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="ace-http", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self._shutdown()
                raise RuntimeError("the ACE HTTP server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stop serving (open requests finish), then stop the pool."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=self.grace_s + 10)
            self._thread = None
        self._shutdown()

    def _shutdown(self) -> None:
        if self.pool is not None and self._pool_running:
            self._pool_running = False
            self.pool.stop(grace_s=self.grace_s)
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def __enter__(self) -> ServiceServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "ServiceServer"]
