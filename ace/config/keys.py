"""Which environment variable holds the API key of a hosted model, known without litellm."""

from __future__ import annotations

import os

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
test. Bare OpenAI names (``gpt-*``, ``o1*``, ``o3*``, ``o4*``) count as ``openai/``; the
first variable of a group is the one ``ace setup`` writes."""

_BARE_OPENAI = ("gpt-", "chatgpt-", "o1", "o3", "o4")


def key_variables(model: str) -> tuple[str, ...]:
    """The variables that can hold ``model``'s key (any one will do); () when unknown."""
    prefix = next((p for p in PROVIDER_KEYS if model.startswith(p)), None)
    if prefix is None and model.startswith(_BARE_OPENAI):
        prefix = "openai/"
    return PROVIDER_KEYS[prefix] if prefix is not None else ()


def missing_key(model: str) -> str | None:
    """The key variable ``model`` needs and the environment lacks, if known without litellm."""
    names = key_variables(model)
    if not names or any(os.environ.get(name) for name in names):
        return None
    return " or ".join(names)
