"""``ace models``, ``ace validate`` and ``ace config``: what is available, does it answer,
and what will run (with where each value came from)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ace.cli._main import EXIT_RUN_ERROR, CLIError


def run_models(args: argparse.Namespace) -> int:
    """List models from litellm's bundled price map (no network) matching the query."""
    from ace.llm import _litellm

    litellm = _litellm.load()
    words = [w.lower() for w in args.query]
    rows = []
    for name, info in sorted(litellm.model_cost.items()):
        if name == "sample_spec" or not isinstance(info, dict):
            continue
        provider = str(info.get("litellm_provider") or "")
        if not args.all and info.get("mode") not in ("chat", None):
            continue
        if args.provider and provider != args.provider:
            continue
        if not all(w in name.lower() or w in provider.lower() for w in words):
            continue
        rows.append(_model_row(name, provider, info))
    if args.json:
        print(json.dumps(rows[: args.limit], indent=2))
        return 0
    if not rows:
        raise CLIError(f"no model matches {' '.join(args.query)!r}; try a shorter query")
    shown = rows[: args.limit]
    width = max(len(r["model"]) for r in shown)
    print(f"{'MODEL':<{width}}  {'PROVIDER':<14} {'CONTEXT':>9} {'$/1M IN':>9} {'$/1M OUT':>9}")
    for r in shown:
        print(
            f"{r['model']:<{width}}  {r['provider'][:14]:<14} {_count(r['context']):>9} "
            f"{_price(r['input_per_million']):>9} {_price(r['output_per_million']):>9}"
        )
    if len(rows) > len(shown):
        print(
            f"... {len(rows) - len(shown)} more; narrow the query or pass --limit", file=sys.stderr
        )
    return 0


def _model_row(name: str, provider: str, info: dict[str, Any]) -> dict[str, Any]:
    def per_million(key: str) -> float | None:
        value = info.get(key)
        return round(float(value) * 1_000_000, 4) if isinstance(value, int | float) else None

    context = info.get("max_input_tokens") or info.get("max_tokens")
    return {
        "model": name,
        "provider": provider,
        "context": int(context) if isinstance(context, int | float) else None,
        "input_per_million": per_million("input_cost_per_token"),
        "output_per_million": per_million("output_cost_per_token"),
    }


def _count(value: int | None) -> str:
    return "?" if value is None else f"{value:,}"


def _price(value: float | None) -> str:
    return "?" if value is None else f"{value:.2f}"


def run_validate(args: argparse.Namespace) -> int:
    """One cheap call to MODEL: the answer and latency, or the cause of failure."""
    from ace.cli._models import check_model
    from ace.cli._session import root_cause
    from ace.config import resolve_config, validate_connection

    resolve_config().apply_dotenv()  # keys saved by ace setup
    check_model(args.model)
    result = validate_connection(args.model, timeout=args.timeout)
    if result.success:
        print(f"{args.model}: OK in {result.latency_s:.2f} s, answered {result.answer!r}")
        return 0
    print(f"{args.model}: failed after {result.latency_s:.2f} s: {root_cause(result.error or '')}")
    return EXIT_RUN_ERROR


def run_config(args: argparse.Namespace) -> int:
    """Print the resolved configuration and the source of every value."""
    from ace.config import resolve_config

    resolved = resolve_config(role_flags(args))
    keys = resolved.keys()
    if args.json:
        print(
            json.dumps(
                {
                    "config_file": str(resolved.config_path) if resolved.config_path else None,
                    "env_file": str(resolved.env_path) if resolved.dotenv else None,
                    "models": {
                        s.name: {"model": s.value, "source": s.source} for s in resolved.settings
                    },
                    "settings": {
                        role: {
                            k: v
                            for k, v in resolved.config.for_role(role).to_dict().items()
                            if k != "model"
                        }
                        for role in ("agent", "reflector", "skill_manager", "subagent")
                    },
                    "keys": {s.name: {"set": s.value == "set", "source": s.source} for s in keys},
                },
                indent=2,
            )
        )
        return 0
    print(f"config file: {resolved.config_path or '(none; run ace setup)'}")
    print(f"env file:    {resolved.env_path if resolved.dotenv else '(none)'}")
    print("precedence:  flags > environment > .env > ace.toml > defaults")
    print()
    width = max(len(s.name) for s in resolved.settings)
    for s in resolved.settings:
        extra = resolved.config.for_role(s.name).to_dict() if s.name != "default" else {}
        tuned = ", ".join(f"{k}={v}" for k, v in extra.items() if k != "model")
        print(f"{s.name:<{width}}  {s.value}  ({s.source}){'  ' + tuned if tuned else ''}")
    if keys:
        print()
        for s in keys:
            print(f"{s.name}: {'set' if s.value else 'MISSING'} ({s.source})")
    return 0


def role_flags(args: argparse.Namespace) -> dict[str, str | None]:
    """The per-role model flags of a command, keyed by role."""
    return {
        "default": getattr(args, "model", None),
        "agent": getattr(args, "agent_model", None),
        "reflector": getattr(args, "reflector_model", None),
        "skill_manager": getattr(args, "skill_manager_model", None),
        "subagent": getattr(args, "subagent_model", None),
    }


def run(args: argparse.Namespace) -> int:
    """Dispatch ``ace models``, ``ace validate`` and ``ace config``."""
    handlers = {"models": run_models, "validate": run_validate, "config": run_config}
    return handlers[args.action](args)
