"""Getting a typed value out of a model's text: JSON extraction, validation, feedback.

Models wrap JSON in prose and code fences, or add a sentence after it. ``extract_json``
finds the value; ``parse_structured`` validates it; ``feedback_message`` tells the model
what was wrong so the next validation round can fix it. The texts a model reads are in
``prompts/llm/structured.j2``.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any, TypeVar, cast

from pydantic import TypeAdapter, ValidationError

from ace._text import clean_json
from ace.errors import StructuredOutputError
from ace.prompting import render_prompt

T = TypeVar("T")

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\r?\n(.*?)```", re.DOTALL)
_MAX_ERROR_CHARS = 2000
_decoder = json.JSONDecoder()


def extract_json(text: str) -> Any | None:
    """The JSON value a model meant to return, or None if there is none.

    Tried in order: the whole text; each fenced code block (``json``-tagged ones first);
    the first ``{`` from which a complete object parses (trailing prose is ignored).
    Strings are cleaned of lone surrogates, which JSON escapes can produce.
    """
    return clean_json(_extract_json(text))


def _extract_json(text: str) -> Any | None:
    stripped = text.strip()
    if stripped:
        try:
            return json.loads(stripped)
        except (ValueError, RecursionError, MemoryError):
            pass
    blocks = sorted(_FENCE.finditer(text), key=lambda m: m.group(1).lower() != "json")
    for block in blocks:
        try:
            return json.loads(block.group(2))
        except (ValueError, RecursionError, MemoryError):
            continue
    return _first_object(text)


def _first_object(text: str) -> dict[str, Any] | None:
    start = text.find("{")
    while start != -1:
        try:
            value, _ = _decoder.raw_decode(text, start)
        except (ValueError, RecursionError, MemoryError):
            pass
        else:
            if isinstance(value, dict):
                return value
        start = text.find("{", start + 1)
    return None


def _say(part: str, **variables: Any) -> str:
    return render_prompt("llm/structured.j2", part=part, **variables)


_adapters: dict[Any, TypeAdapter[Any]] = {}


def _adapter(output_type: Any) -> TypeAdapter[Any]:
    adapter = _adapters.get(output_type)
    if adapter is None:
        adapter = _adapters.setdefault(output_type, TypeAdapter(output_type))
    return adapter


def json_schema(output_type: type[Any]) -> dict[str, Any]:
    """The JSON schema of ``output_type`` (a pydantic model or any pydantic-supported type);
    a fresh copy each call, so callers may change it."""
    return copy.deepcopy(_schema(output_type))


_schemas: dict[Any, dict[str, Any]] = {}


def _schema(output_type: Any) -> dict[str, Any]:
    # Generating a schema costs milliseconds (a fifth of a service learn job's own CPU
    # before this cache); a type's schema never changes.
    found = _schemas.get(output_type)
    if found is None:
        found = _schemas.setdefault(output_type, _adapter(output_type).json_schema())
    return found


def parse_structured(text: str, output_type: type[T], *, model: str | None = None) -> T:
    """Validate a model's reply into ``output_type``.

    Raises ``StructuredOutputError`` (with ``last_text``) when no JSON is found or it does
    not validate; the message is written to be shown to the model as feedback.
    """
    value = extract_json(text)
    if value is None:
        raise StructuredOutputError(_say("no_json"), model=model, attempts=1, last_text=text)
    try:
        return cast(T, _adapter(output_type).validate_python(value))
    except ValidationError as exc:
        raise StructuredOutputError(
            _describe(exc), model=model, attempts=1, last_text=text
        ) from exc


def _describe(exc: ValidationError) -> str:
    errors = [
        (".".join(str(part) for part in error["loc"]), error["msg"])
        for error in exc.errors(include_url=False, include_input=False)
    ]
    message = _say("mismatch", count=exc.error_count(), errors=errors)
    if len(message) > _MAX_ERROR_CHARS:
        message = message[:_MAX_ERROR_CHARS] + "\n" + _say("mismatch_cut")
    return message


def schema_instruction(output_type: type[Any]) -> str:
    """The instruction added when the provider has no JSON-schema mode."""
    schema = json.dumps(_schema(output_type), separators=(",", ":"))
    return _say("schema_instruction", schema=schema)


def feedback_message(error: StructuredOutputError, output_type: type[Any]) -> str:
    """The user message that tells the model why its previous reply was rejected."""
    return _say("feedback", error=error, instruction=schema_instruction(output_type))


def response_format_for(output_type: type[Any]) -> dict[str, Any]:
    """An OpenAI-style ``json_schema`` response format for ``output_type``."""
    name = re.sub(r"[^A-Za-z0-9_-]", "_", getattr(output_type, "__name__", "output"))[:64]
    return {
        "type": "json_schema",
        "json_schema": {"name": name or "output", "schema": json_schema(output_type)},
    }
