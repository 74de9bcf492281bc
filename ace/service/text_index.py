"""The full-text index of a playbook's skills: BM25 over stemmed words, built in process.

One rule on every database, so SQLite and PostgreSQL rank a prompt alike:

- Words are runs of letters and digits, lower-cased, reduced to their English stem
  (Snowball's English stemmer, "Porter2": *migrate*, *migrations* and *migrating* are one
  term). A query's words are ``relevance.query_terms`` (common English words left out).
- A skill's term frequency is its count in the content plus `SECTION_WEIGHT` times its
  count in the section; its length is the number of words of both.
- BM25 with ``k1 = 1.2`` and ``b = 0.75``, and ``idf = ln(1 + (N - n + 0.5) / (n + 0.5))``
  (always positive, so every match scores above 0). Each distinct stem counts once.

An index is immutable and built from one version of a playbook; the API keeps one per
playbook version (``ace.service.api.ranking``), so a request only adds up postings.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Iterable
from functools import lru_cache

SECTION_WEIGHT = 0.5
"""A word of a skill's section counts half as much as one of its content."""
K1 = 1.2
B = 0.75

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_stemmer_lock = threading.Lock()
_stemmers: list[object] = []


@lru_cache(maxsize=1 << 16)
def stem(word: str) -> str:
    """The English stem of a lower-case word (cached; safe from any thread)."""
    with _stemmer_lock:  # a Snowball stemmer keeps state while it works
        if not _stemmers:
            import snowballstemmer  # type: ignore[import-untyped]

            _stemmers.append(snowballstemmer.stemmer("english"))
        return str(_stemmers[0].stemWord(word))  # type: ignore[attr-defined]


def _words(text: str) -> list[str]:
    return [word.lower() for word in _WORD.findall(text)]


class TextIndex:
    """BM25 scores of a fixed set of documents (skills: a key, content and section)."""

    __slots__ = ("_postings", "size")

    def __init__(self, documents: Iterable[tuple[int, str, str]]) -> None:
        frequencies: dict[int, dict[str, float]] = {}
        lengths: dict[int, int] = {}
        for key, content, section in documents:
            counts: dict[str, float] = {}
            content_words, section_words = _words(content), _words(section)
            for word in content_words:
                term = stem(word)
                counts[term] = counts.get(term, 0.0) + 1.0
            for word in section_words:
                term = stem(word)
                counts[term] = counts.get(term, 0.0) + SECTION_WEIGHT
            frequencies[key] = counts
            lengths[key] = len(content_words) + len(section_words)
        self.size = len(frequencies)
        """How many documents the index holds."""
        average = sum(lengths.values()) / self.size if self.size else 0.0
        by_term: dict[str, dict[int, float]] = {}
        for key, counts in frequencies.items():
            norm = K1 * (1 - B + B * lengths[key] / average) if average else K1
            for term, tf in counts.items():
                by_term.setdefault(term, {})[key] = tf * (K1 + 1) / (tf + norm)
        # idf is fixed once the index is built: fold it into each posting
        self._postings: dict[str, dict[int, float]] = {}
        for term, postings in by_term.items():
            idf = math.log(1 + (self.size - len(postings) + 0.5) / (len(postings) + 0.5))
            self._postings[term] = {key: idf * weight for key, weight in postings.items()}

    def scores(self, terms: Iterable[str]) -> dict[int, float]:
        """BM25 score per matching document for the query words ``terms`` (each distinct
        stem once); documents matching none are absent."""
        found: dict[int, float] = {}
        for term in dict.fromkeys(stem(term) for term in terms):
            postings = self._postings.get(term)
            if postings is None:
                continue
            if not found:
                found.update(postings)
                continue
            get = found.get
            for key, score in postings.items():
                found[key] = get(key, 0.0) + score
        return found


__all__ = ["SECTION_WEIGHT", "TextIndex", "stem"]
