"""``ace db upgrade|current`` and ``ace worker``: the service store's commands.

Building the parser imports nothing but argparse; the database code loads when a command
runs.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from ace.service.learner import LearnerConfig

_URL_HELP = (
    "the service database: postgresql://USER:PASSWORD@HOST:PORT/DB or sqlite:///PATH "
    "(default: $ACE_DATABASE_URL, else sqlite:///ace.db)"
)


def add_service_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``db`` (``upgrade``, ``current``) and ``worker`` to the ``ace`` parser."""
    db = commands.add_parser("db", help="the service database: migrate it, show its revision")
    db_commands = db.add_subparsers(dest="db_command", metavar="COMMAND", required=True)
    upgrade = db_commands.add_parser(
        "upgrade",
        help="migrate the service database to this ace's schema (creating it if new)",
        description="Runs the packaged migrations; refuses a database newer than this ace.",
    )
    upgrade.add_argument("--database-url", metavar="URL", help=_URL_HELP)
    upgrade.add_argument(
        "--revision", default="head", metavar="REV", help="stop at this revision (default: head)"
    )
    upgrade.set_defaults(handler="ace.cli._service", action="db_upgrade")
    current = db_commands.add_parser("current", help="print the database's schema revision")
    current.add_argument("--database-url", metavar="URL", help=_URL_HELP)
    current.set_defaults(handler="ace.cli._service", action="db_current")

    worker = commands.add_parser(
        "worker",
        help="run learn-job workers against a PostgreSQL service database",
        description="Claims queued learn jobs, reflects on each run and curates its playbook. "
        "Models come from the flags, else the configuration (ace.toml, ACE_*_MODEL; see ace "
        "config). SIGTERM or Ctrl-C stops claiming, lets running jobs finish (up to "
        "--shutdown-grace) and gives the rest back to the queue. On SQLite the service runs "
        "its own in-process workers, so this command refuses it.",
    )
    worker.add_argument("--database-url", metavar="URL", help=_URL_HELP)
    worker.add_argument(
        "--concurrency", type=_positive_int, default=1, metavar="N", help="worker threads (1)"
    )
    worker.add_argument("--model", metavar="M", help="the model of both roles (litellm string)")
    worker.add_argument("--reflector-model", metavar="M", help="the reflector's model")
    worker.add_argument("--skill-manager-model", metavar="M", help="the skill manager's model")
    worker.add_argument("--subagent-model", metavar="M", help="the RR's sub-call model")
    worker.add_argument(
        "--reflector",
        choices=("simple", "rr"),
        default="simple",
        help="simple: the single-pass Reflector (default); rr: the Recursive Reflector",
    )
    worker.add_argument(
        "--lease",
        type=_positive_float,
        default=30.0,
        metavar="S",
        help="seconds a claim lasts without a heartbeat before another worker retakes the job "
        "(default 30)",
    )
    worker.add_argument(
        "--poll", type=_positive_float, default=1.0, metavar="S", help="idle poll interval (1)"
    )
    worker.add_argument(
        "--max-attempts",
        type=_positive_int,
        default=5,
        metavar="N",
        help="attempts of a job whose failures a retry can fix (default 5)",
    )
    worker.add_argument(
        "--retry-delay",
        type=_positive_float,
        default=5.0,
        metavar="S",
        help="wait before the first retry, tripled each time, at most 600 s (default 5)",
    )
    worker.add_argument(
        "--retention-days",
        type=_non_negative_float,
        metavar="D",
        help="delete done/failed jobs (and their trajectories) older than D days, hourly",
    )
    worker.add_argument(
        "--shutdown-grace",
        type=_non_negative_float,
        default=30.0,
        metavar="S",
        help="on SIGTERM, how long running jobs may finish before they are given back (30)",
    )
    worker.set_defaults(handler="ace.cli._service", action="worker")


def run(args: argparse.Namespace) -> int:
    """Run ``ace db ...`` or ``ace worker``."""
    if args.action == "db_upgrade":
        return _db_upgrade(args)
    if args.action == "db_current":
        return _db_current(args)
    return _worker(args)


def _engine_for(url_arg: str | None) -> tuple[str, Engine]:
    from ace.service import _db

    url = _db.database_url(url_arg)
    return url, _db.make_engine(url, pool_size=1)


def _db_upgrade(args: argparse.Namespace) -> int:
    from ace.service import _db, schema

    url, engine = _engine_for(args.database_url)
    shown = _db.redacted(url)
    try:
        before = schema.upgrade(engine, args.revision, url_for_messages=shown)
        after = schema.state(engine)
    finally:
        engine.dispose()
    if before.current == after.current:
        print(f"{shown}: schema already at revision {after.current} (newest: {after.head})")
    else:
        print(f"{shown}: schema upgraded from {before.current or 'empty'} to {after.current}")
    return 0


def _db_current(args: argparse.Namespace) -> int:
    from ace.service import _db, schema

    url, engine = _engine_for(args.database_url)
    try:
        found = schema.state(engine)
    finally:
        engine.dispose()
    status = (
        "up to date"
        if found.up_to_date
        else "newer than this ace"
        if found.newer
        else "run `ace db upgrade`"
    )
    print(
        f"{_db.redacted(url)}: revision {found.current or 'none'} (newest known: {found.head}; {status})"
    )
    return 0


def _worker(args: argparse.Namespace) -> int:
    import logging
    import signal
    import threading

    from ace.cli._main import CLIError
    from ace.llm.retry import RetryPolicy
    from ace.service import _db

    url = _db.database_url(args.database_url)
    if _db.is_sqlite(url):
        raise CLIError(
            f"ace worker: {url} is SQLite, which runs one in-process worker pool inside the "
            "service that owns the file; separate worker processes need PostgreSQL "
            "(--database-url postgresql://USER:PASSWORD@HOST:PORT/DB)"
        )
    _db.require_service_extra(postgres=True)
    stop = threading.Event()

    def _request_stop(signum: int, frame: object) -> None:
        stop.set()

    # From here on a signal asks for a clean stop, even during the (slow) start-up.
    previous = {sig: signal.signal(sig, _request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        config, keep_alive = _learner_config(args)
        from ace.service import Learner, Store, WorkerPool

        store = Store(url, pool_size=args.concurrency + 2)
        try:
            pool = WorkerPool(
                store,
                Learner(config),
                concurrency=args.concurrency,
                lease_s=args.lease,
                poll_s=args.poll,
                retry_policy=RetryPolicy(
                    max_retries=args.max_attempts - 1,
                    initial_delay_s=args.retry_delay,
                    multiplier=3.0,
                    max_delay_s=600.0,
                ),
                retention_days=args.retention_days,
            )
            logging.basicConfig(format="%(asctime)s ace worker: %(message)s")
            logging.getLogger("ace.service").setLevel(logging.INFO)
            if not stop.is_set():
                pool.start()
                print(
                    f"ace worker {pool.worker_id}: {store.display_url}, {args.concurrency} "
                    f"thread(s), reflector {config.reflector} ({config.reflector_model}), skill "
                    f"manager ({config.skill_manager_model}); SIGTERM or Ctrl-C stops",
                    file=sys.stderr,
                    flush=True,
                )
            while not stop.wait(timeout=1.0):
                pass
            print(
                f"ace worker: stopping; running jobs may finish for {args.shutdown_grace:g} s",
                file=sys.stderr,
                flush=True,
            )
            pool.stop(grace_s=args.shutdown_grace)
        finally:
            store.close()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    stats = pool.stats
    assert keep_alive is not None  # scripted models stay registered until here
    print(
        f"ace worker: stopped; {stats.done} done, {stats.retried} to retry, {stats.failed} failed, "
        f"{stats.released} given back, {stats.lost} lost",
        file=sys.stderr,
        flush=True,
    )
    return 0


def _learner_config(args: argparse.Namespace) -> tuple[LearnerConfig, tuple[object, ...]]:
    """The roles' models from the flags and the configuration, checked before any job."""
    import dataclasses

    from ace.cli._main import CLIError
    from ace.cli._models import REPLAY_PREFIX, SCRIPTED_PREFIX, check_model, resolve
    from ace.config import resolve_config
    from ace.service.learner import LearnerConfig

    keep_alive: tuple[object, ...] = ()
    flags = {
        "default": args.model,
        "reflector": args.reflector_model,
        "skill_manager": args.skill_manager_model,
        "subagent": args.subagent_model,
    }
    resolved = resolve_config(flags)
    resolved.apply_dotenv()
    sources = {s.name: s.source for s in resolved.settings}
    if sources["default"] == "default" and all(
        sources[role] == "same as default" for role in ("reflector", "skill_manager")
    ):
        raise CLIError(
            "ace worker: no model configured: pass --model, or run `ace setup` (or set ACE_MODEL)"
        )
    config = LearnerConfig.from_config(resolved, reflector=args.reflector)
    models = {config.reflector_model, config.skill_manager_model}
    if any(m.startswith((SCRIPTED_PREFIX, REPLAY_PREFIX)) for m in models):
        if len(models) != 1:
            raise CLIError(
                "ace worker: a scripted or replayed session serves both roles; use --model"
            )
        served = resolve(config.reflector_model, config.subagent_model)
        keep_alive = served.keep_alive
        config = dataclasses.replace(
            config,
            reflector_model=served.model,
            skill_manager_model=served.model,
            subagent_model=served.subagent_model if config.reflector == "rr" else None,
        )
        return config, keep_alive
    settings = {config.reflector_model: config.reflector_settings}
    settings[config.skill_manager_model] = config.skill_manager_settings
    for model in [*models, *([config.subagent_model] if config.subagent_model else [])]:
        if "api_key" not in settings.get(model, {}):
            check_model(model)
    return config, keep_alive


def _positive_int(text: str) -> int:
    from ace.cli._parser import _positive_int as parse

    return parse(text)


def _positive_float(text: str) -> float:
    from ace.cli._parser import _positive_float as parse

    return parse(text)


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {value}")
    return value
