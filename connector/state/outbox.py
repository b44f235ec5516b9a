"""The outbox: helpdesk, source and notifier writes still owed, with attempts, next try and
last error.

A decision and the writes it implies are committed together, so nothing owed is lost in a
crash; ``Engine.drain_outbox`` delivers them (``connector.runtime.drain``). An operation is
marked ``sent`` before it first goes out, so only a retry has to ask "did it land?".
"""

from __future__ import annotations

__all__ = ["OutboxOp", "OutboxTable"]

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from connector.domain.clock import parse_time
from connector.state.connection import Row
from connector.state.database import Database
from connector.state.leases import stamp


@dataclass(frozen=True)
class OutboxOp:
    """One write still owed to a backend or a source."""

    id: int
    target: str
    op: str
    ticket_key: str | None
    payload: dict[str, Any]
    attempts: int
    next_try_at: datetime
    last_error: str | None
    sent: bool = False  # it went out at least once: the helpdesk may have done it already

    @classmethod
    def from_row(cls, row: Row) -> OutboxOp:
        """The operation an ``outbox`` row holds (its payload parsed from JSON)."""
        return cls(
            id=row["id"],
            target=row["target"],
            op=row["op"],
            ticket_key=row["ticket_key"],
            payload=json.loads(row["payload"]),
            attempts=row["attempts"],
            next_try_at=parse_time(row["next_try_at"]),
            last_error=row["last_error"],
            sent=bool(row["sent"]),
        )


class OutboxTable(Database):
    """The ``outbox`` table."""

    def enqueue(self, target: str, op: str, ticket_key: str | None, payload: dict[str, Any], now: datetime) -> int:
        """Owe one write to ``target``; returns the operation id."""
        cursor = self._exec(
            "INSERT INTO outbox (target, op, ticket_key, payload, created_at, next_try_at, status)"
            " VALUES (?, ?, ?, ?, ?, ?, 'pending') RETURNING id",
            (target, op, ticket_key, json.dumps(payload, ensure_ascii=False), now.isoformat(), now.isoformat()),
        )
        row = cursor.fetchone()
        return int(row["id"]) if row is not None else 0

    def pending_ops(self, limit: int) -> list[OutboxOp]:
        """Every pending operation in order (due or not): the drain decides what to try."""
        rows = self._rows(
            "SELECT id, target, op, ticket_key, payload, attempts, next_try_at, last_error, sent FROM outbox"
            " WHERE status = 'pending' ORDER BY id LIMIT ?",
            (limit,),
        )
        return [OutboxOp.from_row(row) for row in rows]

    def op_claim(self, op_id: int, holder: str, now: datetime, seconds: float) -> bool:
        """Claim a pending operation for ``holder`` until ``now + seconds`` before running it;
        ``True`` when it is ``holder``'s (several daemons drain one outbox: the compare-and-set
        lets exactly one run it). A claim that expired — its daemon died mid-operation — is
        taken over; the operation's ``sent`` mark then makes the new runner ask the helpdesk
        whether it landed before doing it again."""
        at = stamp(now)
        cursor = self._exec(
            "UPDATE outbox SET claimed_by = ?, claimed_until = ? WHERE id = ? AND status = 'pending'"
            " AND (claimed_until IS NULL OR claimed_until <= ? OR claimed_by = ?)",
            (holder, stamp(now + timedelta(seconds=seconds)), op_id, at, holder),
        )
        return cursor.rowcount == 1

    def op_unclaim(self, op_id: int, holder: str) -> None:
        """Let a claimed operation go (it waits for a retry, or this daemon stops)."""
        self._exec(
            "UPDATE outbox SET claimed_by = NULL, claimed_until = NULL WHERE id = ? AND claimed_by = ?",
            (op_id, holder),
        )

    def op_mark_sent(self, op_id: int) -> None:
        """Record, before it goes out, that the operation may reach the helpdesk from now on."""
        self._exec("UPDATE outbox SET sent = 1 WHERE id = ?", (op_id,))

    def op_done(self, op_id: int, now: datetime) -> None:
        """The write landed."""
        self._exec(
            "UPDATE outbox SET status = 'done', done_at = ?, last_error = NULL WHERE id = ?", (now.isoformat(), op_id)
        )

    def op_retry(self, op_id: int, next_try: datetime, error: str) -> None:
        """The write failed for now; try again at ``next_try`` (any daemon: the claim goes)."""
        self._exec(
            "UPDATE outbox SET attempts = attempts + 1, next_try_at = ?, last_error = ?,"
            " claimed_by = NULL, claimed_until = NULL WHERE id = ?",
            (next_try.isoformat(), error, op_id),
        )

    def op_dead(self, op: OutboxOp, reason: str, now: datetime) -> None:
        """The write can never land; keep it in the dead-letter table."""
        self._exec(
            "UPDATE outbox SET status = 'dead', attempts = attempts + 1, last_error = ?, done_at = ? WHERE id = ?",
            (reason, now.isoformat(), op.id),
        )
        self.dead_letter(
            "outbox",
            op.target,
            op.ticket_key,
            f"{op.op}: {reason}",
            json.dumps(op.payload, ensure_ascii=False),
            now,
            item_id=op.id,
        )

    def has_pending_op(self, ticket_key: str, op: str) -> bool:
        """Whether an operation ``op`` for ``ticket_key`` is still owed."""
        row = self._row(
            "SELECT 1 FROM outbox WHERE ticket_key = ? AND op = ? AND status = 'pending' LIMIT 1", (ticket_key, op)
        )
        return row is not None

    def attachment_owed(self, sha256: str) -> bool:
        """Whether a pending upload still needs the spooled file with this digest."""
        row = self._row(
            "SELECT 1 FROM outbox WHERE op = 'attach' AND status = 'pending' AND payload LIKE ? LIMIT 1",
            (f'%"sha256": "{sha256}"%',),
        )
        return row is not None

    def outbox_counts(self) -> dict[str, int]:
        """Outbox rows per status."""
        return self._counts("outbox")

    def outbox_rows(self, status: str | None = None) -> list[dict[str, Any]]:
        """Outbox rows (optionally of one status), for status output and tests."""
        sql = "SELECT * FROM outbox" + (" WHERE status = ?" if status else "") + " ORDER BY id"
        return [dict(row) for row in self._rows(sql, (status,) if status else ())]
