"""Knowledge in (issue 13, item 4): the solved incidents most like a new one, and the note that
names them with their solutions ("相似事件 similar incidents").

The match order is ``knowledge.yaml``'s ``similar.order``: ``same_ci_symptom`` — the same CI and
fingerprint (dedup.yaml: CI + symptom) — then ``same_category_title`` — the same category and a
title at least ``min_title_score`` alike (rapidfuzz's token-set ratio of the case-folded titles;
a small C library, no model). Only incidents solved within ``lookback_days`` count; the title
match compares the ``scan_limit`` most recently solved of the category, so one lookup costs the
same with 1 000 or 100 000 solved tickets (bench/similar.py). The first kind fills the list
before the second adds to it; a ticket found by both is named once.

Pure over a ``SolvedIndex``: the daemon's is the state store (``solved`` table), ``simulate``'s
is ``MemorySolved``. The caller runs it after the ticket's create is durable and treats any
exception as "no note" — knowledge never holds up an incident (``connector.runtime.knowledge``).
"""

from __future__ import annotations

__all__ = [
    "Incident",
    "Match",
    "MemorySolved",
    "SolvedIndex",
    "find_similar",
    "similar_note",
]

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from rapidfuzz import fuzz, process, utils

from connector.domain.knowledge import Solved
from connector.rules.knowledge import MatchKind, SimilarModel

#: the note's first line (what a person and a test look for)
NOTE_HEADING = "相似事件 similar incidents"
#: how much of a solution the note quotes (the ticket itself holds the rest)
SOLUTION_CHARS = 500


class SolvedIndex(Protocol):
    """Where solved incidents are looked up (the store's ``solved`` table, or ``MemorySolved``)."""

    def solved_same_fingerprint(
        self, ci: str, fingerprint: str, since: datetime, limit: int, exclude: str
    ) -> list[Solved]:
        """Solved since ``since`` with this CI and fingerprint, newest first, at most ``limit``."""
        ...

    def solved_titles_in_category(
        self, category: str, since: datetime, limit: int, exclude: str
    ) -> list[tuple[str, str]]:
        """``(key, title)`` of the ``limit`` most recently solved of this category since ``since``,
        newest first."""
        ...

    def solved_many(self, keys: Sequence[str]) -> list[Solved]:
        """The solved tickets ``keys``, in that order."""
        ...


@dataclass(frozen=True)
class Incident:
    """What the lookup knows of the new incident."""

    key: str
    title: str
    ci: str | None = None
    fingerprint: str | None = None
    category: str | None = None


@dataclass(frozen=True)
class Match:
    """A solved incident, how it matched, and its title score (100 for a CI + symptom match)."""

    solved: Solved
    kind: MatchKind
    score: float


def find_similar(incident: Incident, index: SolvedIndex, rules: SimilarModel, now: datetime) -> list[Match]:
    """The best ``rules.count`` solved incidents for ``incident``, in the rules' match order."""
    if not rules.enabled:
        return []
    since = now - timedelta(days=rules.lookback_days)
    found: list[Match] = []
    seen: set[str] = {incident.key}
    for kind in rules.order:
        wanted = rules.count - len(found)
        if wanted <= 0:
            break
        if kind == "same_ci_symptom":
            if incident.ci and incident.fingerprint:
                rows = index.solved_same_fingerprint(incident.ci, incident.fingerprint, since, wanted, incident.key)
                found.extend(Match(row, kind, 100.0) for row in rows if row.key not in seen)
        elif incident.category:
            titles = index.solved_titles_in_category(incident.category, since, rules.scan_limit, incident.key)
            best = _by_title(incident.title, [(k, t) for k, t in titles if k not in seen], rules, wanted)
            scores = dict(best)
            found.extend(Match(row, kind, scores[row.key]) for row in index.solved_many([k for k, _ in best]))
        seen.update(match.solved.key for match in found)
    return found[: rules.count]


def _by_title(title: str, rows: Sequence[tuple[str, str]], rules: SimilarModel, wanted: int) -> list[tuple[str, float]]:
    """``(key, score)`` of the ``wanted`` rows whose titles are most like ``title``, best first
    (among equal scores the newest: ``rows`` are newest first)."""
    if not rows:
        return []
    best = process.extract(
        title,
        [row_title for _, row_title in rows],
        scorer=fuzz.token_set_ratio,
        processor=utils.default_process,
        score_cutoff=rules.min_title_score,
        limit=None,
    )
    best.sort(key=lambda hit: (-hit[1], hit[2]))
    return [(rows[index][0], score) for _, score, index in best[:wanted]]


def similar_note(matches: Sequence[Match]) -> str | None:
    """The note naming the matches with their solutions (plain text: the backend escapes it where
    it lands); ``None`` when there is none."""
    if not matches:
        return None
    lines = [f"{NOTE_HEADING} ({len(matches)}):"]
    for number, match in enumerate(matches, start=1):
        solved = match.solved
        ref = f"#{solved.ticket_id}" if solved.ticket_id else solved.key
        why = (
            "same CI + symptom 同配置项同症状"
            if match.kind == "same_ci_symptom"
            else (f"same category 同类别, title {match.score:.0f}% alike")
        )
        solution = " ".join(solved.solution.split())
        if len(solution) > SOLUTION_CHARS:
            solution = solution[: SOLUTION_CHARS - 1] + "…"
        lines.append(f"{number}. {ref} {solved.title} — {why}, solved {solved.resolved_at:%Y-%m-%d}")
        lines.append(f"   solution 解决方案: {solution}")
    lines.append('If one of these solved it, mark the ticket "KB used 使用知识库" (KPI 15).')
    return "\n".join(lines)


@dataclass
class MemorySolved:
    """A ``SolvedIndex`` in memory, for ``simulate`` and tests (the daemon's is the store)."""

    rows: dict[str, Solved] = field(default_factory=dict)
    kb_candidates: set[str] = field(default_factory=set)

    def remember_solved(self, solved: Solved) -> None:
        """Keep (or replace) what a ticket taught."""
        self.rows[solved.key] = solved

    def solved(self, key: str) -> Solved | None:
        """What ticket ``key`` taught."""
        return self.rows.get(key)

    def claim_kb_candidate(self, key: str, at: datetime) -> bool:
        """``True`` the first time for a solved ticket (see the store's)."""
        if key not in self.rows or key in self.kb_candidates:
            return False
        self.kb_candidates.add(key)
        return True

    def solved_same_fingerprint(
        self, ci: str, fingerprint: str, since: datetime, limit: int, exclude: str
    ) -> list[Solved]:
        """See ``SolvedIndex``."""
        rows = [
            r
            for r in self.rows.values()
            if r.ci == ci and r.fingerprint == fingerprint and r.resolved_at >= since and r.key != exclude
        ]
        return sorted(rows, key=lambda r: r.resolved_at, reverse=True)[:limit]

    def solved_titles_in_category(
        self, category: str, since: datetime, limit: int, exclude: str
    ) -> list[tuple[str, str]]:
        """See ``SolvedIndex``."""
        rows = [r for r in self.rows.values() if r.category == category and r.resolved_at >= since and r.key != exclude]
        rows.sort(key=lambda r: r.resolved_at, reverse=True)
        return [(r.key, r.title) for r in rows[:limit]]

    def solved_many(self, keys: Sequence[str]) -> list[Solved]:
        """See ``SolvedIndex``."""
        return [self.rows[key] for key in keys if key in self.rows]
