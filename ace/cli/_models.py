"""Turning ``--model``/``--subagent-model`` values into model strings, checked early.

``replay:CASSETTE.json`` and ``scripted:SESSION.json`` become registered providers;
any other value must be a model litellm knows with its API key in the environment, so
a typo or a missing key is one clear line before a kernel starts.
"""

from __future__ import annotations

from dataclasses import dataclass

from ace.cli._main import CLIError
from ace.config.keys import missing_key

REPLAY_PREFIX = "replay:"
SCRIPTED_PREFIX = "scripted:"


def configured_models(model: str | None, subagent_model: str | None) -> tuple[str, str | None]:
    """``--model``/``--subagent-model``, else the configuration's reflector and sub-agent
    models (flags > environment > .env > ace.toml; see ``ace config``). The ``.env`` keys
    the environment lacks are exported. Nothing configured at all is one line."""
    from ace.config import resolve_config

    resolved = resolve_config({"reflector": model, "subagent": subagent_model})
    resolved.apply_dotenv()
    by_role = {s.name: s for s in resolved.settings}
    if by_role["reflector"].source.startswith("same as") and by_role["default"].source == "default":
        raise CLIError("--model is required: pass it, or run `ace setup` (or set ACE_MODEL) once")
    sub = by_role["subagent"]
    return resolved.model_for("reflector"), None if sub.source.startswith("same as") else sub.value


@dataclass(frozen=True)
class Models:
    """The model strings to run with, and what serves them."""

    model: str
    subagent_model: str | None
    replayer: object | None = None
    """The ``ace.replay.Replayer`` when replaying (its ``mismatches`` are checked after)."""
    keep_alive: tuple[object, ...] = ()


def resolve(model: str, subagent_model: str | None) -> Models:
    """Resolve both options; raises ``CLIError`` for unknown models or missing keys."""
    if model.startswith(REPLAY_PREFIX):
        return _replay(model[len(REPLAY_PREFIX) :], subagent_model)
    if model.startswith(SCRIPTED_PREFIX):
        from ace.cli._scripted import ScriptedSession, scripted_models

        scripted = scripted_models(ScriptedSession.load(model[len(SCRIPTED_PREFIX) :]))
        sub = scripted.subagent_model
        if subagent_model is not None:
            check_model(subagent_model)
            sub = subagent_model
        return Models(scripted.model, sub, keep_alive=scripted.keep_alive)
    check_model(model)
    if subagent_model is not None:
        check_model(subagent_model)
    return Models(model, subagent_model)


def _replay(path: str, subagent_model: str | None) -> Models:
    from ace.replay import Replayer

    replayer = Replayer.from_file(path)
    main = replayer.model_name()
    recorded_sub = replayer.cassette.subagent_model
    if subagent_model is None or subagent_model == REPLAY_PREFIX + path:
        sub = replayer.model_name(recorded_sub) if recorded_sub else None
    else:
        raise CLIError(
            "--subagent-model: a replayed session replays its recorded sub-calls; "
            "leave --subagent-model out"
        )
    return Models(main, sub, replayer=replayer)


def check_model(model: str) -> None:
    """Fail with one line when litellm cannot route ``model`` or its key is missing."""
    from ace.llm.local import is_local_model

    if is_local_model(model):
        from ace.local_model import require_installed, spec_for

        require_installed(spec_for(model))  # one line naming the install command
        return
    absent = missing_key(model)
    if absent is not None:
        raise CLIError(
            f"model {model!r} needs {absent} in the environment "
            f"(e.g. export {absent.split(' or ')[0]}=...)"
        )
    from ace.llm import _litellm

    litellm = _litellm.load()
    try:
        litellm.get_llm_provider(model)
    except Exception:
        raise CLIError(
            f"unknown model {model!r}: litellm cannot tell which provider serves it; "
            "write it as provider/model, e.g. openai/gpt-4o-mini or anthropic/claude-sonnet-4-5"
        ) from None
    try:
        env = litellm.validate_environment(model=model)
    except Exception:
        return  # cannot tell; the first call will say
    missing = [
        key for key in env.get("missing_keys") or [] if "KEY" in key.upper() or "TOKEN" in key
    ]
    if missing:
        raise CLIError(
            f"model {model!r} needs {' and '.join(missing)} in the environment "
            f"(e.g. export {missing[0]}=...)"
        )
