"""The connector's own state, in one SQLite file (WAL): only what makes it safe.

- ``journal``: every intake event, keyed by (source, event key). An event is journaled before
  it is acknowledged to anyone, and a second arrival of the same key is ignored.
- ``outbox``: helpdesk and source writes still owed, with attempts, next try and last error.
- ``tickets``: connector key → helpdesk id, fingerprint, status, priority, repeats and the content a
  duplicate or recurrence copies, for correlation (``connector.domain.ledger``); ``aliases``: alerts
  appended to a master by the storm guard.
- ``dead_letter``: inputs and operations that cannot be processed, with the reason.
- ``cursors``: how far each source has been read.

The helpdesk stays the source of truth for ticket content. Schema changes are numbered
migrations applied in order inside a transaction.
"""

from __future__ import annotations

__all__ = ["JournalEntry", "OutboxOp", "Store"]

import json
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from connector.domain.clock import isoformat, parse_time
from connector.domain.errors import StoreError
from connector.domain.ledger import LIFE_FIELDS, DoneAfter, TicketState
from connector.domain.models import Impact, Priority, TicketStatus, Urgency

#: seconds a connection waits for another's lock (and a new file's switch to WAL)
_OPEN_TIMEOUT = 30.0

MIGRATIONS: Sequence[str] = (
    # 1: the foundation
    """
    CREATE TABLE journal (
        id INTEGER PRIMARY KEY,
        source TEXT NOT NULL,
        event_key TEXT NOT NULL,
        external_id TEXT,
        payload TEXT NOT NULL,
        received_at TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('pending', 'done', 'dead')),
        outcome TEXT,
        processed_at TEXT,
        UNIQUE (source, event_key)
    );
    CREATE INDEX journal_pending ON journal (status, id);
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        target TEXT NOT NULL,
        op TEXT NOT NULL,
        ticket_key TEXT,
        payload TEXT NOT NULL,
        created_at TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_try_at TEXT NOT NULL,
        last_error TEXT,
        status TEXT NOT NULL CHECK (status IN ('pending', 'done', 'dead')),
        done_at TEXT
    );
    CREATE INDEX outbox_pending ON outbox (status, id);
    CREATE INDEX outbox_by_ticket ON outbox (ticket_key, op, status);
    CREATE TABLE tickets (
        key TEXT PRIMARY KEY,
        backend TEXT NOT NULL,
        ticket_id TEXT,
        url TEXT,
        source TEXT NOT NULL,
        external_id TEXT,
        fingerprint TEXT,
        status TEXT NOT NULL,
        master_key TEXT,
        created_at TEXT NOT NULL,
        resolved_at TEXT,
        closed_at TEXT
    );
    CREATE INDEX tickets_fingerprint ON tickets (fingerprint, created_at);
    CREATE INDEX tickets_open_by_source ON tickets (source, status);
    CREATE TABLE dead_letter (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        source TEXT,
        ref TEXT,
        reason TEXT NOT NULL,
        payload TEXT,
        created_at TEXT NOT NULL
    );
    CREATE TABLE cursors (
        source TEXT PRIMARY KEY,
        cursor TEXT,
        updated_at TEXT NOT NULL
    );
    """,
    # 2: an operation is marked before it is first sent, so only a retry asks "did it land?"
    """
    ALTER TABLE outbox ADD COLUMN sent INTEGER NOT NULL DEFAULT 0;
    """,
    # 3: correlation (duplicates, storm guard, recurrence, priority changes)
    """
    ALTER TABLE tickets ADD COLUMN occurred_at TEXT;
    ALTER TABLE tickets ADD COLUMN impact INTEGER;
    ALTER TABLE tickets ADD COLUMN urgency INTEGER;
    ALTER TABLE tickets ADD COLUMN priority INTEGER;
    ALTER TABLE tickets ADD COLUMN repeats INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE tickets ADD COLUMN recurrence_of TEXT;
    ALTER TABLE tickets ADD COLUMN content TEXT;
    CREATE INDEX tickets_master ON tickets (master_key, status);
    CREATE INDEX tickets_by_helpdesk_id ON tickets (ticket_id);
    CREATE TABLE aliases (
        key TEXT PRIMARY KEY,
        ticket_key TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    """,
    # 4: a ticket's life in the helpdesk, and the escalation/notice/SLA steps that fired
    """
    ALTER TABLE tickets ADD COLUMN contact TEXT;
    ALTER TABLE tickets ADD COLUMN sla_due TEXT;
    ALTER TABLE tickets ADD COLUMN assigned_at TEXT;
    ALTER TABLE tickets ADD COLUMN accepted_at TEXT;
    ALTER TABLE tickets ADD COLUMN assignee TEXT;
    ALTER TABLE tickets ADD COLUMN assignment_group TEXT;
    ALTER TABLE tickets ADD COLUMN reassignments INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE tickets ADD COLUMN escalation_level INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE tickets ADD COLUMN third_party_at TEXT;
    ALTER TABLE tickets ADD COLUMN suspended_since TEXT;
    ALTER TABLE tickets ADD COLUMN suspensions TEXT;
    ALTER TABLE tickets ADD COLUMN synced_changes INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX tickets_active ON tickets (status);
    CREATE TABLE steps (
        ticket_key TEXT NOT NULL,
        step TEXT NOT NULL,
        due_at TEXT NOT NULL,
        fired_at TEXT NOT NULL,
        late INTEGER NOT NULL,
        PRIMARY KEY (ticket_key, step)
    );
    """,
)


@dataclass(frozen=True)
class JournalEntry:
    """One journaled intake event waiting to be (or already) processed."""

    id: int
    source: str
    event_key: str
    payload: str
    received_at: datetime


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


class Store:
    """The SQLite state file. One instance per process; not shared between threads."""

    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        try:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=_OPEN_TIMEOUT)
            self._enter_wal()
            # FULL: a commit survives a power cut, not only a crash of the process — the journal
            # acknowledges input (a mail marked seen, a webhook answered 200) on the strength of it
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._depth = 0
            self._migrate()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open state database {self.path}: {exc}") from exc

    # --- plumbing ------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic unit of work (nesting joins the outer transaction)."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot start a transaction on {self.path}: {exc}") from exc
        self._depth = 1
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        else:
            try:
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                raise StoreError(f"commit failed on {self.path}: {exc}") from exc
        finally:
            self._depth = 0

    def _exec(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        try:
            return self._db.execute(sql, params)
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: {exc} in {sql.split()[0]} statement") from exc

    def _enter_wal(self) -> None:
        """Switch the file to WAL. On a new file that two processes open at the same moment,
        SQLite answers the second "database is locked" at once instead of waiting (the busy
        timeout does not apply to this lock upgrade), so it is asked again, for at most the
        connect timeout; once in WAL the pragma takes no lock at all."""
        deadline = time.monotonic() + _OPEN_TIMEOUT
        while True:
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def _migrate(self) -> None:
        """Bring the file to the latest schema. Two processes opening a new file at the same
        moment must not both create it: the version is read again inside ``BEGIN IMMEDIATE``
        (the second waits for the first's write lock, then finds nothing left to do)."""
        self._db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        if self._version() == len(MIGRATIONS):
            return  # the usual open: no write lock taken
        with self.transaction():
            current = self._version()
            if current > len(MIGRATIONS):
                raise StoreError(
                    f"{self.path} has schema version {current}, newer than this connector knows ({len(MIGRATIONS)})"
                )
            for version in range(current + 1, len(MIGRATIONS) + 1):
                for statement in MIGRATIONS[version - 1].split(";"):
                    if statement.strip():
                        self._db.execute(statement)
                self._db.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))

    def _version(self) -> int:
        return int(self._db.execute("SELECT max(version) FROM schema_version").fetchone()[0] or 0)

    @property
    def schema_version(self) -> int:
        """The migration the file is at."""
        return int(self._exec("SELECT max(version) FROM schema_version").fetchone()[0] or 0)

    # --- journal -------------------------------------------------------------------------------

    def journal_add(self, source: str, event_key: str, external_id: str | None, payload: str, now: datetime) -> bool:
        """Journal one intake event; False when that (source, event key) was seen before."""
        cursor = self._exec(
            "INSERT OR IGNORE INTO journal (source, event_key, external_id, payload, received_at, status)"
            " VALUES (?, ?, ?, ?, ?, 'pending')",
            (source, event_key, external_id, payload, now.isoformat()),
        )
        return cursor.rowcount == 1

    def journal_dead(
        self, source: str, event_key: str, external_id: str | None, payload: str, reason: str, now: datetime
    ) -> bool:
        """Journal an input that cannot be processed (so it is not retried) and dead-letter it."""
        cursor = self._exec(
            "INSERT OR IGNORE INTO journal (source, event_key, external_id, payload, received_at, status,"
            " outcome, processed_at) VALUES (?, ?, ?, ?, ?, 'dead', ?, ?)",
            (source, event_key, external_id, payload, now.isoformat(), reason, now.isoformat()),
        )
        if cursor.rowcount == 1:
            self.dead_letter("intake", source, external_id, reason, payload, now)
            return True
        return False

    def journal_pending(self, limit: int = 1000) -> list[JournalEntry]:
        """Events journaled but not processed yet, oldest first."""
        rows = self._exec(
            "SELECT id, source, event_key, payload, received_at FROM journal WHERE status = 'pending'"
            " ORDER BY id LIMIT ?",
            (limit,),
        ).fetchall()
        return [JournalEntry(r[0], r[1], r[2], r[3], parse_time(r[4])) for r in rows]

    def journal_finish(self, entry_id: int, status: str, outcome: str, now: datetime) -> None:
        """Mark a journal entry processed (``done``) or given up (``dead``)."""
        self._exec(
            "UPDATE journal SET status = ?, outcome = ?, processed_at = ? WHERE id = ?",
            (status, outcome, now.isoformat(), entry_id),
        )

    def journal_outcomes(self) -> list[tuple[str, str, str, str | None]]:
        """(source, event key, status, outcome) of every journal entry, in arrival order."""
        rows = self._exec("SELECT source, event_key, status, outcome FROM journal ORDER BY id").fetchall()
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    def journal_counts(self) -> dict[str, int]:
        """Journal rows per status."""
        return dict(self._exec("SELECT status, count(*) FROM journal GROUP BY status").fetchall())

    # --- cursors -------------------------------------------------------------------------------

    def get_cursor(self, source: str) -> str | None:
        """How far ``source`` has been read, as the source itself encoded it."""
        row = self._exec("SELECT cursor FROM cursors WHERE source = ?", (source,)).fetchone()
        return None if row is None else row[0]

    def set_cursor(self, source: str, cursor: str | None, now: datetime) -> None:
        """Remember how far ``source`` has been read."""
        self._exec(
            "INSERT INTO cursors (source, cursor, updated_at) VALUES (?, ?, ?)"
            " ON CONFLICT (source) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at",
            (source, cursor, now.isoformat()),
        )

    # --- tickets (connector.domain.ledger.TicketLedger) ----------------------------------------------

    def ticket_add(self, state: TicketState, backend: str) -> None:
        """Record a ticket the pipeline decided to create (its helpdesk id comes later)."""
        self._exec(
            "INSERT OR IGNORE INTO tickets (key, backend, ticket_id, source, external_id, fingerprint, status,"
            " master_key, created_at, resolved_at, closed_at, occurred_at, impact, urgency, priority, repeats,"
            " recurrence_of, content, contact, sla_due, assignment_group, assignee, assigned_at)"
            " VALUES (?, ?, NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                state.key,
                backend,
                state.source or "",
                state.external_id,
                state.fingerprint,
                state.status.value,
                state.master_key,
                state.created_at.isoformat(),
                isoformat(state.resolved_at),
                isoformat(state.closed_at),
                isoformat(state.occurred_at),
                _int(state.impact),
                _int(state.urgency),
                _int(state.priority),
                state.repeats,
                state.recurrence_of,
                json.dumps(dict(state.content), ensure_ascii=False) if state.content else None,
                state.contact,
                isoformat(state.sla_due),
                state.assignment_group,
                state.assignee,
                isoformat(state.assigned_at),
            ),
        )

    def ticket_set_ref(self, key: str, ticket_id: str, url: str) -> None:
        """Record the helpdesk id of a created ticket."""
        self._exec("UPDATE tickets SET ticket_id = ?, url = ? WHERE key = ?", (ticket_id, url, key))

    def ticket_set_status(self, key: str, status: TicketStatus, at: datetime) -> None:
        """Record a status change the connector made or saw (``at``: when it happened)."""
        column = {TicketStatus.RESOLVED: "resolved_at", TicketStatus.CLOSED: "closed_at"}.get(status)
        if column:
            self._exec(
                f"UPDATE tickets SET status = ?, {column} = ? WHERE key = ?", (status.value, at.isoformat(), key)
            )
        else:  # open again (reopened): not finished
            self._exec(
                "UPDATE tickets SET status = ?, resolved_at = NULL, closed_at = NULL WHERE key = ?", (status.value, key)
            )

    def ticket_bump_repeats(self, key: str) -> None:
        """Count one more repeat on a master."""
        self._exec("UPDATE tickets SET repeats = repeats + 1 WHERE key = ?", (key,))

    def ticket_set_priority(self, key: str, impact: Impact, urgency: Urgency, priority: Priority) -> None:
        """Record a priority change the connector made."""
        self._exec(
            "UPDATE tickets SET impact = ?, urgency = ?, priority = ? WHERE key = ?",
            (int(impact), int(urgency), int(priority), key),
        )

    def alias_add(self, key: str, ticket_key: str, at: datetime) -> None:
        """Remember that the alert ``key`` was appended to ticket ``ticket_key``."""
        self._exec(
            "INSERT OR IGNORE INTO aliases (key, ticket_key, created_at) VALUES (?, ?, ?)",
            (key, ticket_key, at.isoformat()),
        )

    def open_duplicates(self, master_key: str) -> list[str]:
        """Keys of the unresolved duplicates of ``master_key``, oldest first."""
        rows = self._exec(
            "SELECT key FROM tickets WHERE master_key = ? AND status NOT IN ('resolved', 'closed') ORDER BY rowid",
            (master_key,),
        ).fetchall()
        return [r[0] for r in rows]

    def ticket_set_life(self, key: str, **changes: Any) -> None:
        """Record what the helpdesk did to a ticket (any of ``ledger.LIFE_FIELDS``)."""
        unknown = set(changes) - LIFE_FIELDS
        if unknown:
            raise ValueError(f"not ticket-life fields: {sorted(unknown)}")
        if not changes:
            return
        values = [_column_value(name, value) for name, value in changes.items()]
        assignments = ", ".join(f"{name} = ?" for name in changes)
        self._exec(f"UPDATE tickets SET {assignments} WHERE key = ?", (*values, key))

    def active_tickets(self) -> list[TicketState]:
        """Every ticket not closed yet, oldest first."""
        rows = self._exec(f"SELECT {_STATE_COLUMNS} FROM tickets WHERE status != 'closed' ORDER BY rowid").fetchall()
        return [_ticket_state(row) for row in rows]

    def sweep_tickets(self, resolved_since: datetime) -> list[TicketState]:
        """Tickets not closed, not duplicates, not resolved before ``resolved_since``."""
        rows = self._exec(
            f"SELECT {_STATE_COLUMNS} FROM tickets WHERE status != 'closed' AND master_key IS NULL"
            " AND (resolved_at IS NULL OR resolved_at >= ?) ORDER BY rowid",
            (resolved_since.isoformat(),),
        ).fetchall()
        return [_ticket_state(row) for row in rows]

    def fired_steps(self, key: str) -> set[str]:
        """The steps already fired for a ticket."""
        return {r[0] for r in self._exec("SELECT step FROM steps WHERE ticket_key = ?", (key,)).fetchall()}

    def record_step(self, key: str, step: str, due_at: datetime, fired_at: datetime, late: bool) -> bool:
        """Remember that a step fired; ``False`` when it had fired before."""
        cursor = self._exec(
            "INSERT OR IGNORE INTO steps (ticket_key, step, due_at, fired_at, late) VALUES (?, ?, ?, ?, ?)",
            (key, step, due_at.isoformat(), fired_at.isoformat(), int(late)),
        )
        return cursor.rowcount == 1

    def steps(self, key: str | None = None) -> list[dict[str, Any]]:
        """Fired steps (of one ticket, or all), in the order they fired; for status and tests."""
        sql = "SELECT ticket_key, step, due_at, fired_at, late FROM steps"
        cursor = self._exec(sql + (" WHERE ticket_key = ?" if key else "") + " ORDER BY rowid", (key,) if key else ())
        return [dict(zip(("key", "step", "due_at", "fired_at", "late"), row, strict=True)) for row in cursor]

    # --- tickets (connector.domain.ledger.TicketIndex) ------------------------------------------------

    def get(self, key: str) -> TicketState | None:
        """The ticket with this connector key."""
        row = self._exec(f"SELECT {_STATE_COLUMNS} FROM tickets WHERE key = ?", (key,)).fetchone()
        return None if row is None else _ticket_state(row)

    def alias_of(self, key: str) -> str | None:
        """The master an alert with this key was appended to, if any."""
        row = self._exec("SELECT ticket_key FROM aliases WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def open_master(self, fingerprint: str) -> TicketState | None:
        """The most recently created unresolved non-duplicate ticket with this fingerprint."""
        row = self._exec(
            f"SELECT {_STATE_COLUMNS} FROM tickets WHERE fingerprint = ? AND master_key IS NULL"
            " AND status NOT IN ('resolved', 'closed') ORDER BY rowid DESC LIMIT 1",
            (fingerprint,),
        ).fetchone()
        return None if row is None else _ticket_state(row)

    def last_done(self, fingerprint: str, after: DoneAfter) -> TicketState | None:
        """The non-duplicate ticket with this fingerprint finished latest (resolved or closed,
        or only closed)."""
        if after == "closed":
            where, done = "status = 'closed' AND closed_at IS NOT NULL", "closed_at"
        else:
            where, done = "status IN ('resolved', 'closed')", "coalesce(resolved_at, closed_at)"
        row = self._exec(
            f"SELECT {_STATE_COLUMNS} FROM tickets WHERE fingerprint = ? AND master_key IS NULL AND {where}"
            f" AND {done} IS NOT NULL ORDER BY {done} DESC, rowid DESC LIMIT 1",
            (fingerprint,),
        ).fetchone()
        return None if row is None else _ticket_state(row)

    def key_for_ticket_id(self, ticket_id: str) -> str | None:
        """The connector key of the helpdesk ticket ``ticket_id``, if the connector made it."""
        row = self._exec("SELECT key FROM tickets WHERE ticket_id = ? LIMIT 1", (ticket_id,)).fetchone()
        return None if row is None else str(row[0])

    def ticket_ref(self, key: str) -> tuple[str, str] | None:
        """(helpdesk id, url) of a created ticket, or None while it is not created yet."""
        row = self._exec("SELECT ticket_id, url FROM tickets WHERE key = ?", (key,)).fetchone()
        return None if row is None or row[0] is None else (row[0], row[1] or "")

    def open_external_ids(self, source: str, limit: int = 10000) -> list[str]:
        """External ids of ``source``'s problems whose tickets the connector has not seen resolved."""
        rows = self._exec(
            "SELECT external_id FROM tickets WHERE source = ? AND status NOT IN ('resolved', 'closed')"
            " AND external_id IS NOT NULL ORDER BY created_at LIMIT ?",
            (source, limit),
        ).fetchall()
        return [r[0] for r in rows]

    def all_tickets(self) -> list[dict[str, Any]]:
        """Every ticket row, for status output and tests."""
        cursor = self._exec("SELECT * FROM tickets ORDER BY rowid")
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    # --- outbox --------------------------------------------------------------------------------

    def enqueue(self, target: str, op: str, ticket_key: str | None, payload: dict[str, Any], now: datetime) -> int:
        """Owe one write to ``target``; returns the operation id."""
        cursor = self._exec(
            "INSERT INTO outbox (target, op, ticket_key, payload, created_at, next_try_at, status)"
            " VALUES (?, ?, ?, ?, ?, ?, 'pending')",
            (target, op, ticket_key, json.dumps(payload, ensure_ascii=False), now.isoformat(), now.isoformat()),
        )
        return int(cursor.lastrowid or 0)

    def pending_ops(self, limit: int) -> list[OutboxOp]:
        """Every pending operation in order (due or not): the drain decides what to try."""
        rows = self._exec(
            "SELECT id, target, op, ticket_key, payload, attempts, next_try_at, last_error, sent FROM outbox"
            " WHERE status = 'pending' ORDER BY id LIMIT ?",
            (limit,),
        ).fetchall()
        return [
            OutboxOp(r[0], r[1], r[2], r[3], json.loads(r[4]), r[5], parse_time(r[6]), r[7], bool(r[8])) for r in rows
        ]

    def op_mark_sent(self, op_id: int) -> None:
        """Record, before it goes out, that the operation may reach the helpdesk from now on."""
        self._exec("UPDATE outbox SET sent = 1 WHERE id = ?", (op_id,))

    def op_done(self, op_id: int, now: datetime) -> None:
        """The write landed."""
        self._exec(
            "UPDATE outbox SET status = 'done', done_at = ?, last_error = NULL WHERE id = ?", (now.isoformat(), op_id)
        )

    def op_retry(self, op_id: int, next_try: datetime, error: str) -> None:
        """The write failed for now; try again at ``next_try``."""
        self._exec(
            "UPDATE outbox SET attempts = attempts + 1, next_try_at = ?, last_error = ? WHERE id = ?",
            (next_try.isoformat(), error, op_id),
        )

    def op_dead(self, op: OutboxOp, reason: str, now: datetime) -> None:
        """The write can never land; keep it in the dead-letter table."""
        self._exec(
            "UPDATE outbox SET status = 'dead', attempts = attempts + 1, last_error = ?, done_at = ? WHERE id = ?",
            (reason, now.isoformat(), op.id),
        )
        self.dead_letter(
            "outbox", op.target, op.ticket_key, f"{op.op}: {reason}", json.dumps(op.payload, ensure_ascii=False), now
        )

    def has_pending_op(self, ticket_key: str, op: str) -> bool:
        """Whether an operation ``op`` for ``ticket_key`` is still owed."""
        row = self._exec(
            "SELECT 1 FROM outbox WHERE ticket_key = ? AND op = ? AND status = 'pending' LIMIT 1", (ticket_key, op)
        ).fetchone()
        return row is not None

    def attachment_owed(self, sha256: str) -> bool:
        """Whether a pending upload still needs the spooled file with this digest."""
        row = self._exec(
            "SELECT 1 FROM outbox WHERE op = 'attach' AND status = 'pending' AND payload LIKE ? LIMIT 1",
            (f'%"sha256": "{sha256}"%',),
        ).fetchone()
        return row is not None

    def outbox_counts(self) -> dict[str, int]:
        """Outbox rows per status."""
        return dict(self._exec("SELECT status, count(*) FROM outbox GROUP BY status").fetchall())

    def outbox_rows(self, status: str | None = None) -> list[dict[str, Any]]:
        """Outbox rows (optionally of one status), for status output and tests."""
        sql = "SELECT * FROM outbox" + (" WHERE status = ?" if status else "") + " ORDER BY id"
        cursor = self._exec(sql, (status,) if status else ())
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    # --- dead letters --------------------------------------------------------------------------

    def dead_letter(
        self, kind: str, source: str | None, ref: str | None, reason: str, payload: str | None, now: datetime
    ) -> None:
        """Keep something that cannot be processed, with the reason, for a person to look at."""
        self._exec(
            "INSERT INTO dead_letter (kind, source, ref, reason, payload, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (kind, source, ref, reason, payload, now.isoformat()),
        )

    def dead_letters(self) -> list[dict[str, Any]]:
        """Every dead-letter row, oldest first."""
        cursor = self._exec("SELECT id, kind, source, ref, reason, payload, created_at FROM dead_letter ORDER BY id")
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


_STATE_COLUMNS = (
    "key, ticket_id, status, fingerprint, created_at, resolved_at, closed_at, master_key, occurred_at, source,"
    " external_id, impact, urgency, priority, repeats, recurrence_of, content, url, contact, sla_due, assigned_at,"
    " accepted_at, assignee, assignment_group, reassignments, escalation_level, third_party_at, suspended_since,"
    " suspensions, synced_changes"
)


def _column_value(name: str, value: Any) -> Any:
    """A ticket-life value as its column holds it."""
    if name == "suspensions":
        return json.dumps([[isoformat(a), isoformat(b)] for a, b in value]) if value else None
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _int(value: int | None) -> int | None:
    return None if value is None else int(value)


def _time(text: str | None) -> datetime | None:
    return parse_time(text) if text else None


def _ticket_state(row: Sequence[Any]) -> TicketState:
    return TicketState(
        key=row[0],
        ticket_id=row[1],
        status=TicketStatus(row[2]),
        fingerprint=row[3],
        created_at=parse_time(row[4]),
        resolved_at=_time(row[5]),
        closed_at=_time(row[6]),
        master_key=row[7],
        occurred_at=_time(row[8]),
        source=row[9] or None,
        external_id=row[10],
        impact=Impact(row[11]) if row[11] is not None else None,
        urgency=Urgency(row[12]) if row[12] is not None else None,
        priority=Priority(row[13]) if row[13] is not None else None,
        repeats=int(row[14] or 0),
        recurrence_of=row[15],
        content=json.loads(row[16]) if row[16] else {},
        url=row[17],
        contact=row[18],
        sla_due=_time(row[19]),
        assigned_at=_time(row[20]),
        accepted_at=_time(row[21]),
        assignee=row[22],
        assignment_group=row[23],
        reassignments=int(row[24] or 0),
        escalation_level=int(row[25] or 0),
        third_party_at=_time(row[26]),
        suspended_since=_time(row[27]),
        suspensions=tuple((parse_time(a), parse_time(b)) for a, b in json.loads(row[28])) if row[28] else (),
        synced_changes=int(row[29] or 0),
    )
