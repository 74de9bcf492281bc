"""How alike two skills are: embedding cosine when a model is configured, lexical otherwise.

The lexical measure is deterministic and needs no model: both texts are normalised
(Unicode NFKC, lower case, words only) and compared as word sequences with difflib's
ratio, ``2 * matching words / total words``. Word order matters a little, small
insertions cost little: "always check units" vs "always check the units" is 0.86.
"""

from __future__ import annotations

import difflib
import itertools
import math
import operator
import re
import threading
import unicodedata
from collections.abc import Callable, Sequence

from ace.skillbook import Skill

_WORD = re.compile(r"\w+")

Embedder = Callable[[list[str]], list[list[float]]]
"""Turns texts into vectors (one per text, same order)."""


def words(text: str) -> list[str]:
    """The normalised words of ``text`` (NFKC, lower case, ``\\w+`` runs)."""
    return _WORD.findall(unicodedata.normalize("NFKC", text).lower())


def lexical_similarity(a: str, b: str) -> float:
    """difflib's ratio over the normalised word sequences of ``a`` and ``b`` (0..1)."""
    return _ratio(words(a), words(b), 0.0)


def _ratio(a: list[str], b: list[str], floor: float) -> float:
    if not a and not b:
        return 1.0
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    # The quick upper bounds skip the full comparison for most unrelated pairs.
    if matcher.real_quick_ratio() < floor or matcher.quick_ratio() < floor:
        return 0.0
    return matcher.ratio()


def cosine(u: Sequence[float], v: Sequence[float]) -> float:
    """Cosine similarity of two vectors (0.0 when either is all zeros)."""
    norm = math.sqrt(sum(x * x for x in u)) * math.sqrt(sum(x * x for x in v))
    return sum(map(operator.mul, u, v)) / norm if norm else 0.0


def embedding_text(skill: Skill) -> str:
    """What is embedded for a skill: its content with whitespace collapsed."""
    return " ".join(skill.content.split())


class PairScorer:
    """Scores skill pairs; caches embeddings by text so unchanged skills are embedded once."""

    def __init__(self, embedder: Embedder | None) -> None:
        self._embedder = embedder
        self._cache: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    @property
    def kind(self) -> str:
        """``"embedding"`` or ``"lexical"``, for reports and recorded decisions."""
        return "lexical" if self._embedder is None else "embedding"

    def pairs(
        self, skills: Sequence[Skill], floor: float, same_section: bool
    ) -> list[tuple[Skill, Skill, float]]:
        """Every pair scoring at least ``floor``, best first (ties by ids, for determinism)."""
        candidates = [
            (a, b)
            for a, b in itertools.combinations(skills, 2)
            if not same_section or a.section == b.section
        ]
        score = self._scorer(skills)
        scored = [(a, b, score(a, b, floor)) for a, b in candidates]
        kept = [item for item in scored if item[2] >= floor]
        kept.sort(key=lambda item: (-item[2], item[0].id, item[1].id))
        return kept

    def _scorer(self, skills: Sequence[Skill]) -> Callable[[Skill, Skill, float], float]:
        if self._embedder is None:
            tokens = {s.id: words(s.content) for s in skills}
            return lambda a, b, floor: _ratio(tokens[a.id], tokens[b.id], floor)
        vectors = self._vectors([embedding_text(s) for s in skills])
        unit = {s.id: _unit(vectors[embedding_text(s)]) for s in skills}
        return lambda a, b, floor: sum(map(operator.mul, unit[a.id], unit[b.id]))

    def _vectors(self, texts: list[str]) -> dict[str, list[float]]:
        assert self._embedder is not None
        with self._lock:
            missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            fresh = self._embedder(missing)
            with self._lock:
                self._cache.update(zip(missing, fresh, strict=True))
        with self._lock:
            # Forget texts no skill has any more (edited or removed skills).
            wanted = set(texts)
            self._cache = {t: v for t, v in self._cache.items() if t in wanted}
            return dict(self._cache)


def _unit(vector: Sequence[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in vector))
    return [x / norm for x in vector] if norm else [0.0 for _ in vector]
