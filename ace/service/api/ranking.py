"""``embed_prompt``'s ranking, fast: the same order as ``ace.service.relevance.top_skills``
without loading the playbook on every request.

Per request it reads the playbook's version (one indexed row). The rest (the active
skills, their text index, their evidence, and the order in which unmatched skills fill the
remaining places) is kept per playbook and version, rebuilt in that same read transaction
when the version moved. So an answer always matches the version it names. A store with an
embedding model ranks through ``top_skills`` itself (the cache only covers the text
ranking).
"""

from __future__ import annotations

import heapq
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ace.service.relevance import EVIDENCE_WEIGHT, evidence_of, query_terms

if TYPE_CHECKING:
    from ace.service.store import Store
    from ace.service.text_index import TextIndex
    from ace.skillbook import Skill

_PLAYBOOK_SQL = {
    "sqlite": "SELECT pk, version, created_at FROM playbooks "
    "WHERE tenant_id = :tenant AND playbook_id = :playbook_id",
    "postgresql": "SELECT pk, version, created_at FROM playbooks "
    "WHERE tenant_id = %(tenant)s AND playbook_id = %(playbook_id)s",
}


def _playbook_row(
    connection: Any, dialect: str, tenant: str, playbook_id: str
) -> tuple[Any, ...] | None:
    """(pk, version, created_at) of the playbook, straight from the driver with values
    bound as parameters: SQLAlchemy's row handling cost more than the query."""
    cursor = connection.connection.dbapi_connection.cursor()
    try:
        cursor.execute(_PLAYBOOK_SQL[dialect], {"tenant": tenant, "playbook_id": playbook_id})
        row: tuple[Any, ...] | None = cursor.fetchone()
        return row
    finally:
        cursor.close()


CACHED_PLAYBOOKS = 256
"""Playbooks whose ranking data a server keeps (least recently used dropped first)."""


@dataclass(frozen=True)
class _Ranking:
    playbook_pk: int
    version: int
    created: object
    """The playbook row's creation time, as the driver returned it."""
    skills: dict[int, Skill]
    """Active skills by row pk."""
    index: TextIndex
    """The active skills' text index."""
    keys: dict[int, tuple[float, int, int]]
    """(evidence, helpful, position) per active skill: the tie-breakers of the ranking."""
    factors: dict[int, float]
    """``1 + EVIDENCE_WEIGHT * evidence`` per active skill: what a match's score is
    multiplied by."""
    fill: list[int]
    """Active skills' pks, best first when none matches the text."""


@dataclass(frozen=True)
class Ranked:
    """What ``embed_prompt`` embeds: the skills, and the version they were read at."""

    skills: list[Skill]
    version: int


class Ranker:
    """Ranks a playbook's skills for a prompt; thread-safe, one per server."""

    def __init__(self, store: Store, *, capacity: int = CACHED_PLAYBOOKS) -> None:
        self.store = store
        self.capacity = capacity
        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple[str, str], _Ranking] = OrderedDict()

    def top(self, tenant: str, playbook_id: str, prompt: str, k: int) -> Ranked:
        """The ``k`` skills most relevant to ``prompt``; creates the playbook when missing."""
        store = self.store
        if store.embedding_model is not None:
            info = store.get_playbook(tenant, playbook_id) or store.ensure_playbook(
                tenant, playbook_id
            )
            ranked = store.top_skills(tenant, playbook_id, prompt, k)
            return Ranked([r.skill for r in ranked], info.version)
        key = (tenant, playbook_id)
        with store._statement() as connection:  # one statement: no transaction of its own
            row = _playbook_row(connection, store.dialect, tenant, playbook_id)
        ranking = self._cached(key, row) if row is not None else None
        if row is not None and ranking is None:
            with store._read() as connection:  # the version and its rows in one snapshot
                row = _playbook_row(connection, store.dialect, tenant, playbook_id)
                if row is not None:
                    ranking = self._ranking(key, row, connection)
        if row is not None and ranking is not None:
            terms = query_terms(prompt)
            scores = ranking.index.scores(terms) if terms and ranking.skills else {}
            return Ranked(_order(ranking, scores, k), ranking.version)
        info = store.ensure_playbook(tenant, playbook_id)  # first use: created empty
        return Ranked([], info.version)

    def _cached(self, key: tuple[str, str], row: tuple[Any, ...]) -> _Ranking | None:
        """The cached ranking data of the playbook ``row`` names, if it is of that very
        playbook row and version."""
        with self._lock:
            found = self._cache.get(key)
            if found is not None and (found.playbook_pk, found.version, found.created) == (
                int(row[0]),
                int(row[1]),
                row[2],
            ):
                self._cache.move_to_end(key)
                return found
        return None

    def _ranking(self, key: tuple[str, str], row: tuple[Any, ...], connection: object) -> _Ranking:
        """The cached ranking data of the playbook ``row`` (pk, version, created_at as the
        driver gives it); rebuilt when any of the three moved (SQLite may give a re-created
        playbook the pk of a deleted one)."""
        found = self._cached(key, row)
        if found is not None:
            return found
        pk, version, created = int(row[0]), int(row[1]), row[2]
        state = self.store._load_state(connection, pk, cached=True)  # type: ignore[arg-type]
        book = state.skillbook()
        active = sorted(
            (s for s in state.skills.values() if s.record.get("status", "active") == "active"),
            key=lambda s: (s.position, s.pk),
        )
        skills: dict[int, Skill] = {}
        keys: dict[int, tuple[float, int, int]] = {}
        for position, stored in enumerate(active):
            skill = book.get_skill(stored.record["id"])
            if skill is None:
                continue
            skills[stored.pk] = skill
            keys[stored.pk] = (evidence_of(skill), skill.helpful, position)
        fill = sorted(keys, key=lambda pk: keys[pk], reverse=True)
        factors = {pk: 1 + EVIDENCE_WEIGHT * key[0] for pk, key in keys.items()}
        built = _Ranking(pk, version, created, skills, state.text_index, keys, factors, fill)
        with self._lock:
            self._cache[key] = built
            self._cache.move_to_end(key)
            while len(self._cache) > self.capacity:
                self._cache.popitem(last=False)
        return built

    def forget(self, tenant: str, playbook_id: str) -> None:
        """Drop a playbook's cached data (after it was deleted)."""
        with self._lock:
            self._cache.pop((tenant, playbook_id), None)


def _order(ranking: _Ranking, scores: dict[int, float], k: int) -> list[Skill]:
    # As relevance.top_skills: scores are divided by the best one, a match's score is
    # weighted by its evidence, and ties are broken by (evidence, helpful, position). Every
    # match (score > 0) ranks above every non-match.
    best = max(scores.values(), default=0.0)
    keys, factors = ranking.keys, ranking.factors
    candidates: Iterable[tuple[int, float]] = scores.items()
    if len(scores) > k:
        # Only matches whose weighted score reaches the k-th best can be chosen. Weighted
        # here without the division by the best score, so the exact key below may differ
        # in the last bits: the margin keeps every match that could tie or win.
        weighted = [score * factors[pk] for pk, score in candidates]
        floor = heapq.nlargest(k, weighted)[-1] * (1 - 1e-9)
        candidates = [item for item, w in zip(candidates, weighted, strict=True) if w >= floor]
    matched = [((score / best * factors[pk], *keys[pk]), pk) for pk, score in candidates]
    matched.sort(reverse=True)
    chosen = [pk for _, pk in matched[:k]]
    if len(chosen) < k:
        taken = set(chosen)
        for pk in ranking.fill:
            if len(chosen) >= k:
                break
            if pk not in taken:
                chosen.append(pk)
    return [ranking.skills[pk] for pk in chosen]


__all__ = ["CACHED_PLAYBOOKS", "Ranked", "Ranker"]
