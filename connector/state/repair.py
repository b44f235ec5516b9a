"""Repairing the state file by hand (``itsm-connector dead-letters``), and the numbers health reads.

A dead letter is a copy, for a person, of something the connector gave up on; the thing itself
stays where it was, marked ``dead``: a journal entry (kinds ``intake`` and ``rule``) or an
outbox operation (kind ``outbox``). Both rows are written in one transaction
(``Engine.process_pending``, ``OutboxTable.op_dead``, ``JournalTable.journal_dead``), and the
letter names that row (``item_id``), which is how ``retry`` finds it: two letters of the same
second and the same payload are two rows. A letter written before the state file had
``item_id`` is found as it was then, by its timestamp (the row's, the same) and payload.

``retry`` puts that row back to ``pending`` and deletes the dead letter in one transaction, so
retrying the same letter twice cannot queue the item twice: the second call finds no letter.
If the item fails again it becomes a new dead letter, with the new reason. An input a source
refused before it became an alert (``rejected:…``) has nothing to run again: the sender must
send it again, and ``retry`` says so.
"""

from __future__ import annotations

__all__ = ["DeadLetter", "RepairQueries", "RetryRefused"]

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from connector.domain.clock import parse_time
from connector.domain.errors import ConnectorError
from connector.state.database import Database


class RetryRefused(ConnectorError):
    """A dead letter that cannot be retried; the message says why and what to do instead."""


@dataclass(frozen=True)
class DeadLetter:
    """One row of the dead-letter table."""

    id: int
    kind: str
    source: str | None
    ref: str | None
    reason: str
    payload: str | None
    created_at: datetime
    #: the journal entry or outbox operation behind it (``None``: a letter written before the
    #: state file had the column, found again by its time and payload)
    item_id: int | None = None

    @classmethod
    def from_row(cls, row: Any) -> DeadLetter:
        """The letter a ``dead_letter`` row holds."""
        return cls(
            id=int(row["id"]),
            kind=row["kind"],
            source=row["source"],
            ref=row["ref"],
            reason=row["reason"],
            payload=row["payload"],
            created_at=parse_time(row["created_at"]),
            item_id=None if row["item_id"] is None else int(row["item_id"]),
        )

    def as_dict(self) -> dict[str, Any]:
        """A JSON-able view (``--json`` output)."""
        return {
            "id": self.id,
            "kind": self.kind,
            "source": self.source,
            "ref": self.ref,
            "reason": self.reason,
            "created_at": self.created_at.isoformat(),
            "payload": self.payload,
        }


class RepairQueries(Database):
    """Dead-letter listing, retry and purge; the outbox numbers of ``/metrics`` and ``status``."""

    def dead_letter_rows(self) -> list[DeadLetter]:
        """Every dead letter, oldest first."""
        rows = self._rows(
            "SELECT id, kind, source, ref, reason, payload, created_at, item_id FROM dead_letter ORDER BY id"
        )
        return [DeadLetter.from_row(row) for row in rows]

    def dead_letter_by_id(self, letter_id: int) -> DeadLetter | None:
        """One dead letter, or ``None``."""
        row = self._row(
            "SELECT id, kind, source, ref, reason, payload, created_at, item_id FROM dead_letter WHERE id = ?",
            (letter_id,),
        )
        return None if row is None else DeadLetter.from_row(row)

    def dead_letter_count(self) -> int:
        """How many rows the dead-letter table holds."""
        row = self._row("SELECT count(*) AS n FROM dead_letter")
        return int(row["n"]) if row is not None else 0

    def outbox_backlog(self) -> tuple[int, datetime | None]:
        """How many operations are owed, and when the oldest of them was queued."""
        row = self._row("SELECT count(*) AS n, min(created_at) AS oldest FROM outbox WHERE status = 'pending'")
        if row is None or not row["n"]:
            return 0, None
        return int(row["n"]), parse_time(row["oldest"])

    def retry_dead_letter(self, letter: DeadLetter, now: datetime) -> str:
        """Put the item behind ``letter`` back to pending and delete the letter (call inside a
        transaction); returns what was queued. Raises ``RetryRefused``."""
        stamp = letter.created_at.isoformat()
        if letter.kind == "outbox":
            op = letter.reason.split(":", 1)[0]
            if letter.item_id is not None:
                row = self._row("SELECT id FROM outbox WHERE status = 'dead' AND id = ?", (letter.item_id,))
            else:
                row = self._row(
                    "SELECT id FROM outbox WHERE status = 'dead' AND target IS ? AND ticket_key IS ? AND op = ?"
                    " AND done_at = ? ORDER BY id DESC LIMIT 1",
                    (letter.source, letter.ref, op, stamp),
                )
            if row is None:
                raise RetryRefused(f"dead letter #{letter.id}: its outbox operation is no longer in the state file")
            self._exec(
                "UPDATE outbox SET status = 'pending', attempts = 0, next_try_at = ?, done_at = NULL WHERE id = ?",
                (now.isoformat(), row["id"]),
            )
            what = f"outbox operation #{row['id']} ({op})"
        else:
            if letter.item_id is not None:
                row = self._row("SELECT id, event_key FROM journal WHERE status = 'dead' AND id = ?", (letter.item_id,))
            else:
                row = self._row(
                    "SELECT id, event_key FROM journal WHERE status = 'dead' AND source IS ? AND processed_at = ?"
                    " AND payload IS ? ORDER BY id DESC LIMIT 1",
                    (letter.source, stamp, letter.payload),
                )
            if row is None:
                raise RetryRefused(f"dead letter #{letter.id}: its journal entry is no longer in the state file")
            if str(row["event_key"]).startswith("rejected:"):
                raise RetryRefused(
                    f"dead letter #{letter.id} is an input the source refused before it was an alert "
                    f"({letter.reason}); there is nothing to run again: fix the sender and let it send again, "
                    "then purge this letter"
                )
            self._exec(
                "UPDATE journal SET status = 'pending', outcome = NULL, processed_at = NULL WHERE id = ?", (row["id"],)
            )
            what = f"journal entry #{row['id']} ({letter.source}:{row['event_key']})"
        self._exec("DELETE FROM dead_letter WHERE id = ?", (letter.id,))
        return what

    def purge_dead_letters(self, ids: list[int]) -> int:
        """Delete these dead letters (the dead items stay marked dead); returns how many went."""
        count = 0
        for letter_id in ids:
            count += self._exec("DELETE FROM dead_letter WHERE id = ?", (letter_id,)).rowcount
        return count
