"""The ``solved`` table (issue 13): what each solved ticket taught, for the next incident.

A row per solved ticket the connector knows (a duplicate of a master is never one: its master's
row speaks for both): the title, CI, fingerprint, category and solution, and when its
knowledge-base candidate was owed. The sync-back writes it when it reads a resolution with a
solution (``remember_solved``; a later solution replaces the earlier, so a reopened and
re-solved ticket teaches its last fix); the similar-incident lookup reads it through indexed
queries (``solved_same_fingerprint``; ``solved_titles_in_category``, then ``solved_many`` for the
best few), each bounded by a limit, so the
lookup's cost does not grow with the table (bench/similar.py: 100 000 rows).
"""

from __future__ import annotations

__all__ = ["KnowledgeTable"]


from collections.abc import Sequence
from datetime import datetime

from connector.domain.clock import parse_time
from connector.domain.knowledge import Solved
from connector.state.connection import Row
from connector.state.database import Database

_COLUMNS = "key, ticket_id, title, ci, fingerprint, category, solution, resolved_at"


def _solved(row: Row) -> Solved:
    return Solved(
        key=row["key"],
        ticket_id=row["ticket_id"],
        title=row["title"],
        ci=row["ci"],
        fingerprint=row["fingerprint"],
        category=row["category"],
        solution=row["solution"],
        resolved_at=parse_time(row["resolved_at"]),
    )


def _utc_text(at: datetime) -> str:
    """A time as the table keeps it: ISO 8601 in UTC, so the text order is the time order."""
    return parse_time(at.isoformat()).isoformat()


class KnowledgeTable(Database):
    """The ``solved`` table."""

    def remember_solved(self, solved: Solved) -> None:
        """Keep (or replace) what ticket ``solved.key`` taught; its KB-candidate mark stays."""
        self._exec(
            f"INSERT INTO solved ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (key) DO UPDATE SET ticket_id = excluded.ticket_id, title = excluded.title,"
            " ci = excluded.ci, fingerprint = excluded.fingerprint, category = excluded.category,"
            " solution = excluded.solution, resolved_at = excluded.resolved_at",
            (
                solved.key,
                solved.ticket_id,
                solved.title,
                solved.ci,
                solved.fingerprint,
                solved.category,
                solved.solution,
                _utc_text(solved.resolved_at),
            ),
        )

    def solved(self, key: str) -> Solved | None:
        """What ticket ``key`` taught, if it was solved with a solution."""
        row = self._row(f"SELECT {_COLUMNS} FROM solved WHERE key = ?", (key,))
        return None if row is None else _solved(row)

    def solved_same_fingerprint(
        self, ci: str, fingerprint: str, since: datetime, limit: int, exclude: str
    ) -> list[Solved]:
        """Tickets of this CI and fingerprint solved since ``since``, newest first (not ``exclude``)."""
        rows = self._rows(
            f"SELECT {_COLUMNS} FROM solved WHERE ci = ? AND fingerprint = ? AND resolved_at >= ? AND key <> ?"
            " ORDER BY resolved_at DESC LIMIT ?",
            (ci, fingerprint, _utc_text(since), exclude, limit),
        )
        return [_solved(row) for row in rows]

    def solved_titles_in_category(
        self, category: str, since: datetime, limit: int, exclude: str
    ) -> list[tuple[str, str]]:
        """``(key, title)`` of the ``limit`` tickets of this category solved most recently since
        ``since``, newest first (not ``exclude``): only what the title match scores, so a scan of
        thousands reads two short columns."""
        rows = self._rows(
            "SELECT key, title FROM solved WHERE category = ? AND resolved_at >= ? AND key <> ?"
            " ORDER BY resolved_at DESC LIMIT ?",
            (category, _utc_text(since), exclude, limit),
        )
        return [(row["key"], row["title"]) for row in rows]

    def solved_many(self, keys: Sequence[str]) -> list[Solved]:
        """What the tickets ``keys`` taught, in the order of ``keys`` (a key not solved is left out)."""
        if not keys:
            return []
        marks = ", ".join("?" for _ in keys)
        found = {
            row["key"]: _solved(row)
            for row in self._rows(f"SELECT {_COLUMNS} FROM solved WHERE key IN ({marks})", tuple(keys))
        }
        return [found[key] for key in keys if key in found]

    def claim_kb_candidate(self, key: str, at: datetime) -> bool:
        """Mark ticket ``key``'s knowledge-base candidate owed at ``at``; ``False`` when it already
        was (or the ticket taught nothing): the candidate is made once per ticket, however often
        its close is read."""
        rows = self._rows(  # every row read: the statement is finished before the commit
            "UPDATE solved SET kb_candidate_at = ? WHERE key = ? AND kb_candidate_at IS NULL RETURNING key",
            (_utc_text(at), key),
        )
        return bool(rows)
