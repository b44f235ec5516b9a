"""Leases and lock rows: how several daemons on one state agree who does what.

A *lease* names one singleton job (the sweep, sync-back, a source's poll): while a daemon holds
it, no other daemon runs that job. Taking and renewing are the same single conditional
``UPDATE … WHERE name = ? AND (holder = ? OR holder IS NULL OR expires_at <= ?)`` (after an
``INSERT … ON CONFLICT DO NOTHING`` creates the row the first time), so two daemons racing for
a free or expired lease cannot both win: the database serialises the two updates and the second
one's ``WHERE`` no longer matches. Nothing here reads the wall clock: ``now`` comes from the
caller's injected clock, and times are kept as ISO-8601 UTC text with microseconds (``stamp``),
which sorts as text in time order on SQLite and PostgreSQL alike.

A dead holder's lease is never released: it expires, and the next ``lease_acquire`` after
``expires_at`` takes it over. A clean stop releases at once (``lease_release``), so a restart
or a planned stop hands the job over without waiting.

A *lock row* (``locks``) serialises a short transaction with every other daemon's: the
transaction's first statement is ``UPDATE locks SET n = n + 1 WHERE name = ?``, which takes
that row's write lock (PostgreSQL) or the database's (SQLite ``BEGIN IMMEDIATE`` already has
it) until the commit. The decide step takes ``decide`` (``connector.runtime.engine``).
"""

from __future__ import annotations

__all__ = ["DECIDE_LOCK", "FREE", "LeaseRow", "LeasesTable", "holder_id", "stamp"]

import os
import secrets
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from connector.domain.clock import parse_time
from connector.domain.errors import StoreError
from connector.state.database import Database

#: the lock row every transaction that decides on a ticket's state takes first (the journal's
#: decisions, the clock's settled flaps and released holds, the sweep, sync-back)
DECIDE_LOCK = "decide"

#: the ``expires_at`` of a lease nobody holds: sorts before every real time
FREE = ""


def stamp(value: datetime) -> str:
    """A time as the leases and claims keep it: UTC ISO-8601 with microseconds always written,
    so two stamps compare as text exactly as they compare as times."""
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def holder_id() -> str:
    """Who this daemon is in the ``leases`` and ``outbox`` tables: ``host:pid:random`` (the random
    part tells a restarted daemon that got the same pid from its dead predecessor)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


@dataclass(frozen=True)
class LeaseRow:
    """One lease as the table holds it (for ``status`` and tests)."""

    name: str
    holder: str | None
    expires_at: datetime | None
    acquired_at: datetime | None


class LeasesTable(Database):
    """The ``leases`` and ``locks`` tables."""

    def lease_acquire(self, name: str, holder: str, now: datetime, seconds: float) -> bool:
        """Take or renew lease ``name`` for ``holder`` until ``now + seconds``; ``True`` when it is
        ``holder``'s now. It is taken when nobody holds it, when it expired, or when ``holder``
        holds it already (then this renews it)."""
        until = stamp(now + timedelta(seconds=seconds))
        at = stamp(now)
        with self.transaction():
            self._exec(
                "INSERT INTO leases (name, holder, expires_at) VALUES (?, NULL, ?) ON CONFLICT (name) DO NOTHING",
                (name, FREE),
            )
            cursor = self._exec(
                "UPDATE leases SET acquired_at = CASE WHEN holder = ? THEN acquired_at ELSE ? END,"
                " holder = ?, expires_at = ?, renewed_at = ?"
                " WHERE name = ? AND (holder = ? OR holder IS NULL OR expires_at <= ?)",
                (holder, at, holder, until, at, name, holder, at),
            )
            return cursor.rowcount == 1

    def lease_release(self, name: str, holder: str) -> bool:
        """Let lease ``name`` go at once (a clean stop), if ``holder`` still holds it."""
        with self.transaction():
            cursor = self._exec(
                "UPDATE leases SET holder = NULL, expires_at = ? WHERE name = ? AND holder = ?", (FREE, name, holder)
            )
            return cursor.rowcount == 1

    def lease_holder(self, name: str, now: datetime) -> str | None:
        """Who holds lease ``name`` at ``now`` (``None``: nobody, or it expired)."""
        row = self._row("SELECT holder, expires_at FROM leases WHERE name = ?", (name,))
        if row is None or row["holder"] is None or row["expires_at"] <= stamp(now):
            return None
        return str(row["holder"])

    def leases(self) -> list[LeaseRow]:
        """Every lease row, by name."""
        rows = self._rows("SELECT name, holder, expires_at, acquired_at FROM leases ORDER BY name")
        return [
            LeaseRow(
                row["name"],
                row["holder"],
                parse_time(row["expires_at"]) if row["expires_at"] else None,
                parse_time(row["acquired_at"]) if row["acquired_at"] else None,
            )
            for row in rows
        ]

    def holders(self) -> set[str]:
        """Every holder named by a lease or a pending operation's claim (live or expired)."""
        rows = self._rows(
            "SELECT holder AS who FROM leases WHERE holder IS NOT NULL"
            " UNION SELECT claimed_by AS who FROM outbox WHERE status = 'pending' AND claimed_by IS NOT NULL"
        )
        return {str(row["who"]) for row in rows}

    def drop_holder(self, holder: str) -> None:
        """Free every lease and claim of ``holder``, known to be dead (its process is gone): its
        successor on the same host need not wait for them to expire."""
        with self.transaction():
            self._exec("UPDATE leases SET holder = NULL, expires_at = ? WHERE holder = ?", (FREE, holder))
            self._exec(
                "UPDATE outbox SET claimed_by = NULL, claimed_until = NULL WHERE claimed_by = ? AND status = 'pending'",
                (holder,),
            )

    def take_lock(self, name: str) -> None:
        """Serialise the open transaction with every other one that takes lock row ``name``
        (the first statement of that transaction; the row lock is held until it ends). The rows
        are made by the migrations (``decide``); an unknown name is a bug, not a lock."""
        if self._exec("UPDATE locks SET n = n + 1 WHERE name = ?", (name,)).rowcount != 1:
            raise StoreError(f"{self.path}: no lock row {name!r} (is the schema up to date?)")
