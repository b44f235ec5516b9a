"""The intake journal: every event a source delivered, keyed by (source, event key).

An event is journaled before it is acknowledged to anyone (a mail marked seen, a webhook
answered 200), and a second arrival of the same key is ignored, so a re-read after a crash
cannot make a second ticket. ``Engine.process_pending`` marks each entry ``done`` or ``dead``.
"""

from __future__ import annotations

__all__ = ["JournalEntry", "JournalOutcome", "JournalTable"]

from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from connector.domain.clock import parse_time
from connector.state.connection import Row
from connector.state.database import Database


@dataclass(frozen=True)
class JournalEntry:
    """One journaled intake event waiting to be (or already) processed."""

    id: int
    source: str
    event_key: str
    payload: str
    received_at: datetime

    @classmethod
    def from_row(cls, row: Row) -> JournalEntry:
        """The entry a ``journal`` row holds."""
        return cls(
            id=row["id"],
            source=row["source"],
            event_key=row["event_key"],
            payload=row["payload"],
            received_at=parse_time(row["received_at"]),
        )


class JournalOutcome(NamedTuple):
    """What became of one journal entry (a tuple, so it still unpacks as before)."""

    source: str
    event_key: str
    status: str
    outcome: str | None


class JournalTable(Database):
    """The ``journal`` table."""

    def journal_add(self, source: str, event_key: str, external_id: str | None, payload: str, now: datetime) -> bool:
        """Journal one intake event; False when that (source, event key) was seen before."""
        cursor = self._exec(
            "INSERT INTO journal (source, event_key, external_id, payload, received_at, status)"
            " VALUES (?, ?, ?, ?, ?, 'pending') ON CONFLICT DO NOTHING",
            (source, event_key, external_id, payload, now.isoformat()),
        )
        return cursor.rowcount == 1

    def journal_dead(
        self, source: str, event_key: str, external_id: str | None, payload: str, reason: str, now: datetime
    ) -> bool:
        """Journal an input that cannot be processed (so it is not retried) and dead-letter it."""
        cursor = self._exec(
            "INSERT INTO journal (source, event_key, external_id, payload, received_at, status,"
            " outcome, processed_at) VALUES (?, ?, ?, ?, ?, 'dead', ?, ?) ON CONFLICT DO NOTHING",
            (source, event_key, external_id, payload, now.isoformat(), reason, now.isoformat()),
        )
        if cursor.rowcount == 1:
            row = self._row("SELECT id FROM journal WHERE source = ? AND event_key = ?", (source, event_key))
            item = None if row is None else int(row["id"])
            self.dead_letter("intake", source, external_id, reason, payload, now, item_id=item)
            return True
        return False

    def journal_pending(self, limit: int = 1000) -> list[JournalEntry]:
        """Events journaled but not processed yet, oldest first."""
        rows = self._rows(
            "SELECT id, source, event_key, payload, received_at FROM journal WHERE status = 'pending'"
            " ORDER BY id LIMIT ?",
            (limit,),
        )
        return [JournalEntry.from_row(row) for row in rows]

    def journal_is_pending(self, entry_id: int) -> bool:
        """Whether entry ``entry_id`` still waits to be processed (read again inside the decide
        transaction: another daemon may have processed it since ``journal_pending`` listed it)."""
        row = self._row("SELECT status FROM journal WHERE id = ?", (entry_id,))
        return row is not None and row["status"] == "pending"

    def journal_finish(self, entry_id: int, status: str, outcome: str, now: datetime) -> None:
        """Mark a journal entry processed (``done``) or given up (``dead``)."""
        self._exec(
            "UPDATE journal SET status = ?, outcome = ?, processed_at = ? WHERE id = ?",
            (status, outcome, now.isoformat(), entry_id),
        )

    def journal_outcomes(self) -> list[JournalOutcome]:
        """(source, event key, status, outcome) of every journal entry, in arrival order."""
        rows = self._rows("SELECT source, event_key, status, outcome FROM journal ORDER BY id")
        return [JournalOutcome(row["source"], row["event_key"], row["status"], row["outcome"]) for row in rows]

    def journal_counts(self) -> dict[str, int]:
        """Journal rows per status."""
        return self._counts("journal")
