"""The Skillbook: ACE's store of learned strategies, and its file format.

Files are the JSON of ACE 0.9.3 and later::

    {"skills": {id: {id, section, content, justification, evidence, created_at,
                     updated_at, status, sources, [helpful, harmful, neutral]}},
     "sections": {name: [id, ...]}, "next_id": int,
     "similarity_decisions": {"id_a,id_b": {decision, reasoning, decided_at, ...}}}

Provenance records (``sources``) use the established fields (``trace_uid``,
``source_system``, ``trace_id``, ``display_name``, ``relation``, ``sample_question``,
``epoch``, ``operation_type``, ...); files of this package's first versions (``operation``,
``sample_id``) and similarity keys written ``"a|b"`` are read too, and written the
established way. Older files that carry helpful/harmful/neutral counters load with their
counters kept; unknown fields (of skills, sources, decisions and the file) are kept too,
so a load/save round trip loses nothing.
"""

from __future__ import annotations

import copy
import os
import re
import threading
import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ace._files import atomic_write
from ace.errors import SkillbookFileError, UsageError
from ace.outputs import TagName
from ace.updates import UpdateBatch, UpdateOperation, UpdateReport

SkillStatus = Literal["active", "invalid"]
TAG_NAMES: tuple[TagName, ...] = ("helpful", "harmful", "neutral")
_CITATION = re.compile(r"\[([^\[\]\n]{1,200})\]")


def _now() -> str:
    return datetime.now(UTC).isoformat()


class SkillSource(BaseModel):
    """Provenance: which trace an ADD or UPDATE came from (the established ``InsightSource``
    record). Its identity (``source_system``, ``trace_id``, ``trace_uid``) is completed
    from whatever a record has, as the established package does; unknown fields are kept."""

    model_config = ConfigDict(extra="allow")

    trace_uid: str | None = None
    """``"<source_system>:<trace_id>"``."""
    source_system: str | None = None
    trace_id: str | None = None
    display_name: str | None = None
    relation: str | None = None
    sample_question: str | None = None
    epoch: int | None = None
    operation_type: str | None = None
    """ADD or UPDATE (``operation`` in this package's first files)."""
    sample_id: str | None = None
    recorded_at: str | None = Field(default_factory=_now)

    @model_validator(mode="before")
    @classmethod
    def _established(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        record = dict(data)
        if "operation" in record and "operation_type" not in record:
            record["operation_type"] = record.pop("operation")
        for key in ("trace_uid", "source_system", "trace_id", "display_name", "sample_id"):
            value = record.get(key)
            record[key] = str(value).strip() or None if value is not None else None
        epoch = record.get("epoch")
        if epoch is not None and not isinstance(epoch, int):
            text = str(epoch).strip()
            record["epoch"] = int(text) if text.lstrip("-").isdigit() else None
        uid, system, trace = record["trace_uid"], record["source_system"], record["trace_id"]
        if uid and ":" in uid and (system is None or trace is None):
            inferred_system, inferred_trace = uid.split(":", 1)
            system, trace = system or inferred_system, trace or inferred_trace
        if trace is None:
            trace = next(
                (
                    str(record[k])
                    for k in ("sample_id", "item_id", "task_id", "id")
                    if record.get(k)
                ),
                None,
            )
        if trace is not None:
            system = system or ("legacy" if record.get("operation_type") else "local")
            uid = uid or f"{system}:{trace}"
        record.update(trace_uid=uid, source_system=system, trace_id=trace)
        return record

    @property
    def operation(self) -> str | None:
        """The operation that recorded it (``operation_type``; the first versions' name)."""
        return self.operation_type

    def to_dict(self) -> dict[str, Any]:
        """The record as written to files: established names, unset fields left out."""
        return self.model_dump(mode="json", exclude_none=True)


class SimilarityDecision(BaseModel):
    """A deduplication verdict on a pair of skills (the established record)."""

    model_config = ConfigDict(extra="allow")

    decision: str
    """``KEEP`` (the pair stays apart) or ``MERGE``."""
    reasoning: str = ""
    decided_at: str = Field(default_factory=_now)
    similarity_at_decision: float | None = None


InsightSource = SkillSource
"""The established package's name for ``SkillSource``."""


class Skill(BaseModel):
    """One learned strategy."""

    model_config = ConfigDict(extra="allow", validate_assignment=True)

    id: str
    section: str
    content: str
    justification: str | None = None
    evidence: str | None = None
    created_at: str = Field(default_factory=_now)
    updated_at: str = Field(default_factory=_now)
    status: SkillStatus = "active"
    sources: list[SkillSource] = Field(default_factory=list)
    helpful: int = Field(default=0, ge=0)
    harmful: int = Field(default=0, ge=0)
    neutral: int = Field(default=0, ge=0)

    def to_dict(self, *, exclude_embeddings: bool = False) -> dict[str, Any]:
        """The skill as stored in a file; counters only when some are non-zero."""
        data = self.model_dump(mode="json")
        data["sources"] = [source.to_dict() for source in self.sources]
        if not (self.helpful or self.harmful or self.neutral):
            for name in TAG_NAMES:
                data.pop(name)
        if exclude_embeddings and "embedding" in data:
            data["embedding"] = None
        return data


def section_prefix(section: str) -> str:
    """The id prefix for a section: ASCII letters, digits and underscores, never empty."""
    ascii_text = unicodedata.normalize("NFKD", section).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "_", ascii_text.lower()).strip("_")
    return slug[:40] or "skill"


SKILLBOOK_KEYS = frozenset({"skills", "bullets", "sections", "next_id", "similarity_decisions"})
"""Keys a skillbook file of any ACE version has at least one of (``{"skills": {}}`` is an
empty skillbook; a JSON file with none of them is something else)."""


class Skillbook:
    """A thread-safe collection of skills grouped by section.

    Every mutation holds one re-entrant lock, so roles running in background threads
    can share a skillbook. Ids are ``<section prefix>-<5+ digit counter>``; ADD never
    reuses or overwrites an id.
    """

    def __init__(self) -> None:
        self._skills: dict[str, Skill] = {}
        self._next_id = 1
        self._similarity_decisions: dict[tuple[str, str], dict[str, Any]] = {}
        self._extra: dict[str, Any] = {}  # top-level fields of a loaded file we do not use
        self._lock = threading.RLock()
        self._known_files: dict[Path, tuple[int, int]] = {}

    # ------------------------------------------------------------------ reading
    def copy(self) -> Skillbook:
        """A copy that changes independently: what is done to either skillbook (adding,
        editing, tagging, removing skills, recording decisions) never shows in the other.
        Much cheaper than a round trip through ``to_dict`` and ``from_dict``, as nothing is
        validated again."""
        return self._copy(None)

    def _copy(self, only: set[str] | None) -> Skillbook:
        """A copy whose skills are copies (all, or those in ``only``; the others are
        shared), with its own decisions and extra fields."""
        twin = Skillbook()
        with self._lock:
            twin._skills = {
                skill_id: skill.model_copy(update={"sources": list(skill.sources)})
                if only is None or skill_id in only
                else skill
                for skill_id, skill in self._skills.items()
            }
            twin._next_id = self._next_id
            twin._similarity_decisions = {
                pair: copy.deepcopy(value) for pair, value in self._similarity_decisions.items()
            }
            twin._extra = copy.deepcopy(self._extra)
        return twin

    def __len__(self) -> int:
        return len(self.skills())

    def __repr__(self) -> str:
        return f"Skillbook(skills={len(self)}, sections={self.sections()})"

    @property
    def lock(self) -> threading.RLock:
        """The lock that guards every mutation; hold it to read a consistent snapshot."""
        return self._lock

    @property
    def next_id(self) -> int:
        """The counter the next generated id will use (at least)."""
        return self._next_id

    @property
    def similarity_decisions(self) -> dict[str, Any]:
        """Recorded deduplication decisions (e.g. KEEP) keyed by `pair_key` (``"id_a,id_b"``,
        sorted), as in files."""
        with self._lock:
            return {
                ",".join(pair): dict(value) for pair, value in self._similarity_decisions.items()
            }

    def get_similarity_decision(self, id_a: str, id_b: str) -> SimilarityDecision | None:
        """The decision recorded for a pair (order-insensitive), or None."""
        with self._lock:
            value = self._similarity_decisions.get(_pair(id_a, id_b))
        return None if value is None else SimilarityDecision.model_validate(value)

    def set_similarity_decision(
        self, id_a: str, id_b: str, decision: SimilarityDecision | Mapping[str, Any]
    ) -> None:
        """Record a decision for a pair (order-insensitive); replaces an earlier one."""
        value = (
            decision.model_dump() if isinstance(decision, SimilarityDecision) else dict(decision)
        )
        with self._lock:
            self._similarity_decisions[_pair(id_a, id_b)] = value

    def has_keep_decision(self, id_a: str, id_b: str) -> bool:
        """Whether the pair was judged distinct (KEEP) before."""
        decision = self.get_similarity_decision(id_a, id_b)
        return decision is not None and decision.decision.upper() == "KEEP"

    def get_skill(self, skill_id: str) -> Skill | None:
        """The skill with this id (active or not), or None."""
        with self._lock:
            return self._skills.get(skill_id)

    def skills(
        self, include_inactive: bool = False, *, include_invalid: bool = False
    ) -> list[Skill]:
        """Skills in insertion order; inactive (soft-removed, "invalid") ones only when asked
        (``include_invalid`` is the established name of ``include_inactive``)."""
        everything = include_inactive or include_invalid
        with self._lock:
            return [s for s in self._skills.values() if everything or s.status == "active"]

    def sections(self) -> list[str]:
        """Section names of active skills, in first-appearance order."""
        return list(dict.fromkeys(s.section for s in self.skills()))

    def cited_ids(self, text: str) -> list[str]:
        """Ids of existing skills cited as ``[id]`` in ``text``, in order, without repeats."""
        found = (m.group(1).strip() for m in _CITATION.finditer(text))
        with self._lock:
            return list(dict.fromkeys(i for i in found if i in self._skills))

    def stats(self) -> dict[str, Any]:
        """Counts of skills, sections and tags, for logs and dashboards."""
        with self._lock:
            active = self.skills()
            return {
                "skills": len(active),
                "inactive": len(self._skills) - len(active),
                "sections": len(self.sections()),
                "tags": {name: sum(getattr(s, name) for s in active) for name in TAG_NAMES},
                "similarity_decisions": len(self._similarity_decisions),
            }

    def as_prompt(self) -> str:
        """The active skills as compact text for a prompt, grouped by section.

        One line per skill, ``- [id] content``, with tag counts appended when any is
        non-zero. Much smaller than the JSON (see ``benchmarks``) and easy to cite.
        """
        by_section: dict[str, list[Skill]] = {}
        for skill in self.skills():
            by_section.setdefault(skill.section, []).append(skill)
        if not by_section:
            return "(the skillbook is empty)"
        lines: list[str] = []
        for section, members in by_section.items():
            lines.append(f"## {section or '(no section)'}")
            for s in members:
                counts = ", ".join(f"{n} {getattr(s, n)}" for n in TAG_NAMES if getattr(s, n))
                suffix = f" ({counts})" if counts else ""
                lines.append(f"- [{s.id}] {' '.join(s.content.split())}{suffix}")
        return "\n".join(lines)

    # ------------------------------------------------------------------ mutations
    def add_skill(
        self,
        section: str,
        content: str,
        *,
        skill_id: str | None = None,
        justification: str | None = None,
        evidence: str | None = None,
        source: SkillSource | Mapping[str, Any] | None = None,
    ) -> Skill:
        """Add a skill and return it. A given ``skill_id`` that already exists is an error."""
        if not content or not content.strip():
            raise UsageError("add_skill: content is empty; a skill needs text to be useful")
        with self._lock:
            if skill_id is None:
                skill_id = self._new_id(section)
            elif skill_id in self._skills:
                raise UsageError(f"add_skill: id {skill_id!r} exists; ADD never overwrites")
            skill = Skill(
                id=skill_id,
                section=section,
                content=content.strip(),
                justification=justification,
                evidence=evidence,
                sources=[_source(source, "ADD")] if source is not None else [],
            )
            self._skills[skill_id] = skill
            return skill

    def update_skill(
        self,
        skill_id: str,
        *,
        content: str | None = None,
        section: str | None = None,
        justification: str | None = None,
        evidence: str | None = None,
        source: SkillSource | Mapping[str, Any] | None = None,
    ) -> Skill | None:
        """Change the given fields of a skill; None when no such skill exists."""
        with self._lock:
            skill = self._skills.get(skill_id)
            if skill is None:
                return None
            if content is not None and content.strip():
                skill.content = content.strip()
            if section is not None:
                skill.section = section
            if justification is not None:
                skill.justification = justification
            if evidence is not None:
                skill.evidence = evidence
            if source is not None:
                skill.sources.append(_source(source, "UPDATE"))
            skill.updated_at = _now()
            return skill

    def tag_skill(self, skill_id: str, tag: str, increment: int = 1) -> Skill | None:
        """Add ``increment`` (>= 0) to one of the helpful/harmful/neutral counters."""
        if tag not in TAG_NAMES:
            raise UsageError(f"tag_skill: unknown tag {tag!r}; use one of {TAG_NAMES}")
        if increment < 0:
            raise UsageError("tag_skill: increment must be >= 0; counters never go down")
        with self._lock:
            skill = self._skills.get(skill_id)
            if skill is None:
                return None
            setattr(skill, tag, getattr(skill, tag) + increment)
            skill.updated_at = _now()
            return skill

    def remove_skill(self, skill_id: str, soft: bool = False) -> bool:
        """Delete a skill (or mark it invalid with ``soft=True``); False if it did not exist."""
        with self._lock:
            skill = self._skills.get(skill_id)
            if skill is None:
                return False
            if soft:
                skill.status = "invalid"
                skill.updated_at = _now()
            else:
                del self._skills[skill_id]
            return True

    def record_similarity_decision(self, id_a: str, id_b: str, decision: Mapping[str, Any]) -> None:
        """Remember a deduplication decision for a pair (order-insensitive); the first
        versions' name of `set_similarity_decision`."""
        self.set_similarity_decision(id_a, id_b, decision)

    # ------------------------------------------------------------------ provenance
    def source_map(self) -> dict[str, list[dict[str, Any]]]:
        """Skill id -> its provenance records (only skills that have some)."""
        with self._lock:
            return {
                i: [src.to_dict() for src in s.sources]
                for i, s in self._skills.items()
                if s.sources
            }

    def source_summary(self) -> dict[str, Any]:
        """How many records there are, by epoch and by sample question."""
        epochs: dict[int, int] = {}
        questions: dict[str, int] = {}
        total = 0
        for records in self.source_map().values():
            for record in records:
                total += 1
                epoch = record.get("epoch", 0)
                epochs[epoch] = epochs.get(epoch, 0) + 1
                question = record.get("sample_question")
                if question:
                    questions[question] = questions.get(question, 0) + 1
        return {"total_sources": total, "epochs": epochs, "sample_questions": questions}

    def source_filter(
        self, *, epoch: int | None = None, sample_question: str | None = None
    ) -> dict[str, list[dict[str, Any]]]:
        """`source_map` narrowed to records of `epoch` and/or whose sample question contains
        `sample_question` (case-insensitive)."""
        result: dict[str, list[dict[str, Any]]] = {}
        for skill_id, records in self.source_map().items():
            kept = [
                r
                for r in records
                if (epoch is None or r.get("epoch") == epoch)
                and (
                    sample_question is None
                    or sample_question.lower() in str(r.get("sample_question") or "").lower()
                )
            ]
            if kept:
                result[skill_id] = kept
        return result

    def apply_update(
        self, batch: UpdateBatch, *, source: SkillSource | Mapping[str, Any] | None = None
    ) -> UpdateReport:
        """Apply a SkillManager batch. Operations naming a missing skill are reported, not raised.

        ``source`` (trace id, sample id, epoch) is recorded on every ADD and UPDATE.
        """
        report = UpdateReport()
        with self._lock:
            for op in batch.operations:
                why = self._apply_one(op, source, report)
                if why is None:
                    report.applied.append(op)
                else:
                    report.skipped.append((op, why))
        return report

    def _copy_for_update(self, batch: UpdateBatch) -> Skillbook:
        """A copy to apply ``batch`` to, leaving this skillbook as it is. Only the skills
        the batch names are copied; the others are shared, as ``apply_update`` changes
        no skill but those its operations name (ADD makes new ones)."""
        return self._copy({op.skill_id for op in batch.operations if op.skill_id})

    def _apply_one(
        self,
        op: UpdateOperation,
        source: SkillSource | Mapping[str, Any] | None,
        report: UpdateReport,
    ) -> str | None:
        attached = op.metadata.get("insight_source")  # from AttachInsightSourcesStep
        if isinstance(attached, Mapping):
            base = source.model_dump() if isinstance(source, SkillSource) else dict(source or {})
            source = {**base, **attached}
        op_source = _source(source, op.type) if source is not None else None
        if op.type == "ADD":
            if not op.content or not op.content.strip():
                return "ADD without content"
            skill = self.add_skill(
                op.section,
                op.content,
                justification=op.justification,
                evidence=op.evidence,
                source=op_source,
            )
            report.added_ids.append(skill.id)
            return None
        if not op.skill_id:
            return f"{op.type} without skill_id"
        if op.skill_id not in self._skills:
            return f"no skill with id {op.skill_id!r}"
        if op.type == "UPDATE":
            self.update_skill(
                op.skill_id,
                content=op.content,
                section=op.section or None,
                justification=op.justification,
                evidence=op.evidence,
                source=op_source,
            )
        elif op.type == "TAG":
            counts = {k: v for k, v in op.metadata.items() if k in TAG_NAMES}
            if not counts:
                return "TAG without helpful/harmful/neutral counts in metadata"
            for tag, value in counts.items():
                self.tag_skill(op.skill_id, tag, max(0, _as_int(value)))
        else:
            self.remove_skill(op.skill_id)
        return None

    def _new_id(self, section: str) -> str:
        prefix = section_prefix(section)
        while True:
            candidate = f"{prefix}-{self._next_id:05d}"
            self._next_id += 1
            if candidate not in self._skills:
                return candidate

    # ------------------------------------------------------------------ files
    def to_dict(self, exclude_embeddings: bool = False) -> dict[str, Any]:
        """The skillbook as the JSON-ready dict written to files."""
        with self._lock:
            sections: dict[str, list[str]] = {}
            for s in self._skills.values():
                sections.setdefault(s.section, []).append(s.id)
            return {
                **self._extra,
                "skills": {
                    i: s.to_dict(exclude_embeddings=exclude_embeddings)
                    for i, s in self._skills.items()
                },
                "sections": sections,
                "next_id": self._next_id,
                "similarity_decisions": self.similarity_decisions,
            }

    def dumps(self, exclude_embeddings: bool = False) -> str:
        """The file's JSON text."""
        return orjson.dumps(
            self.to_dict(exclude_embeddings=exclude_embeddings), option=orjson.OPT_INDENT_2
        ).decode()

    @classmethod
    def loads(cls, text: str | bytes) -> Skillbook:
        """A skillbook from JSON text; raises ``SkillbookFileError`` when it is not one."""
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise SkillbookFileError(f"skillbook JSON: not valid JSON ({exc})") from exc
        return cls.from_dict(data, origin="skillbook JSON")

    def save_to_file(self, path: str | os.PathLike[str], exclude_embeddings: bool = False) -> Path:
        """The established name of `save` (with its ``exclude_embeddings``)."""
        return self.save(path, exclude_embeddings=exclude_embeddings)

    @classmethod
    def load_from_file(cls, path: str | os.PathLike[str]) -> Skillbook:
        """The established name of `load`."""
        return cls.load(path)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, origin: str = "skillbook data") -> Skillbook:
        """Build a skillbook from file JSON (any ACE version); errors name ``origin``."""
        if not isinstance(data, Mapping):
            raise SkillbookFileError(
                f"{origin}: expected a JSON object with 'skills', got {type(data).__name__}"
            )
        if not SKILLBOOK_KEYS & set(data):
            found = ", ".join(repr(k) for k in list(data)[:6]) or "none"
            raise SkillbookFileError(
                f"{origin}: not a skillbook: it has none of the keys "
                f"{', '.join(sorted(SKILLBOOK_KEYS))} (keys found: {found})"
            )
        raw_skills = data.get("skills", data.get("bullets", {}))
        if isinstance(raw_skills, list):
            raw_skills = {
                str(item.get("id")): item for item in raw_skills if isinstance(item, dict)
            }
        if not isinstance(raw_skills, Mapping):
            raise SkillbookFileError(
                f"{origin}: 'skills' must be an object keyed by id, got {type(raw_skills).__name__}"
            )
        book = cls()
        for key, payload in raw_skills.items():
            if not isinstance(payload, Mapping):
                raise SkillbookFileError(f"{origin}: skill {key!r} is not an object")
            fields = {"id": key, **payload}
            fields.setdefault("section", "general")
            try:
                book._skills[str(fields["id"])] = Skill.model_validate(fields)
            except ValidationError as exc:
                problem = "; ".join(
                    f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()
                )
                raise SkillbookFileError(f"{origin}: skill {key!r} is invalid ({problem})") from exc
        decisions = data.get("similarity_decisions") or {}
        if isinstance(decisions, Mapping):
            for key, value in decisions.items():
                ids = str(key).split("|" if "|" in str(key) else ",")
                if len(ids) == 2 and isinstance(value, Mapping):
                    book._similarity_decisions[_pair(ids[0], ids[1])] = dict(value)
        book._next_id = max(_as_int(data.get("next_id", 1)), book._max_counter() + 1, 1)
        used = {"skills", "bullets", "sections", "next_id", "similarity_decisions"}
        book._extra = {k: v for k, v in data.items() if k not in used}
        return book

    def _max_counter(self) -> int:
        numbers = [int(m.group(1)) for i in self._skills if (m := re.search(r"-(\d+)$", i))]
        return max(numbers, default=0)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Skillbook:
        """Read a skillbook file; an unreadable or corrupt file raises ``SkillbookFileError``."""
        file = Path(path)
        try:
            raw = file.read_bytes()
        except OSError as exc:
            raise SkillbookFileError(f"skillbook file {file}: cannot read ({exc})") from exc
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise SkillbookFileError(
                f"skillbook file {file}: not valid JSON ({exc}); the file is left untouched"
            ) from exc
        book = cls.from_dict(data, origin=f"skillbook file {file}")
        book._remember(file)
        return book

    def save(
        self,
        path: str | os.PathLike[str],
        *,
        overwrite_corrupt: bool = False,
        exclude_embeddings: bool = False,
    ) -> Path:
        """Write atomically (temporary file, fsync, rename) and return the path.

        An existing file that is not a readable skillbook is never replaced unless
        ``overwrite_corrupt=True``: it may be the only copy of someone's work.
        """
        file = Path(path)
        if file.exists() and not overwrite_corrupt and not self._is_known(file):
            _check_replaceable(file)
        atomic_write(file, self.dumps(exclude_embeddings=exclude_embeddings))
        self._remember(file)
        return file

    def _remember(self, file: Path) -> None:
        st = file.stat()
        self._known_files[file.resolve()] = (st.st_mtime_ns, st.st_size)

    def _is_known(self, file: Path) -> bool:
        st = file.stat()
        return self._known_files.get(file.resolve()) == (st.st_mtime_ns, st.st_size)


def pair_key(id_a: str, id_b: str) -> str:
    """The order-insensitive key of a skill pair in ``similarity_decisions`` (``"a,b"``)."""
    return ",".join(_pair(id_a, id_b))


def _pair(id_a: str, id_b: str) -> tuple[str, str]:
    first, second = sorted((str(id_a), str(id_b)))
    return first, second


def _check_replaceable(file: Path) -> None:
    try:
        Skillbook.from_dict(orjson.loads(file.read_bytes()), origin=f"skillbook file {file}")
    except (OSError, orjson.JSONDecodeError, SkillbookFileError) as exc:
        raise SkillbookFileError(
            f"refusing to overwrite {file}: it is not a readable skillbook ({exc}). "
            "Move it aside, or call save(path, overwrite_corrupt=True) to replace it."
        ) from exc


def _source(source: SkillSource | Mapping[str, Any], operation: str) -> SkillSource:
    if isinstance(source, SkillSource):
        return source.model_copy(update={"operation_type": operation})
    return SkillSource.model_validate({**dict(source), "operation_type": operation})


def _as_int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
