"""The llama.cpp server behind ``local/...`` model strings: start, reuse, stop.

One server per model per process, started on first use as a child process on 127.0.0.1
and a free port, stopped at exit (``atexit``, and a parent watchdog inside the child for
exits that skip ``atexit``). A server started with ``ace model serve`` announces itself in
a state file and is reused by every process instead (never stopped by them).

A server that dies (a crash, a kill) is noticed at the next request: it is restarted once,
and if it dies again every later request raises ``LocalServerError`` naming how it died
(exit status or signal, at which request) and quoting its log, instead of starting a
fresh server for every retry. Before the first server of a process starts, the installed
llama.cpp is checked once per build (``_check``), so a library that crashes on this CPU
is named with its fix.

llama.cpp's server runs one request at a time and queues the rest behind a lock, so
concurrent sub-calls wait instead of failing; callers need a generous timeout.
Consecutive requests that share a prefix (the RR conversation) reuse the evaluated
tokens; ``--cache`` keeps earlier prefixes in RAM so a sub-call in between does not
throw the conversation's prefix away.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ace.local_model._errors import LocalModelNotInstalled, LocalServerError
from ace.local_model._pull import installed_path
from ace.local_model._spec import DEFAULT_MODEL, ModelSpec, cache_dir

HOST = "127.0.0.1"
EXTRA_HINT = (
    "pip install 'ace-rr[local]' (in a clone: uv pip install -e '.[local]'); "
    "it compiles llama.cpp, about 8 minutes"
)


@dataclass(frozen=True, kw_only=True)
class ServerOptions:
    """How the llama.cpp server is run. Environment variables override the defaults."""

    n_ctx: int = 32_768
    """Context window in tokens (``ACE_LOCAL_N_CTX``): the model's trained maximum, so a
    long RR conversation (up to ``max_context_chars`` = 120k by default) still fits; the
    KV cache for it is about 0.9 GB and is only filled as the conversation grows."""
    n_threads: int | None = None
    """CPU threads (``ACE_LOCAL_THREADS``); None uses every core this process may use."""
    cache_bytes: int = 2 << 30
    """RAM for saved prompt prefixes (llama.cpp's ``--cache_size``)."""
    startup_timeout_s: float = 300.0
    """How long loading the model may take before giving up."""
    program: tuple[str, ...] | None = None
    """Run this command instead of llama.cpp's server, with the same arguments (for tests:
    a stand-in server). The model file and the library check are then not required."""

    @classmethod
    def from_env(cls) -> ServerOptions:
        """Defaults, with ``ACE_LOCAL_N_CTX`` and ``ACE_LOCAL_THREADS`` applied."""
        n_ctx = os.environ.get("ACE_LOCAL_N_CTX")
        threads = os.environ.get("ACE_LOCAL_THREADS")
        return cls(
            n_ctx=int(n_ctx) if n_ctx else cls.n_ctx,
            n_threads=int(threads) if threads else None,
        )

    def threads(self) -> int:
        """The thread count to pass to llama.cpp."""
        if self.n_threads is not None:
            return self.n_threads
        return max(1, len(os.sched_getaffinity(0)))


class LocalServer:
    """One llama.cpp server: its address, and the child process when this process owns it."""

    def __init__(
        self,
        spec: ModelSpec,
        *,
        port: int,
        pid: int,
        process: subprocess.Popen[bytes] | None,
        log_path: Path | None,
    ) -> None:
        self.spec = spec
        self.port = port
        self.pid = pid
        self.process = process
        self.log_path = log_path
        self.requests = 0
        """Requests routed to this server so far (to say when it died)."""

    def __repr__(self) -> str:
        owner = "owned" if self.owned else "shared"
        return f"LocalServer({self.spec.name!r}, {self.api_base}, pid={self.pid}, {owner})"

    @property
    def api_base(self) -> str:
        """The OpenAI-compatible base URL (``http://127.0.0.1:PORT/v1``)."""
        return f"http://{HOST}:{self.port}/v1"

    @property
    def owned(self) -> bool:
        """Whether this process started the server (and so stops it)."""
        return self.process is not None

    def alive(self) -> bool:
        """Whether the server process still runs (no request is made)."""
        if self.process is not None:
            return self.process.poll() is None
        return _pid_alive(self.pid)

    def death(self) -> str:
        """How this server ended, for an error message: exit status or signal, at which
        request, and the last lines of its log."""
        code = self.process.poll() if self.process is not None else None
        if code is None:
            how = "is gone"
        elif code < 0:
            try:
                how = f"died with {signal.Signals(-code).name}"
            except ValueError:
                how = f"was killed by signal {-code}"
        else:
            how = f"exited with status {code}"
        when = {0: "before any request", 1: "at its first request"}.get(
            self.requests, f"after {self.requests} requests"
        )
        return (
            f"the local model server for {self.spec.model_string} (llama.cpp, pid {self.pid}) "
            f"{how} {when}; log: {_log_tail(self.log_path)}"
        )

    def answers(self, timeout: float = 2.0) -> bool:
        """Whether ``GET /v1/models`` succeeds."""
        return _models(self.api_base, timeout) is not None

    def stop(self, timeout: float = 10.0) -> None:
        """Stop an owned server (its own process group only); a shared one is left alone."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        # The child leads its own session (start_new_session), so its group id is its pid
        # and the signal reaches it and anything it spawned, nothing else.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        if self.log_path is not None:
            self.log_path.unlink(missing_ok=True)

    @classmethod
    def start(cls, spec: ModelSpec, options: ServerOptions | None = None) -> LocalServer:
        """Start a server for ``spec`` as a child process and wait until it answers."""
        options = options or ServerOptions.from_env()
        if options.program is None:
            model_path = require_installed(spec)
            from ace.local_model._check import check_library

            check_library(model_path)
        else:
            model_path = Path(spec.filename)
        port = _free_port()
        state = state_dir()
        state.mkdir(parents=True, exist_ok=True)
        log_path = state / f"{spec.name}-{port}.log"
        launcher = options.program or (
            sys.executable,
            "-m",
            "ace.local_model._serve",
            "--parent-pid",
            str(os.getpid()),
            "--log",
            str(log_path),
            "--",
        )
        command = [
            *launcher, "--model", str(model_path), "--model_alias", spec.name,
            "--host", HOST, "--port", str(port),
            "--n_ctx", str(options.n_ctx), "--n_threads", str(options.threads()),
            "--n_threads_batch", str(options.threads()),
            # The default (True) keeps logits for every position: n_ctx × 152k floats.
            "--logits_all", "false",
            "--cache", "true", "--cache_type", "ram", "--cache_size", str(options.cache_bytes),
            # Only streaming requests are interrupted; ours queue behind the server's lock.
            "--interrupt_requests", "false",
        ]  # fmt: skip
        if spec.chat_format:
            command += ["--chat_format", spec.chat_format]
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        server = cls(spec, port=port, pid=process.pid, process=process, log_path=log_path)
        try:
            server._wait_ready(options.startup_timeout_s)
        except BaseException:
            server.stop(timeout=5.0)
            raise
        return server

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise LocalServerError(f"while starting, {self.death()}")
            if self.answers(timeout=1.0):
                return
            time.sleep(0.25)
        raise LocalServerError(
            f"the llama.cpp server for {self.spec.model_string} did not answer within "
            f"{timeout:.0f} s: {_log_tail(self.log_path)}"
        )


# -- the process-wide registry --------------------------------------------------------------

MAX_RESTARTS = 1
"""Restarts of a server that died before requests for it fail for the rest of the process."""

_lock = threading.Lock()
_servers: dict[str, LocalServer] = {}
_restarts: dict[str, int] = {}
_failures: dict[str, str] = {}
"""Per model name: why its server cannot be used in this process (sticky)."""
_options: dict[str, ServerOptions] = {}
"""Per model name: the options given to ``ensure_server``, reused when it restarts."""
_atexit_registered = False


def ensure_server(
    spec: ModelSpec = DEFAULT_MODEL, options: ServerOptions | None = None
) -> LocalServer:
    """The running server for ``spec``: this process's, a shared one, or a new child.

    ``options`` are remembered for this model's later starts. A server found dead is restarted at most ``MAX_RESTARTS`` times; after that, and after
    a failed start or library check, this raises ``LocalServerError`` (or its subclass
    ``LocalLibraryError``) with the cause, at once, for the rest of the process
    (``stop_servers()`` forgets it). Thread-safe: concurrent first calls start one server.
    """
    global _atexit_registered
    with _lock:
        if options is not None:
            _options[spec.name] = options
        failure = _failures.get(spec.name)
        if failure is not None:
            raise LocalServerError(failure, model=spec.model_string)
        server = _servers.get(spec.name)
        if server is not None and server.alive():
            return server
        if server is not None:
            del _servers[spec.name]
            if _restarts.get(spec.name, 0) >= MAX_RESTARTS:
                _failures[spec.name] = (
                    f"{server.death()} (it had been restarted {MAX_RESTARTS} time(s) after an "
                    "earlier death; not restarted again in this process)"
                )
                raise LocalServerError(_failures[spec.name], model=spec.model_string)
            _restarts[spec.name] = _restarts.get(spec.name, 0) + 1
        try:
            server = _attach_shared(spec) or LocalServer.start(spec, _options.get(spec.name))
        except LocalServerError as exc:
            _failures[spec.name] = str(exc)
            raise
        _servers[spec.name] = server
        if server.owned and not _atexit_registered:
            atexit.register(stop_servers)
            _atexit_registered = True
        return server


def server_failure(spec: ModelSpec) -> str | None:
    """Why requests to ``spec``'s server fail, if its server is known to have died."""
    with _lock:
        failure = _failures.get(spec.name)
        server = _servers.get(spec.name)
    if failure is not None:
        return failure
    if server is not None and not server.alive():
        return server.death()
    return None


def running_server(spec: ModelSpec = DEFAULT_MODEL) -> LocalServer | None:
    """This process's server for ``spec`` if one is up, without starting one."""
    with _lock:
        server = _servers.get(spec.name)
    return server if server is not None and server.alive() else None


def stop_servers() -> None:
    """Stop every server this process started (runs at exit) and forget earlier deaths."""
    with _lock:
        servers = list(_servers.values())
        _servers.clear()
        _restarts.clear()
        _failures.clear()
        _options.clear()
    for server in servers:
        server.stop()


def serve_shared(spec: ModelSpec = DEFAULT_MODEL) -> LocalServer:
    """Start a server and announce it in the state file, for ``ace model serve``.

    Other processes reuse it (warm prompt cache, no load time) until it is stopped.
    """
    server = ensure_server(spec)
    record = {"pid": server.pid, "port": server.port, "model": str(require_installed(spec))}
    path = _state_file(spec)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record) + "\n")
    os.replace(tmp, path)
    return server


def withdraw_shared(spec: ModelSpec = DEFAULT_MODEL) -> None:
    """Remove the state file written by ``serve_shared``."""
    _state_file(spec).unlink(missing_ok=True)


def state_dir() -> Path:
    """Where server logs and shared-server state files live (next to the models)."""
    return cache_dir().parent / "servers"


# -- availability ---------------------------------------------------------------------------


def extra_installed() -> bool:
    """Whether llama-cpp-python (the ``local`` extra) can be imported."""
    return importlib.util.find_spec("llama_cpp") is not None


def require_installed(spec: ModelSpec = DEFAULT_MODEL) -> Path:
    """The verified model file; raises ``LocalModelNotInstalled`` naming the fix."""
    if not extra_installed():
        raise LocalModelNotInstalled(
            f"{spec.model_string} needs llama-cpp-python, which is not installed: {EXTRA_HINT}"
        )
    path = installed_path(spec)
    if path is None:
        raise LocalModelNotInstalled(
            f"{spec.model_string} is not pulled: run `ace model pull` "
            f"({spec.size / 1e9:.1f} GB into {cache_dir()})"
        )
    return path


def local_model_available(spec: ModelSpec = DEFAULT_MODEL) -> bool:
    """Whether ``--model local`` can run now: the extra is installed and the model pulled."""
    return extra_installed() and installed_path(spec) is not None


# -- helpers --------------------------------------------------------------------------------


def _attach_shared(spec: ModelSpec) -> LocalServer | None:
    path = _state_file(spec)
    try:
        record = json.loads(path.read_text())
        pid, port, model = int(record["pid"]), int(record["port"]), str(record["model"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if model != str(installed_path(spec)) or not _pid_alive(pid):
        return None
    server = LocalServer(spec, port=port, pid=pid, process=None, log_path=None)
    return server if server.answers() else None


def _state_file(spec: ModelSpec) -> Path:
    folder = state_dir()
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{spec.name}.json"


def _models(api_base: str, timeout: float) -> object | None:
    # No proxies: the server is on loopback, and a proxy from the environment would
    # either fail or see the traffic.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{api_base}/models", timeout=timeout) as reply:
            data: object = json.loads(reply.read())
            return data
    except (OSError, ValueError, urllib.error.URLError):
        return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _log_tail(path: Path | None, lines: int = 3) -> str:
    if path is None:
        return "no log"
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return f"no log at {path}"
    tail = " | ".join(line.strip() for line in text[-lines:] if line.strip())
    return f"{tail or 'empty log'} (log: {path})"


def ensure_local_model(spec: ModelSpec = DEFAULT_MODEL, *, progress: bool = True) -> Path:
    """Make ``--model local`` runnable: pull the model if needed (idempotent).

    Raises ``LocalModelNotInstalled`` (naming the install command) when the extra is
    missing: compiling llama.cpp is a decision for the user or the Makefile, not a side
    effect of a function call.
    """
    if not extra_installed():
        raise LocalModelNotInstalled(
            f"{spec.model_string} needs llama-cpp-python, which is not installed: {EXTRA_HINT}"
        )
    from ace.local_model._pull import pull

    return pull(spec, progress=progress)
