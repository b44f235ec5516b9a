"""The alert-noise tables (issue 18): what flapping, maintenance and the topology remember.

``state_changes``: when each fingerprint's problems began and recovered (``flapping.yaml``
counts them) and the tickets' flapping mark; ``holds``: problems held during maintenance
(``maintenance.yaml``); the tickets' CI and storm key and ``ticket_upstreams`` (``topology.yaml``:
the parents and children of cause correlation). The ``TicketIndex``/``TicketLedger`` methods of
``connector.domain.ticket_state`` that read and write them; ``Store`` holds them beside the
ticket map (``connector.state.tickets``), whose rows they share.
"""

from __future__ import annotations

__all__ = ["NoiseTables"]

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from connector.domain.clock import isoformat
from connector.domain.ledger import TicketState
from connector.domain.models import Alert
from connector.state.database import Database
from connector.state.tickets import STATE_COLUMNS as _STATE_COLUMNS
from connector.state.tickets import ticket_state as _ticket_state
from connector.state.tickets import time_or_none as _time

_JOINED = ", ".join(f"t.{column.strip()}" for column in _STATE_COLUMNS.split(","))


class NoiseTables(Database):
    """The alert-noise tables and the ticket columns they add."""

    def open_repeats(self, key: str) -> int:
        """Repeats counted on ``key`` that hold a problem not recovered yet."""
        row = self._row(
            "SELECT count(*) AS n FROM aliases WHERE ticket_key = ? AND problem IS NOT NULL AND recovered_at IS NULL",
            (key,),
        )
        return int(row["n"]) if row is not None else 0

    def state_changes(self, fingerprint: str, since: datetime) -> int:
        """How many problems of this fingerprint began or recovered at or after ``since``."""
        row = self._row(
            "SELECT count(*) AS n FROM state_changes WHERE fingerprint = ? AND at > ?",
            (fingerprint, since.isoformat()),
        )
        return int(row["n"]) if row is not None else 0

    def last_change(self, fingerprint: str) -> datetime | None:
        """When a problem of this fingerprint last began or recovered."""
        row = self._row("SELECT max(at) AS at FROM state_changes WHERE fingerprint = ?", (fingerprint,))
        return _time(row["at"]) if row is not None else None

    def flapping_ticket(self, fingerprint: str) -> TicketState | None:
        """The unresolved flapping ticket of this fingerprint."""
        row = self._row(
            f"SELECT {_STATE_COLUMNS} FROM tickets WHERE fingerprint = ? AND flapping_since IS NOT NULL"
            " AND status NOT IN ('resolved', 'closed') ORDER BY rowid DESC LIMIT 1",
            (fingerprint,),
        )
        return None if row is None else _ticket_state(row)

    def change_add(self, fingerprint: str, at: datetime) -> None:
        """Remember a problem of this fingerprint beginning or recovering at ``at``."""
        self._exec("INSERT INTO state_changes (fingerprint, at) VALUES (?, ?)", (fingerprint, at.isoformat()))

    def ticket_set_flapping(self, key: str, since: datetime | None) -> None:
        """Mark a ticket flapping from ``since``, or settled (``None``)."""
        self._exec("UPDATE tickets SET flapping_since = ?, next_sweep_at = '' WHERE key = ?", (isoformat(since), key))

    def flapping_tickets(self) -> list[TicketState]:
        """Unresolved tickets marked flapping, oldest first."""
        rows = self._rows(
            f"SELECT {_STATE_COLUMNS} FROM tickets WHERE flapping_since IS NOT NULL"
            " AND status NOT IN ('resolved', 'closed') ORDER BY rowid"
        )
        return [_ticket_state(row) for row in rows]

    def flapping_quiet_since(self, cutoff: datetime) -> list[TicketState]:
        """Unresolved flapping tickets whose problems (its own, its repeats') all recovered and
        whose trigger last changed at or before ``cutoff``, oldest first: one statement, so a
        storm's hundreds of flapping tickets cost the decide job an index probe each, not a row
        and three queries each. The times are ISO text: one second of slack keeps a time of the
        same second written with and without its fraction on the safe side (the caller checks
        each exactly)."""
        rows = self._rows(
            f"SELECT {_STATE_COLUMNS} FROM tickets WHERE flapping_since IS NOT NULL"
            " AND status NOT IN ('resolved', 'closed') AND problem_recovered_at IS NOT NULL"
            " AND NOT EXISTS (SELECT 1 FROM aliases WHERE aliases.ticket_key = tickets.key"
            " AND aliases.problem IS NOT NULL AND aliases.recovered_at IS NULL)"
            " AND (SELECT max(at) FROM state_changes WHERE state_changes.fingerprint = tickets.fingerprint) <= ?"
            " ORDER BY rowid",
            ((cutoff + timedelta(seconds=1)).isoformat(),),
        )
        return [_ticket_state(row) for row in rows]

    def open_incidents(self, cis: Sequence[str], since: datetime) -> dict[str, TicketState]:
        """Per CI, its newest unresolved ticket not counted on another, begun since ``since``."""
        found: dict[str, TicketState] = {}
        for start in range(0, len(cis), 500):  # SQLite's parameter limit
            chunk = list(cis[start : start + 500])
            marks = ", ".join("?" * len(chunk))
            rows = self._rows(
                f"SELECT {_STATE_COLUMNS} FROM tickets WHERE ci IN ({marks}) AND status NOT IN ('resolved', 'closed')"
                " AND master_key IS NULL AND coalesce(occurred_at, created_at) >= ? ORDER BY rowid DESC",
                (*chunk, since.isoformat()),
            )
            for row in rows:
                found.setdefault(row["ci"], _ticket_state(row))
        return found

    def dependents(self, upstream: str, since: datetime) -> list[TicketState]:
        """Unresolved tickets not counted on another, begun since ``since``, depending on ``upstream``."""
        rows = self._rows(
            # ticket_upstreams first (CROSS JOIN keeps that order): the planner would otherwise
            # walk every master by tickets_master
            # (the join condition in WHERE: PostgreSQL's CROSS JOIN takes no ON)
            f"SELECT {_JOINED} FROM ticket_upstreams AS u CROSS JOIN tickets AS t"
            " WHERE t.key = u.key AND u.upstream = ? AND t.status NOT IN ('resolved', 'closed')"
            " AND t.master_key IS NULL AND coalesce(t.occurred_at, t.created_at) >= ? ORDER BY t.rowid",
            (upstream, since.isoformat()),
        )
        return [_ticket_state(row) for row in rows]

    def storm_incidents(self, storm_key: str, since: datetime) -> list[TicketState]:
        """Unresolved tickets with this storm key (incident and members), begun since ``since``."""
        rows = self._rows(
            f"SELECT {_STATE_COLUMNS} FROM tickets WHERE storm_key = ? AND status NOT IN ('resolved', 'closed')"
            " AND coalesce(occurred_at, created_at) >= ? ORDER BY rowid",
            (storm_key, since.isoformat()),
        )
        return [_ticket_state(row) for row in rows]

    def ticket_set_master(self, key: str, master_key: str) -> None:
        """Put ticket ``key`` under ``master_key`` (an adopted child, a storm's member)."""
        self._exec("UPDATE tickets SET master_key = ?, next_sweep_at = '' WHERE key = ?", (master_key, key))

    def is_held(self, key: str) -> bool:
        """Whether the alert ``key`` is held during maintenance (not opened since)."""
        return self._row("SELECT 1 FROM holds WHERE key = ? AND released_at IS NULL", (key,)) is not None

    def hold_add(self, alert: Alert, until: datetime | None, at: datetime) -> None:
        """Hold a problem alerted during maintenance."""
        self._exec(
            "INSERT INTO holds (key, payload, until, held_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
            # UTC, so the text compares in time order (holds_due)
            (alert.key, alert.model_dump_json(), isoformat(until.astimezone(UTC) if until else None), at.isoformat()),
        )

    def holds_due(self, at: datetime) -> list[Alert]:
        """Held problems whose window ended by ``at`` and that did not recover, oldest first."""
        rows = self._rows(
            "SELECT payload FROM holds WHERE released_at IS NULL AND recovered_at IS NULL AND until IS NOT NULL"
            " AND until <= ? ORDER BY until, rowid",
            (at.isoformat(),),
        )
        return [Alert.model_validate_json(row["payload"]) for row in rows]

    def hold_release(self, key: str) -> None:
        """Mark the hold of ``key`` released (its ticket was opened)."""
        self._exec("UPDATE holds SET released_at = held_at WHERE key = ? AND released_at IS NULL", (key,))

    def hold_counts(self) -> dict[str, int]:
        """Problems held during maintenance: still held, recovered while held, opened after it."""
        row = self._row(
            # CASE, not a bare condition: PostgreSQL sums no booleans
            "SELECT sum(CASE WHEN released_at IS NULL AND recovered_at IS NULL THEN 1 ELSE 0 END) AS held,"
            " sum(CASE WHEN released_at IS NULL AND recovered_at IS NOT NULL THEN 1 ELSE 0 END) AS recovered,"
            " sum(CASE WHEN released_at IS NOT NULL THEN 1 ELSE 0 END) AS opened FROM holds"
        )
        return {name: int(row[name] or 0) for name in ("held", "recovered", "opened")} if row else {}
