"""The k skills of a playbook most relevant to a text, for ``embed_prompt``.

Ranking, in order of what decides:

1. Text match: BM25 over the skills' stemmed words, content and section (section words
   count half), computed in process by ``ace.service.text_index`` (the same on SQLite and
   PostgreSQL). The query is the text's words, common English words left out, any of
   which may match. Scores are divided by the best one, so 1.0 is the best match.
2. With an embedding model (``Store(embedding_model=...)`` or ``embedding_model=``),
   relevance is the mean of that text score and the cosine similarity (clipped at 0) of
   the text's and the skill's embeddings, computed through litellm and cached per skill
   and model in ``skill_embeddings`` (recomputed when the skill's content changes). If
   embedding fails, the text ranking is used alone and the cause is logged (or raised,
   with ``on_embedding_error="raise"``).
3. Evidence: relevance is multiplied by ``1 + EVIDENCE_WEIGHT * net``, where
   ``net = (helpful - harmful) / (helpful + harmful + 1)``; so with equal text match a
   skill with more helpful than harmful evidence ranks above one with more harmful.

Only active skills count. With ``fill=True`` (the default) a text that matches fewer than
``k`` skills is topped up with the others, best evidence first, then newest, with
relevance 0: a prompt always gets the playbook's best-known strategies.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from ace.errors import ACEError, UsageError
from ace.service.requests import check_id, tenant_of

if TYPE_CHECKING:
    from ace.service.store import Store
    from ace.skillbook import Skill

EVIDENCE_WEIGHT = 0.25
"""How much helpful/harmful evidence can raise or lower a skill's relevance (at most ±25%)."""
MAX_QUERY_TERMS = 64
"""Words of the query text used for the full-text match (the first distinct ones)."""

_STOP_WORDS_TEXT = """a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is
    it its itself just me more most my myself no nor not now of off on once only or other our
    ours ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we
    were what when where which while who whom why will with would you your yours yourself
    yourselves"""
STOP_WORDS = frozenset(_STOP_WORDS_TEXT.split())
"""English words too common to say what a text is about; left out of the query (PostgreSQL's
English configuration drops its own list, FTS5 has none)."""

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_log = logging.getLogger("ace.service")


@dataclass(frozen=True)
class RankedSkill:
    """A skill with the parts of its score."""

    skill: Skill
    score: float
    """What the ranking sorts by (relevance times the evidence factor)."""
    text_score: float
    """Full-text match, 0..1 (1: the best match of this query)."""
    similarity: float | None
    """Embedding cosine similarity, when an embedding model ranked too."""
    evidence: float
    """``(helpful - harmful) / (helpful + harmful + 1)``."""


def query_terms(text: str) -> list[str]:
    """The distinct lower-case words of ``text`` used for matching, `STOP_WORDS` left out
    (at most `MAX_QUERY_TERMS`)."""
    words = (w.lower() for w in _WORD.findall(text) if len(w) > 1 or w.isdigit())
    return list(dict.fromkeys(w for w in words if w not in STOP_WORDS))[:MAX_QUERY_TERMS]


def evidence_of(skill: Skill) -> float:
    """``(helpful - harmful) / (helpful + harmful + 1)``, in (-1, 1)."""
    return (skill.helpful - skill.harmful) / (skill.helpful + skill.harmful + 1)


def top_skills(
    store: Store,
    tenant: str | None,
    playbook_id: str,
    query_text: str,
    k: int = 20,
    *,
    fill: bool = True,
    embedding_model: str | None = None,
    on_embedding_error: Literal["fallback", "raise"] = "fallback",
) -> list[RankedSkill]:
    """The ``k`` most relevant active skills of the tenant's playbook, best first (an
    unknown playbook has none). See the module's docstring for the ranking."""
    tenant, playbook_id = tenant_of(tenant), check_id("playbook_id", playbook_id)
    if not isinstance(query_text, str):
        raise UsageError(f"query_text must be a string, got {type(query_text).__name__}")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise UsageError(f"k must be an integer >= 1, got {k!r}")
    if on_embedding_error not in ("fallback", "raise"):
        raise UsageError("on_embedding_error must be 'fallback' or 'raise'")
    model = embedding_model or store.embedding_model
    with store._read() as connection:
        pk = store._playbook_pk(connection, tenant, playbook_id)
        if pk is None:
            return []
        state = store._load_state(connection, pk, cached=True)
    active = sorted(
        (s for s in state.skills.values() if s.record.get("status", "active") == "active"),
        key=lambda s: (s.position, s.pk),
    )
    book = state.skillbook()
    by_pk = {stored.pk: book.get_skill(stored.record["id"]) for stored in active}
    terms = query_terms(query_text)
    text_scores = state.text_index.scores(terms) if terms else {}
    best = max(text_scores.values(), default=0.0)
    normalised = {pk: (score / best if best > 0 else 0.0) for pk, score in text_scores.items()}
    similarities: dict[int, float] | None = None
    if model is not None and query_text.strip() and by_pk:
        try:
            similarities = _similarities(store, model, query_text, by_pk)
        except ACEError as exc:
            if on_embedding_error == "raise":
                raise
            _log.warning("embedding ranking skipped (%s); using the text ranking alone", exc)
    ranked: list[tuple[tuple[float, ...], RankedSkill]] = []
    for position, (skill_pk, skill) in enumerate(by_pk.items()):
        if skill is None:
            continue
        text = normalised.get(skill_pk, 0.0)
        similarity = similarities.get(skill_pk) if similarities is not None else None
        relevance = text if similarity is None else (text + max(similarity, 0.0)) / 2
        net = evidence_of(skill)
        score = relevance * (1 + EVIDENCE_WEIGHT * net)
        if relevance <= 0 and not fill:
            continue
        key = (score, net, skill.helpful, position)
        ranked.append((key, RankedSkill(skill, score, text, similarity, net)))
    ranked.sort(key=lambda item: item[0], reverse=True)
    return [item for _, item in ranked[:k]]


def _similarities(
    store: Store, model: str, query_text: str, skills: dict[int, Skill | None]
) -> dict[int, float]:
    from ace.llm.embeddings import embed
    from ace.service.store import content_hash

    present = {pk: skill for pk, skill in skills.items() if skill is not None}
    with store._read() as connection:
        cached = store._cached_embeddings(connection, list(present), model)
    vectors: dict[int, list[float]] = {}
    missing: dict[int, tuple[str, str]] = {}
    for pk, skill in present.items():
        digest = content_hash(skill.content)
        hit = cached.get(pk)
        if hit is not None and hit[0] == digest:
            vectors[pk] = hit[1]
        else:
            missing[pk] = (digest, skill.content)
    fresh: dict[int, tuple[str, list[float]]] = {}
    texts = [query_text] + [text for _, text in missing.values()]
    embedded = embed(texts, model=model, **store.embedding_kwargs)
    query_vector = embedded[0]
    for (pk, (digest, _)), vector in zip(missing.items(), embedded[1:], strict=True):
        vectors[pk] = vector
        fresh[pk] = (digest, vector)
    store._store_embeddings(model, fresh)
    return {pk: _cosine(query_vector, vector) for pk, vector in vectors.items()}


def _cosine(a: list[float], b: list[float]) -> float:
    if len(a) != len(b):
        return 0.0
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return sum(x * y for x, y in zip(a, b, strict=True)) / norm if norm else 0.0


__all__ = [
    "EVIDENCE_WEIGHT",
    "RankedSkill",
    "evidence_of",
    "query_terms",
    "top_skills",
]
