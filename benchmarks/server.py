"""The ACE HTTP service against a bare FastAPI echo route, measured in the same run.

Run: ``.venv/bin/python -m benchmarks server`` (or ``python -m benchmarks.server``).

Two server processes on 127.0.0.1, each uvicorn in a thread with the same settings: the
*echo* process serves ``POST /echo`` (a plain FastAPI route that returns its JSON body);
the *ACE* process serves ``ace.service.api`` (``ServiceServer``) on SQLite, then on a
throw-away PostgreSQL cluster when PostgreSQL's server binaries are installed (as
``make test`` installs them; said so when they are not). This process is the load:

- ``embed_prompt`` on a 1,000-skill playbook, one client, 400 requests (after 40 to warm
  up), alternating with requests to the echo route with the same body: p50 and p99.
  Target: p50 <= 2x echo.
  Two playbooks: *typical* (the prompt matches about a tenth of the skills) and *dense*
  (it matches nearly all; the text index then scores ~1,000 skills).
- learn accept (``POST .../episodes/learn`` answered 202), 32 concurrent clients x 5
  requests, eight rounds: p50 and p99 against the echo route under the same load (rounds
  alternate; short rounds, because the echo route's own p50 varies up to 3x from one
  round of 640 requests to the next on 2 shared cores, with the client's CPU time).
  Target: p50 <= 2x.
- jobs per second with a scripted model that takes 200 ms per job (the reflector's and
  the curator's call, 100 ms each), 1, 2 and 4 in-process workers, 20 jobs per worker
  after one each to warm up, timed by the jobs' own timestamps: target >= 80% of
  workers x 5 jobs/s.

Everything is bounded (fixed request counts, timeouts) and stays on loopback.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

EMBED_REQUESTS = 400
EMBED_WARM_UP = 40
CLIENTS = 32
ACCEPTS_PER_CLIENT = 5
ACCEPT_ROUNDS = 8
JOBS_PER_WORKER = 20
CALL_LATENCY_S = 0.1
"""Per model call; a job makes two (reflector, curator): 200 ms of model time per job."""
WORKER_COUNTS = (1, 2, 4)
SKILLS = 1000
SHAPES = ("typical", "dense")
FAILURES: list[str] = []
"""Requests of the concurrent phase whose connection failed (reported, never hidden)."""
PROMPT = (
    "A customer reports that the invoice for order 1183 was charged twice after the "
    "courier returned the damaged parcel; check the refund policy, verify the payment "
    "gateway logs and answer politely with the next steps."
)
_WORDS_TEXT = (
    "invoice refund courier parcel payment gateway customer order damaged policy verify "
    "logs retry timeout schema migration index query cache token session billing "
    "currency address shipping tracking warehouse stock discount coupon tax receipt "
    "account password email reset audit ledger report export import backup restore "
    "queue worker deadline escalate apologise summarise confirm reproduce isolate"
)
_WORDS = _WORDS_TEXT.split(" ")


# ---------------------------------------------------------------------- server processes
def _echo_app() -> Any:
    from fastapi import FastAPI

    app = FastAPI()

    @app.post("/echo")
    def echo(body: dict[str, Any]) -> dict[str, Any]:
        return body

    return app


def _serve_forever(start: Any) -> None:
    """Read commands on stdin: ``serve ARGS`` (answers ``PORT n``) and ``stop``; exit on EOF."""
    server: Any = None
    for line in sys.stdin:
        command, _, rest = line.strip().partition(" ")
        if server is not None:
            server.stop()
            server = None
        if command == "serve":
            server = start(rest)
            print(f"PORT {server.port}", flush=True)
        elif command == "stop":
            print("STOPPED", flush=True)
    if server is not None:
        server.stop()


class _Echo:
    def __init__(self) -> None:
        import socket

        import uvicorn

        self.sock = socket.socket()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as ServiceServer
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(2048)
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(
            _echo_app(), log_level="warning", access_log=False, server_header=False,
            lifespan="off",
        )  # fmt: skip
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )
        self.thread.start()
        while not self.server.started:
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


def _start_ace(args: str) -> Any:
    from _service_support import ServiceTeam

    from ace.llm.retry import RetryPolicy
    from ace.service import LearnerConfig, Store
    from ace.service.api import ServiceServer

    url, workers = args.split(" ")
    team = ServiceTeam(delays={"reflector": CALL_LATENCY_S, "skill_manager": CALL_LATENCY_S})
    config = LearnerConfig(
        reflector_model=team.model.name,
        skill_manager_model=team.model.name,
        reflector_settings={"max_retries": 0},
        skill_manager_settings={"max_retries": 0},
    )
    store = Store(url, pool_size=int(workers) + 16)
    server = ServiceServer(
        store,
        learner=config,
        workers=int(workers),
        port=0,
        pool_options={"poll_s": 0.05, "retry_policy": RetryPolicy(max_retries=0)},
        grace_s=5,
    ).start()
    stop = server.stop

    def stop_and_close() -> None:
        stop()
        store.close()

    server.stop = stop_and_close  # type: ignore[method-assign]
    server._team = team  # type: ignore[attr-defined]  # keep the scripted model alive
    return server


class _Process:
    """A server process of this module, driven over its stdin."""

    def __init__(self, role: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.server", "--role", role],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parents[1],
            env={**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"},
        )

    def serve(self, *args: object) -> str:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(" ".join(["serve", *map(str, args)]) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line.startswith("PORT "):
            raise RuntimeError(f"the server process did not start: {line!r}")
        return f"http://127.0.0.1:{int(line.split()[1])}"

    def stop(self) -> None:
        """Stop the running server (the process stays)."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write("stop\n")
        self.process.stdin.flush()
        self.process.stdout.readline()

    def close(self) -> None:
        assert self.process.stdin is not None
        if self.process.poll() is not None:
            return
        self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# ---------------------------------------------------------------------- measurements
def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return statistics.median(ordered) * 1000, p99 * 1000


def _alternating(
    echo_url: str, url: str, path: str, body: dict[str, Any]
) -> tuple[list[float], list[float]]:
    """One client each, requests alternating (so load from elsewhere hits both alike)."""
    import httpx

    echo_times: list[float] = []
    times: list[float] = []
    with (
        httpx.Client(base_url=echo_url, timeout=30) as echo,
        httpx.Client(base_url=url, timeout=30) as http,
    ):
        for index in range(EMBED_WARM_UP + EMBED_REQUESTS):
            for client, target, into in ((echo, "/echo", echo_times), (http, path, times)):
                started = time.perf_counter()
                reply = client.post(target, json=body)
                elapsed = time.perf_counter() - started
                reply.raise_for_status()
                if index >= EMBED_WARM_UP:
                    into.append(elapsed)
    return echo_times, times


def _concurrent(url: str, path: str, body: dict[str, Any]) -> list[float]:
    import httpx

    async def client(http: httpx.AsyncClient, times: list[float]) -> None:
        for _ in range(ACCEPTS_PER_CLIENT):
            started = time.perf_counter()
            try:
                reply = await http.post(path, json=body)
            except httpx.TransportError as exc:  # counted and reported, not timed
                FAILURES.append(f"{path}: {type(exc).__name__}")
                continue
            times.append(time.perf_counter() - started)
            reply.raise_for_status()

    async def run() -> list[float]:
        limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
        async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as http:
            await http.post(path, json=body)  # open a connection before timing
            times: list[float] = []
            await asyncio.gather(*(client(http, times) for _ in range(CLIENTS)))
            return times

    return asyncio.run(run())


def _skillbook(shape: str) -> Any:
    """1,000 skills. ``typical``: 100 topics of 10 skills, each skill six words of its
    topic and two of 40 common ones, so a prompt about one topic matches about a tenth of
    the playbook; ``dense``: every skill nine words of one 52-word vocabulary, so the
    prompt matches nearly every skill (the full-text ranking scores each match)."""
    from ace import Skillbook

    rng = random.Random(1000)
    book = Skillbook()
    common = [f"common{i}" for i in range(40)]
    for index in range(SKILLS):
        if shape == "dense":
            w = rng.sample(_WORDS, 9)
            content = (
                f"When the {w[0]} and the {w[1]} disagree, {w[2]} the {w[3]} before you "
                f"{w[4]} the {w[5]}; {w[6]} {w[7]} {w[8]} (#{index})"
            )
        else:
            topic = [f"t{index // 10}x{i}" for i in range(15)]
            content = " ".join(rng.sample(topic, 6) + rng.sample(common, 2)) + f" (#{index})"
        book.add_skill(rng.choice(("billing", "support", "shipping", "accounts")), content)
    return book


def _prompt(shape: str) -> str:
    if shape == "dense":
        return PROMPT
    topic = " ".join(f"t42x{i}" for i in range(0, 15, 2))
    return f"A customer asks about {topic}; common3 and common17 apply. {PROMPT}"


def _jobs_done(http: Any) -> int:
    text = http.get("/metrics").text
    found = re.search(r'^ace_learn_jobs\{status="done"\} (\d+)$', text, re.M)
    return int(found.group(1)) if found else 0


def _run_jobs(http: Any, count: int, already: int) -> list[str]:
    body = {"user_message": "Task. LESSON-bench", "trajectory": "Assistant: 41\nExpected 42"}
    ids = [
        http.post("/playbooks/throughput/episodes/learn", json=body).json()["learn_job_id"]
        for _ in range(count)
    ]
    deadline = time.perf_counter() + 120
    while _jobs_done(http) < already + count:
        if time.perf_counter() > deadline:
            raise RuntimeError("learn jobs not done after 120 s")
        time.sleep(0.1)
    return ids


def _jobs_per_second(ace: _Process, url_for: Any, workers: int) -> float:
    """Steady state: one job per worker first (the roles are built on a thread's first
    job), then ``JOBS_PER_WORKER`` per worker, timed by the server's own timestamps (from
    the first job's creation to the last one's end)."""
    from datetime import datetime

    import httpx

    url = ace.serve(url_for(f"jobs{workers}"), workers)
    with httpx.Client(base_url=url, timeout=30) as http:
        _run_jobs(http, workers, 0)
        ids = _run_jobs(http, JOBS_PER_WORKER * workers, workers)
        jobs = [http.get(f"/jobs/{job_id}").json() for job_id in ids]
    assert all(job["status"] == "done" for job in jobs)
    started = min(datetime.fromisoformat(job["created_at"]) for job in jobs)
    finished = max(datetime.fromisoformat(job["finished_at"]) for job in jobs)
    return len(jobs) / (finished - started).total_seconds()


def _backend(name: str, url_for: Any, ace: _Process, echo_url: str) -> dict[str, float]:
    from ace.service import Store

    with Store(url_for("embed")) as store:
        for shape in SHAPES:
            store.import_skillbook(None, shape, _skillbook(shape))
        matched = {
            shape: sum(
                r.text_score > 0 for r in store.top_skills(None, shape, _prompt(shape), SKILLS)
            )
            for shape in SHAPES
        }
    url = ace.serve(url_for("embed"), 2)
    embeds: dict[str, tuple[tuple[float, float], tuple[float, float]]] = {}
    for shape in SHAPES:
        body = {"prompt": _prompt(shape), "k": 20}
        echo_times, times = _alternating(echo_url, url, f"/playbooks/{shape}/embed_prompt", body)
        embeds[shape] = (_percentiles(echo_times), _percentiles(times))
    learn_body = {
        "user_message": PROMPT + "\n\n**PLAYBOOK_BEGIN**\n(no strategies learned yet)\n"
        "**PLAYBOOK_END**",
        "trajectory": "User: " + PROMPT + "\nAssistant: refunded\n" + "tool output " * 400,
    }
    echo_32_times: list[float] = []
    accept_times: list[float] = []
    for _ in range(ACCEPT_ROUNDS):  # alternating
        echo_32_times += _concurrent(echo_url, "/echo", learn_body)
        accept_times += _concurrent(url, "/playbooks/accept/episodes/learn", learn_body)
    echo_32, accept = _percentiles(echo_32_times), _percentiles(accept_times)
    rates = {w: _jobs_per_second(ace, url_for, w) for w in WORKER_COUNTS}
    ace.stop()
    results: dict[str, float] = {}
    for shape, (echo, embed) in embeds.items():
        results.update(
            {
                f"{shape}_echo_p50_ms": echo[0],
                f"{shape}_echo_p99_ms": echo[1],
                f"{shape}_embed_p50_ms": embed[0],
                f"{shape}_embed_p99_ms": embed[1],
                f"{shape}_embed_ratio": embed[0] / echo[0],
            }
        )
    results.update(
        {
            "echo32_p50_ms": echo_32[0],
            "echo32_p99_ms": echo_32[1],
            "accept_p50_ms": accept[0],
            "accept_p99_ms": accept[1],
            "accept_ratio": accept[0] / echo_32[0],
            **{f"jobs_per_s_{w}": rate for w, rate in rates.items()},
        }
    )

    def verdict(ok: bool) -> str:
        return "met" if ok else "MISSED"

    print(f"{name}:")
    for shape, (echo, embed) in embeds.items():
        ratio = results[f"{shape}_embed_ratio"]
        print(
            f"  embed_prompt, 1,000 skills ({shape}: the prompt matches {matched[shape]}), k=20, "
            f"{EMBED_REQUESTS} sequential: p50 {embed[0]:.2f} ms, p99 {embed[1]:.2f} ms; echo "
            f"p50 {echo[0]:.2f} ms, p99 {echo[1]:.2f} ms; ratio {ratio:.2f}x (target <= 2x: "
            f"{verdict(ratio <= 2)})"
        )
    if FAILURES:
        print(f"  {len(FAILURES)} concurrent request(s) failed: {sorted(set(FAILURES))}")
        FAILURES.clear()
    print(
        f"  learn accept, {CLIENTS} concurrent clients x {ACCEPTS_PER_CLIENT} requests x "
        f"{ACCEPT_ROUNDS} rounds: p50 "
        f"{accept[0]:.2f} ms, p99 {accept[1]:.2f} ms; echo p50 {echo_32[0]:.2f} ms, p99 "
        f"{echo_32[1]:.2f} ms; ratio {results['accept_ratio']:.2f}x (target <= 2x: "
        f"{verdict(results['accept_ratio'] <= 2)})"
    )
    for workers, rate in rates.items():
        ideal = workers * 1 / (2 * CALL_LATENCY_S)
        print(
            f"  jobs/s, {workers} worker(s), 200 ms model time per job: {rate:.2f} "
            f"({rate / ideal:.0%} of {ideal:.0f}/s; target >= 80%: {verdict(rate >= 0.8 * ideal)})"
        )
    return results


def main() -> dict[str, dict[str, float]]:
    """Run the measurements on SQLite (and PostgreSQL when available); print and return."""
    from _postgres import PostgresCluster, postgres_bin_dir

    results: dict[str, dict[str, float]] = {}
    echo = _Process("echo")
    ace = _Process("ace")
    try:
        echo_url = echo.serve()
        with tempfile.TemporaryDirectory(prefix="ace-bench-server-") as folder:
            results["sqlite"] = _backend(
                "SQLite (WAL file)", lambda name: f"sqlite:///{folder}/{name}.db", ace, echo_url
            )
        bin_dir = postgres_bin_dir()
        if bin_dir is None:
            print("PostgreSQL: not measured (no server binaries under /usr/lib/postgresql)")
            return results
        cluster = PostgresCluster(bin_dir)
        try:
            cluster.start()
            made: dict[str, str] = {}

            def pg_url(name: str) -> str:
                if name not in made:
                    made[name] = cluster.create_database(f"bench_{name}")
                return made[name]

            results["postgresql"] = _backend(
                f"PostgreSQL ({bin_dir.parent.name}, loopback, fsync off)", pg_url, ace, echo_url
            )
        finally:
            ace.stop()
            cluster.stop()
    finally:
        ace.close()
        echo.close()
    return results


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--role":
        if sys.argv[2] == "echo":
            _serve_forever(lambda rest: _Echo())
        else:
            from ace.llm import _litellm

            _litellm.load()
            _serve_forever(_start_ace)
    else:
        main()
