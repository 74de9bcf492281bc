"""A scripted embedding model, reached through litellm's custom-provider interface.

``ScriptedEmbeddingModel(vectors)`` returns the vector given for each input text, so a
test controls every similarity exactly; its ``name`` (``"scripted-embedding/emb-1"``)
works wherever ACE takes an embedding model string, and ``litellm.embedding`` routes
it to the provider registered here. The real litellm embedding path runs. Every
request (the list of input texts) is recorded. Importing this module does not import
litellm.
"""

from __future__ import annotations

import itertools
import math
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ace.errors import UsageError
from ace.testing.models import ScriptError

EMBEDDING_PROVIDER = "scripted-embedding"
"""The litellm provider name under which scripted embedding models are registered."""

Vector = Sequence[float]

_registry: dict[str, ScriptedEmbeddingModel] = {}
_registry_lock = threading.Lock()
_counter = itertools.count(1)


class ScriptedEmbeddingModel:
    """Embeds each text with ``vectors[text]``, or ``fn(text)`` for texts not in ``vectors``.

    A text with neither raises ``ScriptError`` (through litellm), so a test never gets
    an accidental similarity. Thread-safe.
    """

    def __init__(
        self,
        vectors: Mapping[str, Vector] | None = None,
        *,
        fn: Callable[[str], Vector] | None = None,
        name: str | None = None,
    ) -> None:
        self._vectors = {text: [float(x) for x in vec] for text, vec in (vectors or {}).items()}
        self._fn = fn
        self._lock = threading.Lock()
        self.requests: list[list[str]] = []
        """The input texts of every request, in arrival order."""
        with _registry_lock:
            short = name if name is not None else f"emb-{next(_counter)}"
            if "/" in short or not short:
                raise UsageError(f"scripted model name must be non-empty without '/': {short!r}")
            if short in _registry:
                raise UsageError(f"a scripted embedding model named {short!r} already exists")
            _registry[short] = self
        self._short = short
        _register_when_litellm_loads()

    @property
    def name(self) -> str:
        """The model string to pass to litellm / ACE, e.g. ``"scripted-embedding/emb-1"``."""
        _register_when_litellm_loads()
        return f"{EMBEDDING_PROVIDER}/{self._short}"

    def __repr__(self) -> str:
        return f"ScriptedEmbeddingModel({self.name!r})"

    @property
    def texts_embedded(self) -> int:
        """How many texts were embedded over all requests."""
        with self._lock:
            return sum(len(r) for r in self.requests)

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Record the request and return one vector per text (called by the provider)."""
        with self._lock:
            self.requests.append(list(texts))
        vectors = []
        for text in texts:
            if text in self._vectors:
                vectors.append(list(self._vectors[text]))
            elif self._fn is not None:
                vectors.append([float(x) for x in self._fn(text)])
            else:
                raise ScriptError(
                    f"scripted embedding model {self.name!r} has no vector for {text[:80]!r}; "
                    "add it to `vectors` or give `fn`",
                    model=self.name,
                )
        return vectors


def cosine_pair(
    similarity: float, *, axis: int, other_axis: int, dims: int
) -> tuple[Vector, Vector]:
    """Two unit vectors of ``dims`` dimensions whose cosine similarity is ``similarity``.

    The first is the basis vector ``axis``; the second leans from it towards
    ``other_axis``. Give unrelated texts distinct axes to make them orthogonal.
    """
    if not -1.0 <= similarity <= 1.0 or axis == other_axis or max(axis, other_axis) >= dims:
        raise UsageError("cosine_pair: need -1 <= similarity <= 1 and two distinct axes < dims")
    first = [0.0] * dims
    first[axis] = 1.0
    second = [0.0] * dims
    second[axis] = similarity
    second[other_axis] = math.sqrt(max(0.0, 1.0 - similarity * similarity))
    return first, second


def _lookup(short: str) -> ScriptedEmbeddingModel:
    model = _registry.get(short)
    if model is None:
        raise ScriptError(
            f"no scripted embedding model named {EMBEDDING_PROVIDER}/{short}: create it with "
            "ace.testing.embeddings.ScriptedEmbeddingModel and use its .name",
            model=f"{EMBEDDING_PROVIDER}/{short}",
        )
    return model


def _fill(short: str, texts: Sequence[Any], response: Any, litellm: Any) -> Any:
    inputs = [texts] if isinstance(texts, str) else [str(t) for t in texts]
    vectors = _lookup(short).embed(inputs)
    response.data = [
        {"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)
    ]
    response.model = f"{EMBEDDING_PROVIDER}/{short}"
    tokens = sum(len(t) for t in inputs) // 4
    response.usage = litellm.Usage(prompt_tokens=tokens, completion_tokens=0, total_tokens=tokens)
    return response


def _provider_class(litellm: Any) -> type[Any]:
    class ScriptedEmbeddingProvider(litellm.CustomLLM):  # type: ignore[misc,name-defined]
        """Routes ``scripted-embedding/<name>`` embedding calls to the registered model."""

        def embedding(self, *args: Any, **kwargs: Any) -> Any:
            return _fill(kwargs["model"], kwargs["input"], kwargs["model_response"], litellm)

        async def aembedding(self, *args: Any, **kwargs: Any) -> Any:
            return _fill(kwargs["model"], kwargs["input"], kwargs["model_response"], litellm)

    return ScriptedEmbeddingProvider


def _register_when_litellm_loads() -> None:
    from ace.replay._register import register_provider

    register_provider(EMBEDDING_PROVIDER, lambda litellm: _provider_class(litellm)())
