"""`top_skills`: the in-process text ranking (BM25 over stemmed words), then evidence, then
embeddings (scripted through litellm), on SQLite and PostgreSQL alike."""

from __future__ import annotations

import logging

import pytest

from ace import UpdateBatch, UpdateOperation
from ace.errors import UsageError
from ace.service import Store
from ace.service.relevance import query_terms
from ace.testing.embeddings import ScriptedEmbeddingModel

SKILLS = [
    ("databases", "Run migrations before starting the workers"),
    ("databases", "Back up the database before a risky migration"),
    ("http", "Retry HTTP requests that failed with a rate limit"),
    ("testing", "Write the failing test first"),
]


def seeded(url: str, **options: object) -> Store:
    store = Store(url, **options)  # type: ignore[arg-type]
    ops = [UpdateOperation(type="ADD", section=s, content=c) for s, c in SKILLS]
    store.apply_update("acme", "pb", UpdateBatch(operations=ops))
    return store


def tag(store: Store, skill_id: str, **counts: int) -> None:
    op = UpdateOperation(type="TAG", skill_id=skill_id, metadata=counts)
    store.apply_update("acme", "pb", UpdateBatch(operations=[op]))


def ids(ranked: list) -> list[str]:  # type: ignore[type-arg]
    return [r.skill.id for r in ranked]


def test_text_match_ranks_content_and_section(service_db_url: str) -> None:
    with seeded(service_db_url) as store:
        ranked = store.top_skills(
            "acme", "pb", "How do I migrate the database safely?", 5, fill=False
        )
        # stemming: "migrate" matches "migration(s)"; both database skills, the one naming
        # the database in its content first
        assert ids(ranked) == ["databases-00002", "databases-00001"]
        assert ranked[0].text_score == 1.0 and 0 < ranked[1].text_score < 1
        assert ranked[0].similarity is None
        # the section counts too: "testing" is only a section name
        assert ids(store.top_skills("acme", "pb", "testing", 5, fill=False)) == ["testing-00004"]
        assert store.top_skills("acme", "pb", "zebra", 5, fill=False) == []
        # punctuation, quotes and operators in the text are words, never query syntax
        odd = 'rate-limit" OR (NEAR "x*) AND NOT : {content}'
        assert ids(store.top_skills("acme", "pb", odd, 5, fill=False)) == ["http-00003"]


def test_with_equal_text_match_helpful_evidence_ranks_above_harmful(service_db_url: str) -> None:
    with Store(service_db_url) as store:
        same = "Cache the lookup results"
        store.apply_update(
            "acme",
            "pb",
            UpdateBatch(
                operations=[
                    UpdateOperation(type="ADD", section="perf", content=same),
                    UpdateOperation(type="ADD", section="perf", content=same),
                    UpdateOperation(type="ADD", section="perf", content=same),
                ]
            ),
        )
        tag(store, "perf-00001", harmful=3, helpful=1)
        tag(store, "perf-00003", helpful=2)
        ranked = store.top_skills("acme", "pb", "cache lookups", 3)
        assert ids(ranked) == ["perf-00003", "perf-00002", "perf-00001"]
        assert ranked[0].text_score == ranked[1].text_score == ranked[2].text_score
        assert ranked[0].evidence > 0 == ranked[1].evidence > ranked[2].evidence


def test_fill_tops_up_with_the_best_evidence_and_k_limits(service_db_url: str) -> None:
    with seeded(service_db_url) as store:
        tag(store, "testing-00004", helpful=3)
        tag(store, "http-00003", harmful=1)
        ranked = store.top_skills("acme", "pb", "database backup", 4)
        assert ids(ranked)[:2] == ["databases-00002", "databases-00001"]
        assert ids(ranked)[2:] == ["testing-00004", "http-00003"]  # evidence, no text match
        assert [r.score for r in ranked[2:]] == [0.0, 0.0]
        assert ids(store.top_skills("acme", "pb", "database backup", 1)) == ["databases-00002"]
        assert ids(store.top_skills("acme", "pb", "", 2)) == ["testing-00004", "databases-00002"]
        # removed and soft-removed skills never come back
        remove = UpdateOperation(type="REMOVE", skill_id="databases-00002")
        store.apply_update("acme", "pb", UpdateBatch(operations=[remove]))
        assert "databases-00002" not in ids(store.top_skills("acme", "pb", "database backup", 9))
        assert store.top_skills("acme", "unknown", "database", 5) == []
        for bad in (0, -1, 1.5, True):
            with pytest.raises(UsageError, match="k must be"):
                store.top_skills("acme", "pb", "x", bad)  # type: ignore[arg-type]


def test_query_terms_are_words_only() -> None:
    assert query_terms("Don't DROP the TABLE; use 'quotes' & ünïcode (v2.0) a") == [
        "don", "drop", "table", "use", "quotes", "ünïcode", "v2", "0",
    ]  # fmt: skip
    assert len(query_terms(" ".join(f"w{i}" for i in range(500)))) == 64


def vectors() -> dict[str, list[float]]:
    return {
        "Run migrations before starting the workers": [1.0, 0.0, 0.0],
        "Back up the database before a risky migration": [0.9, 0.1, 0.0],
        "Retry HTTP requests that failed with a rate limit": [0.0, 1.0, 0.0],
        "Write the failing test first": [0.0, 0.0, 1.0],
        "the server answers 429 too often": [0.0, 1.0, 0.1],
    }


def test_embeddings_find_what_words_miss_and_are_cached(service_db_url: str) -> None:
    model = ScriptedEmbeddingModel(vectors())
    with seeded(service_db_url, embedding_model=model.name) as store:
        query = "the server answers 429 too often"  # no word in common with any skill
        with Store(service_db_url) as words_only:
            assert words_only.top_skills("acme", "pb", query, 2, fill=False) == []
        ranked = store.top_skills("acme", "pb", query, 2, fill=False)
        assert ids(ranked)[0] == "http-00003" and ranked[0].text_score == 0
        assert ranked[0].similarity is not None and ranked[0].similarity > 0.99
        assert model.texts_embedded == 5  # the query and the four skills
        store.top_skills("acme", "pb", query, 2)
        assert model.requests[-1] == [query]  # skills come from the cache now
        edit = UpdateOperation(
            type="UPDATE", skill_id="testing-00004", content="Write the failing test first"
        )
        store.apply_update("acme", "pb", UpdateBatch(operations=[edit]))
        store.top_skills("acme", "pb", query, 2)
        assert model.requests[-1] == [query]  # same content: the cached vector still holds


def test_embedding_failure_falls_back_to_text_or_raises(
    service_db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    model = ScriptedEmbeddingModel({})  # knows no text: every request fails
    with seeded(service_db_url, embedding_model=model.name) as store:
        with caplog.at_level(logging.WARNING, logger="ace.service"):
            ranked = store.top_skills("acme", "pb", "rate limit", 1)
        assert ids(ranked) == ["http-00003"] and ranked[0].similarity is None
        assert "embedding ranking skipped" in caplog.text and "has no vector" in caplog.text
        from ace.testing.models import ScriptError

        with pytest.raises(ScriptError, match="has no vector"):
            store.top_skills("acme", "pb", "rate limit", 1, on_embedding_error="raise")
