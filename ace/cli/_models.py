"""Turning ``--model``/``--subagent-model`` values into model strings, checked early.

``replay:CASSETTE.json`` and ``scripted:SESSION.json`` become registered providers;
any other value must be a model litellm knows with its API key in the environment, so
a typo or a missing key is one clear line before a kernel starts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ace.cli._main import CLIError

REPLAY_PREFIX = "replay:"
SCRIPTED_PREFIX = "scripted:"

PROVIDER_KEYS: dict[str, tuple[str, ...]] = {
    "openai/": ("OPENAI_API_KEY",),
    "anthropic/": ("ANTHROPIC_API_KEY",),
    "gemini/": ("GEMINI_API_KEY", "GOOGLE_API_KEY"),
    "groq/": ("GROQ_API_KEY",),
    "mistral/": ("MISTRAL_API_KEY",),
    "deepseek/": ("DEEPSEEK_API_KEY",),
    "openrouter/": ("OPENROUTER_API_KEY",),
    "together_ai/": ("TOGETHERAI_API_KEY",),
    "xai/": ("XAI_API_KEY",),
    "cohere/": ("COHERE_API_KEY",),
    "fireworks_ai/": ("FIREWORKS_AI_API_KEY",),
    "perplexity/": ("PERPLEXITYAI_API_KEY",),
    "cerebras/": ("CEREBRAS_API_KEY",),
    "nvidia_nim/": ("NVIDIA_NIM_API_KEY",),
}
"""Hosted providers whose key variable is known without importing litellm (3-4 s), so a
missing key is reported at once; each entry is checked against litellm's own answer by a
test. Bare OpenAI names (``gpt-*``, ``o1*``, ``o3*``, ``o4*``) count as ``openai/``."""
_BARE_OPENAI = ("gpt-", "chatgpt-", "o1", "o3", "o4")


def missing_key(model: str) -> str | None:
    """The key variable `model` needs and the environment lacks, if known without litellm."""
    prefix = next((p for p in PROVIDER_KEYS if model.startswith(p)), None)
    if prefix is None and model.startswith(_BARE_OPENAI):
        prefix = "openai/"
    if prefix is None:
        return None
    names = PROVIDER_KEYS[prefix]
    return None if any(os.environ.get(name) for name in names) else " or ".join(names)


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
