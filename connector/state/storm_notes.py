"""``storm_notes``: what the storm guard has told a master's helpdesk ticket, and what it still owes.

A repeat past the storm guard (``dedup.yaml``'s ``storm_guard``) is counted on its master; with
``note_interval_seconds`` the counted note is written at most once per interval, so a storm of a
thousand repeats costs the helpdesk a handful of requests instead of a thousand. One row per master:
when its last note was owed (``noted_at``), how many repeats arrived since (``pending``) and when
the newest of them did (``last_at``). ``connector.runtime.storm_notes`` decides; this only remembers.
"""

from __future__ import annotations

__all__ = ["StormNote", "StormNotesTable"]


from dataclasses import dataclass
from datetime import datetime

from connector.domain.clock import isoformat
from connector.state.connection import Row
from connector.state.database import Database
from connector.state.tickets import time_or_none as _time


@dataclass(frozen=True)
class StormNote:
    """One master's counted-note state."""

    master_key: str
    noted_at: datetime
    pending: int
    last_at: datetime | None


class StormNotesTable(Database):
    """Reads and writes ``storm_notes`` (inside the caller's transaction)."""

    def storm_note(self, master_key: str) -> StormNote | None:
        """The master's row, or ``None`` before its first counted note."""
        row = self._row(
            "SELECT master_key, noted_at, pending, last_at FROM storm_notes WHERE master_key = ?", (master_key,)
        )
        return None if row is None else _note(row)

    def storm_note_written(self, master_key: str, at: datetime) -> None:
        """A note went (was owed) at ``at``: nothing is pending any more."""
        self._exec(
            "INSERT INTO storm_notes (master_key, noted_at, pending, last_at) VALUES (?, ?, 0, NULL)"
            " ON CONFLICT (master_key) DO UPDATE SET noted_at = excluded.noted_at, pending = 0, last_at = NULL",
            (master_key, isoformat(at)),
        )

    def storm_note_defer(self, master_key: str, at: datetime) -> None:
        """One more repeat counted on the master and not written yet (its row exists)."""
        self._exec(
            "UPDATE storm_notes SET pending = pending + 1, last_at = ? WHERE master_key = ?",
            (isoformat(at), master_key),
        )

    def storm_notes_quiet(self, before: datetime) -> list[StormNote]:
        """Masters with repeats pending whose newest repeat came before ``before``: their storm is
        over (or paused) and the count is owed now."""
        rows = self._rows(
            "SELECT master_key, noted_at, pending, last_at FROM storm_notes"
            " WHERE pending > 0 AND last_at < ? ORDER BY id",
            (isoformat(before),),
        )
        return [_note(row) for row in rows]


def _note(row: Row) -> StormNote:
    noted_at = _time(row["noted_at"])
    assert noted_at is not None
    return StormNote(
        master_key=str(row["master_key"]), noted_at=noted_at, pending=int(row["pending"]), last_at=_time(row["last_at"])
    )
