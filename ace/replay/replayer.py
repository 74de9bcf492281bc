"""Serving recorded replies: the state behind ``replay/...`` model strings.

A :class:`Replayer` is registered under a short id; ``replayer.model_name(m)`` gives
``replay/<id>/<m>``, which litellm routes to the ``replay`` provider, which calls
:meth:`Replayer.answer`. Importing this module does not import litellm.
"""

from __future__ import annotations

import itertools
import threading
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from ace.errors import NonRetryableError, UsageError
from ace.replay.cassette import Cassette, Interaction, RecordedReply, request_key

PROVIDER = "replay"
"""The litellm provider name under which cassettes are replayed."""

_registry: dict[str, Replayer] = {}
_registry_lock = threading.Lock()
_ids = itertools.count(1)


class ReplayMismatchError(NonRetryableError):
    """A request had no recorded reply; the message names the first difference."""


class Replayer:
    """Answers requests from a cassette by model, message content and occurrence."""

    def __init__(self, cassette: Cassette, *, source: str | None = None) -> None:
        self.cassette = cassette
        self.source = source
        """Where the cassette came from, for error messages."""
        self.mismatches: list[str] = []
        """Every refused request's message, even if the caller swallowed the error."""
        self._by_key: dict[str, list[Interaction]] = defaultdict(list)
        for interaction in cassette.interactions:
            self._by_key[request_key(interaction.model, interaction.messages)].append(interaction)
        self._served: Counter[str] = Counter()
        self._lock = threading.Lock()
        with _registry_lock:
            self.id = f"cassette-{next(_ids)}"
            _registry[self.id] = self
        from ace.replay._register import register_replay_provider

        register_replay_provider()

    @classmethod
    def from_file(cls, path: str) -> Replayer:
        """Load a cassette file and register it."""
        return cls(Cassette.load(path), source=path)

    def model_name(self, original: str | None = None) -> str:
        """The model string that replays ``original`` (default: the recorded main model)."""
        model = original if original is not None else self.cassette.model
        if model is None:
            raise UsageError(
                f"cassette {self.source or self.id} does not say which model it recorded; "
                "pass the model explicitly"
            )
        return f"{PROVIDER}/{self.id}/{model}"

    @property
    def unused(self) -> int:
        """Recorded interactions not replayed yet."""
        with self._lock:
            served = sum(self._served.values())
        return len(self.cassette.interactions) - served

    def answer(self, model: str, messages: Sequence[Mapping[str, Any]]) -> RecordedReply:
        """The recorded reply for this request's next occurrence; raises on no match."""
        key = request_key(model, messages)
        with self._lock:
            recorded = self._by_key.get(key, [])
            occurrence = self._served[key]
            if occurrence < len(recorded):
                self._served[key] += 1
                return recorded[occurrence].reply
        from ace.replay._diff import describe_mismatch

        why = describe_mismatch(
            model, messages, self.cassette.interactions, exhausted_count=len(recorded)
        )
        message = (
            f"replay: no recorded reply in cassette {self.source or self.id} for this "
            f"request to {model!r}: {why}"
        )
        with self._lock:
            self.mismatches.append(message)
        raise ReplayMismatchError(message, model=f"{PROVIDER}/{self.id}/{model}")


def lookup(replay_model: str) -> tuple[Replayer, str] | None:
    """The replayer and original model named by ``<id>/<model>`` (provider prefix removed)."""
    cassette_id, _, original = replay_model.partition("/")
    replayer = _registry.get(cassette_id)
    return None if replayer is None or not original else (replayer, original)
