"""``ace serve`` (the HTTP API) and ``ace keys create|list|revoke`` (its API keys).

Building the parser imports nothing but argparse; FastAPI, uvicorn and the database load
when a command runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

_URL_HELP = (
    "the service database: postgresql://USER:PASSWORD@HOST:PORT/DB or sqlite:///PATH "
    "(default: $ACE_DATABASE_URL, else sqlite:///ace.db)"
)


def add_serve_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``serve`` and ``keys`` (``create``, ``list``, ``revoke``) to the ``ace`` parser."""
    from ace.cli._parser import _positive_float, _positive_int

    serve = commands.add_parser(
        "serve",
        help="serve the ACE HTTP API (embed_prompt, episodes/learn, jobs, playbooks, metrics)",
        description="Serves the API under uvicorn (OpenAPI at /docs). Listens on 127.0.0.1 "
        "unless --host says otherwise; beyond loopback it refuses to start while no API key "
        "exists (ace keys create) unless --insecure. Models come from the flags, else the "
        "configuration (ace.toml, ACE_*_MODEL; see ace config). On SQLite the server runs the "
        "learn jobs itself (--workers threads); on PostgreSQL too, unless --workers 0 (then "
        "ace worker processes run them). SIGTERM or Ctrl-C stops it cleanly.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    serve.add_argument("--port", type=_port, default=8000, help="port (8000; 0: any free one)")
    serve.add_argument("--database-url", metavar="URL", help=_URL_HELP)
    serve.add_argument("--model", metavar="M", help="the model of both roles (litellm string)")
    serve.add_argument("--reflector-model", metavar="M", help="the reflector's model")
    serve.add_argument("--skill-manager-model", metavar="M", help="the skill manager's model")
    serve.add_argument("--subagent-model", metavar="M", help="the RR's sub-call model")
    serve.add_argument(
        "--reflector",
        choices=("simple", "rr"),
        default="simple",
        help="simple: the single-pass Reflector (default); rr: the Recursive Reflector",
    )
    serve.add_argument(
        "--workers",
        type=_non_negative_int,
        default=2,
        metavar="N",
        help="in-process worker threads (2); 0 leaves the jobs to ace worker (PostgreSQL only)",
    )
    serve.add_argument(
        "--insecure",
        action="store_true",
        help="allow listening beyond loopback with no API keys (anyone reaching the port "
        "could read and change every playbook)",
    )
    serve.add_argument(
        "--cors-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="allow browser calls from ORIGIN (repeatable; CORS is off without it)",
    )
    serve.add_argument(
        "--rate-limit",
        type=_positive_int,
        default=600,
        metavar="N",
        help="requests per minute per API key (600; a key's own limit replaces it)",
    )
    serve.add_argument(
        "--max-trajectory-bytes",
        type=_positive_int,
        default=10 * 1024 * 1024,
        metavar="N",
        help="largest trajectory of a learn request (10 MiB; larger is refused with 413)",
    )
    serve.add_argument(
        "--max-k", type=_positive_int, default=100, metavar="N", help="largest k (100)"
    )
    serve.add_argument(
        "--lease",
        type=_positive_float,
        default=30.0,
        metavar="S",
        help="seconds a job's claim lasts without a heartbeat (30)",
    )
    serve.add_argument(
        "--retention-days",
        type=_non_negative_float,
        metavar="D",
        help="delete done/failed jobs (and their trajectories) older than D days, hourly",
    )
    serve.add_argument(
        "--shutdown-grace",
        type=_non_negative_float,
        default=30.0,
        metavar="S",
        help="on SIGTERM, how long running jobs may finish before they are given back (30)",
    )
    serve.add_argument("--access-log", action="store_true", help="log every request")
    serve.set_defaults(handler="ace.cli._serve", action="serve")

    keys = commands.add_parser(
        "keys",
        help="API keys of the HTTP service: create, list, revoke",
        description="A key belongs to one tenant and may be limited to playbook ids "
        "starting with given prefixes. Once any key exists, every request but /healthz and "
        "/readyz needs one (Authorization: Bearer <key>). Only a hash is stored; the key "
        "is printed once, by create.",
    )
    actions = keys.add_subparsers(dest="keys_command", metavar="COMMAND", required=True)
    create = actions.add_parser("create", help="create a key and print it (once)")
    create.add_argument("--tenant", default="default", help="the key's tenant (default)")
    create.add_argument(
        "--prefix",
        action="append",
        default=[],
        metavar="P",
        help="only playbook ids starting with P (repeatable; default: any)",
    )
    create.add_argument("--name", metavar="TEXT", help="a note to recognise the key by")
    create.add_argument(
        "--rate-limit",
        type=_positive_int,
        metavar="N",
        help="requests per minute (default: the server's --rate-limit)",
    )
    create.add_argument("--database-url", metavar="URL", help=_URL_HELP)
    create.set_defaults(handler="ace.cli._serve", action="keys_create")
    listing = actions.add_parser("list", help="list keys (never their secrets)")
    listing.add_argument("--tenant", help="only this tenant's keys")
    listing.add_argument("--prefix", metavar="P", help="only keys limited to a prefix starting P")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.add_argument("--database-url", metavar="URL", help=_URL_HELP)
    listing.set_defaults(handler="ace.cli._serve", action="keys_list")
    revoke = actions.add_parser("revoke", help="revoke a key (its next request is refused)")
    revoke.add_argument("key_id", metavar="KEY_ID", help="the id shown by create and list")
    revoke.add_argument("--tenant", help="refuse unless the key belongs to this tenant")
    revoke.add_argument("--database-url", metavar="URL", help=_URL_HELP)
    revoke.set_defaults(handler="ace.cli._serve", action="keys_revoke")


def run(args: argparse.Namespace) -> int:
    """Run ``ace serve`` or ``ace keys ...``."""
    if args.action == "serve":
        return _serve(args)
    from ace.service import Store

    with Store(args.database_url, pool_size=1) as store:
        if args.action == "keys_create":
            return _keys_create(store, args)
        if args.action == "keys_list":
            return _keys_list(store, args)
        return _keys_revoke(store, args)


def _key_json(info: Any) -> dict[str, Any]:
    return {
        "id": info.id,
        "tenant": info.tenant,
        "prefixes": list(info.prefixes),
        "name": info.name,
        "rate_limit": info.rate_limit,
        "created_at": info.created_at.isoformat(),
        "revoked_at": info.revoked_at.isoformat() if info.revoked_at else None,
    }


def _keys_create(store: Any, args: argparse.Namespace) -> int:
    from ace.service.keys import create_key

    info, token = create_key(
        store, args.tenant, prefixes=args.prefix, name=args.name, rate_limit=args.rate_limit
    )
    limits = f"playbook ids starting with {', '.join(info.prefixes)}" if info.prefixes else "any"
    print(token)
    print(
        f"key {info.id} of tenant {info.tenant!r} ({limits} playbook); it is shown only "
        "now: store it safely. Every request to the service now needs a key.",
        file=sys.stderr,
    )
    return 0


def _keys_list(store: Any, args: argparse.Namespace) -> int:
    from ace.service.keys import list_keys

    found = list_keys(store, args.tenant)
    if args.prefix:
        found = [k for k in found if any(p.startswith(args.prefix) for p in k.prefixes)]
    if args.json:
        print(json.dumps([_key_json(k) for k in found], indent=2))
        return 0
    if not found:
        print("no API keys")
        return 0
    for key in found:
        prefixes = ",".join(key.prefixes) or "*"
        state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "active"
        rate = f"{key.rate_limit}/min" if key.rate_limit else "default rate"
        name = f"  {key.name}" if key.name else ""
        print(
            f"{key.id}  tenant={key.tenant}  prefixes={prefixes}  {rate}  "
            f"created {key.created_at:%Y-%m-%d %H:%M}  {state}{name}"
        )
    return 0


def _keys_revoke(store: Any, args: argparse.Namespace) -> int:
    from ace.cli._main import CLIError
    from ace.service.keys import get_key, revoke_key

    found = get_key(store, args.key_id)
    if found is None or (args.tenant is not None and found.tenant != args.tenant):
        raise CLIError(f"ace keys revoke: no API key {args.key_id!r} (see ace keys list)")
    info = revoke_key(store, args.key_id)
    print(f"key {info.id} of tenant {info.tenant!r} revoked")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from ace.cli._main import CLIError
    from ace.service import _db
    from ace.service.api.settings import ServiceSettings, check_bind, require_http_extra

    url = _db.database_url(args.database_url)
    _db.require_service_extra(postgres=not _db.is_sqlite(url))
    require_http_extra()
    if args.workers == 0 and _db.is_sqlite(url):
        raise CLIError(
            "ace serve: --workers 0 on SQLite would leave every learn job queued (ace worker "
            "needs PostgreSQL); keep --workers >= 1"
        )
    settings = ServiceSettings(
        max_trajectory_bytes=args.max_trajectory_bytes,
        max_k=args.max_k,
        rate_limit=args.rate_limit,
        cors_origins=tuple(args.cors_origin),
    )
    from ace.service import Store
    from ace.service.api.server import ServiceServer
    from ace.service.keys import keys_exist

    with Store(url, pool_size=args.workers + 8) as store:
        check_bind(args.host, keys_configured=keys_exist(store), insecure=args.insecure)
        config, keep_alive = (None, ()) if args.workers == 0 else _learner_config(args)
        server = ServiceServer(
            store,
            learner=config,
            workers=args.workers,
            host=args.host,
            port=args.port,
            settings=settings,
            insecure=args.insecure,
            pool_options={"lease_s": args.lease, "retention_days": args.retention_days},
            access_log=args.access_log,
            grace_s=args.shutdown_grace,
        )
        keyed = "API keys required" if keys_exist(store) else "no API keys (loopback only)"
        if args.insecure and not keys_exist(store):
            keyed = "no API keys, --insecure"
        learning = (
            f"{args.workers} worker thread(s), reflector {config.reflector} "
            f"({config.reflector_model}), skill manager ({config.skill_manager_model})"
            if config is not None
            else "no in-process workers (ace worker runs the jobs)"
        )
        import logging

        logging.basicConfig(format="%(asctime)s ace serve: %(message)s")
        logging.getLogger("ace.service").setLevel(logging.INFO)
        print(
            f"ace serve: {store.display_url}; {learning}; {keyed}",
            file=sys.stderr,
            flush=True,
        )
        server.run(
            on_listening=lambda url: print(
                f"ace serve: listening on {url} (docs at {url}/docs); SIGTERM or Ctrl-C stops",
                file=sys.stderr,
                flush=True,
            )
        )
    assert keep_alive is not None  # scripted models stay registered until here
    print("ace serve: stopped", file=sys.stderr, flush=True)
    return 0


def _learner_config(args: argparse.Namespace) -> tuple[Any, tuple[object, ...]]:
    from ace.cli._main import CLIError
    from ace.cli._service import _learner_config as resolve_models

    try:
        return resolve_models(args)
    except CLIError as exc:
        raise CLIError(str(exc).replace("ace worker:", "ace serve:"), exc.code) from None


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port 0-65535, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {value}")
    return value


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {value}")
    return value
