"""``ace setup``: choose a model per role, store the keys, check each model, write the files.

Interactive by default; every answer is also a flag (``--model``, ``--agent-model``,
... ``--key-stdin``), and ``--non-interactive`` never asks, so it scripts and tests.
Keys are read without echo and written only to ``.env`` (mode 0600); they never appear
on the screen, in ``ace.toml`` or in an error message. Nothing is written unless every
model answered (or ``--no-validate``).
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from dataclasses import replace
from pathlib import Path

from ace.cli._config_cmds import role_flags
from ace.cli._main import EXIT_RUN_ERROR, CLIError
from ace.cli._session import say

QUESTIONS = {
    "default": "Default model (every role unless you choose otherwise)",
    "agent": "Agent model (answers the tasks)",
    "reflector": "Reflector model (analyses attempts; the RR's main model)",
    "skill_manager": "Skill manager model (edits the skillbook)",
    "subagent": "RR sub-agent model (cheap sub-calls from the RR's code)",
}


def run(args: argparse.Namespace) -> int:
    """Resolve the answers, ask for the missing ones, validate, then write both files."""
    from ace.config import (
        ROLES,
        ACEModelConfig,
        ModelConfig,
        key_variables,
        read_dotenv,
        resolve_config,
        save_config,
        validate_connection,
        write_dotenv,
    )

    directory = Path(args.dir).expanduser()
    if not directory.is_dir():
        raise CLIError(f"--dir {directory}: no such directory")
    interactive = not args.non_interactive
    os.environ.pop("ACE_CONFIG", None)  # setup writes into --dir; it resolves from there
    resolved = resolve_config(role_flags(args), start=directory)
    flags = {k: v for k, v in role_flags(args).items() if v}
    answers: dict[str, str] = {}
    for role in ("default", *ROLES):
        own = resolved.config.default if role == "default" else getattr(resolved.config, role)
        fallback = answers.get("reflector" if role == "subagent" else "default", "")
        current = own.model if own is not None else fallback
        if role in flags or not interactive:
            answers[role] = flags.get(role) or current
        else:
            answers[role] = _ask(f"{QUESTIONS[role]} [{current}]: ") or current
    config = ACEModelConfig(replace(resolved.config.default, model=answers["default"]))
    for role in ROLES:
        existing = getattr(resolved.config, role)
        inherited = config.for_role("reflector" if role == "subagent" else "default").model
        tuned = existing is not None and existing.to_dict() != {"model": existing.model}
        if answers[role] != inherited or tuned:
            setattr(
                config, role, replace(existing or ModelConfig(answers[role]), model=answers[role])
            )

    env_file = directory / ".env"
    stored = read_dotenv(env_file)
    keys = _keys_from_stdin() if args.key_stdin else {}
    for group in dict.fromkeys(key_variables(config.for_role(r).model) for r in ROLES):
        if not group or any(name in keys for name in group):
            continue
        have = any(os.environ.get(n) or stored.get(n) for n in group)
        if have and not args.replace_keys:
            continue
        if not interactive:
            if args.validate:
                raise CLIError(
                    f"{group[0]} is not set: pass it with --key-stdin "
                    f"(echo {group[0]}=... | ace setup --key-stdin ...) or export it"
                )
            continue
        value = _secret(f"{group[0]} (input hidden): ")
        if value:
            keys[group[0]] = value
    if args.validate:
        from ace.cli._session import root_cause

        saved = {name: os.environ.get(name) for name in keys}
        os.environ.update(keys)  # for the check calls only; restored below
        try:
            for model in dict.fromkeys(config.for_role(r).model for r in ROLES):
                result = validate_connection(model, timeout=args.timeout)
                if not result.success:
                    say(f"  {model}: failed: {root_cause(result.error or '')}")
                    say(
                        "nothing written; fix the model or key, or pass --no-validate to save anyway"
                    )
                    return EXIT_RUN_ERROR
                say(f"  {model}: OK in {result.latency_s:.2f} s")
        finally:
            for name, previous in saved.items():
                if previous is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = previous
    written = save_config(config, directory)
    say(f"wrote {written}")
    if keys:
        say(f"wrote {write_dotenv(env_file, keys)} (mode 0600; keep it out of version control)")
    say("check it with: ace config")
    return 0


def _ask(prompt: str) -> str:
    print(prompt, end="", file=sys.stderr, flush=True)
    line = sys.stdin.readline()
    if not line:
        raise CLIError(
            "no answer on standard input; pass the answers as flags with --non-interactive"
        )
    return line.strip()


def _secret(prompt: str) -> str:
    if sys.stdin.isatty():
        return getpass.getpass(prompt).strip()
    print(prompt, end="", file=sys.stderr, flush=True)  # piped in: nothing to echo
    return sys.stdin.readline().strip()


def _keys_from_stdin() -> dict[str, str]:
    keys: dict[str, str] = {}
    for number, line in enumerate(sys.stdin.read().splitlines(), 1):
        if not line.strip():
            continue
        name, sep, value = line.partition("=")
        if not sep or not name.strip().isidentifier() or not value.strip():
            raise CLIError(
                f"--key-stdin line {number}: expected NAME=VALUE (the value is not shown)"
            )
        keys[name.strip()] = value.strip()
    return keys
