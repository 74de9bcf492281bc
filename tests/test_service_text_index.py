"""`TextIndex`: BM25 over stemmed words, the service's one text-ranking rule."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ace.service.text_index import SECTION_WEIGHT, TextIndex, stem


def test_stemming_joins_word_forms() -> None:
    assert stem("migrate") == stem("migrations") == stem("migrating")
    assert stem("database") == stem("databases")
    index = TextIndex([(1, "Run the migrations first", "ops"), (2, "Write tests", "ops")])
    assert set(index.scores(["migrating"])) == {1}
    assert index.scores(["zebra"]) == {}
    assert TextIndex([]).scores(["anything"]) == {}


def test_content_outweighs_section_and_rare_words_outweigh_common_ones() -> None:
    index = TextIndex(
        [
            (1, "cache the lookups", "general"),
            (2, "general advice", "cache"),  # "cache" only as its section
            (3, "cache every answer", "general"),
        ]
    )
    scores = index.scores(["cache"])
    assert scores[1] > scores[2] > 0 and scores[3] > scores[2]
    both = index.scores(["cache", "lookups"])  # "lookups" is rarer: it decides
    assert max(both, key=both.__getitem__) == 1


def test_a_stem_counts_once_however_many_query_words_share_it() -> None:
    index = TextIndex([(1, "migration plan", "a"), (2, "plan the release", "a")])
    assert index.scores(["migrate", "migration", "migrations"]) == index.scores(["migrate"])


def _reference(documents: list[tuple[int, str, str]], terms: list[str]) -> dict[int, float]:
    """BM25 as the module's docstring states it, written out plainly."""
    import re

    words = {
        key: ([w.lower() for w in re.findall(r"[^\W_]+", c)], [w.lower() for w in re.findall(r"[^\W_]+", s)])
        for key, c, s in documents
    }  # fmt: skip
    n = len(documents)
    average = sum(len(c) + len(s) for c, s in words.values()) / n
    found: dict[int, float] = {}
    for term in dict.fromkeys(stem(t) for t in terms):
        tfs = {
            key: sum(stem(w) == term for w in c) + SECTION_WEIGHT * sum(stem(w) == term for w in s)
            for key, (c, s) in words.items()
        }
        having = sum(tf > 0 for tf in tfs.values())
        if not having:
            continue
        idf = math.log(1 + (n - having + 0.5) / (having + 0.5))
        for key, tf in tfs.items():
            if tf > 0:
                length = len(words[key][0]) + len(words[key][1])
                norm = 1.2 * (1 - 0.75 + 0.75 * length / average)
                found[key] = found.get(key, 0.0) + idf * tf * 2.2 / (tf + norm)
    return found


VOCABULARY = ["cache", "caching", "retry", "retries", "timeout", "refund", "order", "user"]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.lists(st.sampled_from(VOCABULARY), min_size=1, max_size=8),
            st.lists(st.sampled_from(VOCABULARY), max_size=2),
        ),
        min_size=1,
        max_size=12,
    ),
    st.lists(st.sampled_from(VOCABULARY), min_size=1, max_size=4),
)
def test_scores_equal_the_plain_formula(
    docs: list[tuple[list[str], list[str]]], terms: list[str]
) -> None:
    documents = [(i, " ".join(c), " ".join(s)) for i, (c, s) in enumerate(docs)]
    got = TextIndex(documents).scores(terms)
    expected = _reference(documents, terms)
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-9)
