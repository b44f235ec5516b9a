"""The ticket map: the connector's tickets as the correlation and the clock read them.

Connector key → helpdesk id, fingerprint, status, priority, repeats and the content a duplicate
or recurrence copies (``connector.domain.ledger``: this is the ``TicketIndex`` the pipeline
reads and the ``TicketLedger`` a decision writes); ``aliases``: alerts appended to a master by
the storm guard (with the problem each holds); ``steps``: the escalation, notice and SLA steps
that fired, each once; ``state_changes``: when each fingerprint's problems began and recovered
(what ``flapping.yaml`` counts); ``holds``: problems held during maintenance.
"""

from __future__ import annotations

__all__ = ["NEVER", "STATE_COLUMNS", "HelpdeskId", "TicketsTable", "ticket_state", "time_or_none"]

import json
from datetime import datetime
from typing import Any, NamedTuple

from connector.domain.clock import isoformat, parse_time
from connector.domain.ledger import LIFE_FIELDS, DoneAfter, TicketState
from connector.domain.models import Impact, Priority, TicketStatus, Urgency
from connector.state.connection import Row
from connector.state.database import Database

#: ``next_sweep_at`` of a ticket the passing of time alone cannot change (compares after every time)
NEVER = "9999-12-31T23:59:59+00:00"


class HelpdeskId(NamedTuple):
    """Where a created ticket lives in the helpdesk (a tuple, so ``(id, url)`` still compares)."""

    ticket_id: str
    url: str


class TicketsTable(Database):
    """The ``tickets``, ``aliases`` and ``steps`` tables."""

    # --- tickets (connector.domain.ledger.TicketLedger) ----------------------------------------------

    def ticket_add(self, state: TicketState, backend: str) -> None:
        """Record a ticket the pipeline decided to create (its helpdesk id comes later)."""
        self._exec(
            "INSERT INTO tickets (key, backend, ticket_id, source, external_id, fingerprint, status,"
            " master_key, created_at, resolved_at, closed_at, occurred_at, impact, urgency, priority, repeats,"
            " recurrence_of, content, contact, sla_due, assignment_group, assignee, assigned_at, problem,"
            " problem_recovered_at, ci, storm_key)"
            " VALUES (?, ?, NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT DO NOTHING",
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
                state.problem,
                isoformat(state.problem_recovered_at),
                state.ci,
                state.storm_key,
            ),
        )
        for upstream in state.upstreams:  # read by ``dependents``; a state read back has none
            self._exec(
                "INSERT INTO ticket_upstreams (key, upstream) VALUES (?, ?) ON CONFLICT DO NOTHING",
                (state.key, upstream),
            )

    def ticket_set_ref(self, key: str, ticket_id: str, url: str) -> None:
        """Record the helpdesk id of a created ticket."""
        self._exec("UPDATE tickets SET ticket_id = ?, url = ?, next_sweep_at = '' WHERE key = ?", (ticket_id, url, key))

    def ticket_set_status(self, key: str, status: TicketStatus, at: datetime) -> None:
        """Record a status change the connector made or saw (``at``: when it happened)."""
        column = {TicketStatus.RESOLVED: "resolved_at", TicketStatus.CLOSED: "closed_at"}.get(status)
        if column:
            self._exec(
                f"UPDATE tickets SET status = ?, {column} = ?, next_sweep_at = '' WHERE key = ?",
                (status.value, at.isoformat(), key),
            )
        else:  # open again (reopened): not finished
            self._exec(
                "UPDATE tickets SET status = ?, resolved_at = NULL, closed_at = NULL, next_sweep_at = '' WHERE key = ?",
                (status.value, key),
            )

    def ticket_bump_repeats(self, key: str) -> None:
        """Count one more repeat on a master."""
        self._exec("UPDATE tickets SET repeats = repeats + 1, next_sweep_at = '' WHERE key = ?", (key,))

    def ticket_set_priority(self, key: str, impact: Impact, urgency: Urgency, priority: Priority) -> None:
        """Record a priority change the connector made."""
        self._exec(
            "UPDATE tickets SET impact = ?, urgency = ?, priority = ?, next_sweep_at = '' WHERE key = ?",
            (int(impact), int(urgency), int(priority), key),
        )

    def alias_add(self, key: str, ticket_key: str, at: datetime, problem: str | None = None) -> None:
        """Remember that the alert ``key`` was appended to ticket ``ticket_key``."""
        self._exec(
            "INSERT INTO aliases (key, ticket_key, created_at, problem) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (key, ticket_key, at.isoformat(), problem),
        )

    def problem_recovered(self, key: str, at: datetime) -> None:
        """Record that the problem of alert ``key`` (a ticket's own, an alias's, a held one's) is over."""
        self._exec(
            "UPDATE tickets SET problem_recovered_at = ?, next_sweep_at = ''"
            " WHERE key = ? AND problem_recovered_at IS NULL",
            (at.isoformat(), key),
        )
        self._exec("UPDATE aliases SET recovered_at = ? WHERE key = ? AND recovered_at IS NULL", (at.isoformat(), key))
        self._exec(
            "UPDATE holds SET recovered_at = ? WHERE key = ? AND recovered_at IS NULL AND released_at IS NULL",
            (at.isoformat(), key),
        )

    def open_duplicates(self, master_key: str) -> list[str]:
        """Keys of the unresolved duplicates of ``master_key``, oldest first."""
        rows = self._rows(
            "SELECT key FROM tickets WHERE master_key = ? AND status NOT IN ('resolved', 'closed') ORDER BY rowid",
            (master_key,),
        )
        return [row["key"] for row in rows]

    def ticket_set_life(self, key: str, **changes: Any) -> None:
        """Record what the helpdesk did to a ticket (any of ``ledger.LIFE_FIELDS``)."""
        unknown = set(changes) - LIFE_FIELDS
        if unknown:
            raise ValueError(f"not ticket-life fields: {sorted(unknown)}")
        if not changes:
            return
        values = [_column_value(name, value) for name, value in changes.items()]
        assignments = ", ".join(f"{name} = ?" for name in changes)
        self._exec(f"UPDATE tickets SET {assignments}, next_sweep_at = '' WHERE key = ?", (*values, key))

    def active_tickets(self) -> list[TicketState]:
        """Every ticket not closed yet, oldest first."""
        rows = self._rows(f"SELECT {_STATE_COLUMNS} FROM tickets WHERE status != 'closed' ORDER BY rowid")
        return [_ticket_state(row) for row in rows]

    def sweep_tickets(self, resolved_since: datetime) -> list[TicketState]:
        """Tickets not closed, not duplicates, not resolved before ``resolved_since``."""
        rows = self._rows(
            f"SELECT {_STATE_COLUMNS} FROM tickets WHERE status != 'closed' AND master_key IS NULL"
            " AND (resolved_at IS NULL OR resolved_at >= ?) ORDER BY rowid",
            (resolved_since.isoformat(),),
        )
        return [_ticket_state(row) for row in rows]

    def sweep_due_tickets(self, resolved_since: datetime, now: datetime) -> list[TicketState]:
        """``sweep_tickets`` narrowed to the tickets the sweep could change by ``now``: those whose
        ``next_sweep_at`` is passed, or empty (not swept since their last write: '' comes before
        every time). Read through the ``(master_key, next_sweep_at)`` index, so a pass where little
        is due reads little."""
        rows = self._rows(
            f"SELECT {_STATE_COLUMNS} FROM tickets WHERE master_key IS NULL AND next_sweep_at <= ?"
            " AND status != 'closed' AND (resolved_at IS NULL OR resolved_at >= ?)"
            " ORDER BY rowid",
            (now.isoformat(), resolved_since.isoformat()),
        )
        return [_ticket_state(row) for row in rows]

    def ticket_set_next_sweep(self, key: str, at: datetime | None) -> None:
        """Record when the sweep next needs to look at the ticket (``None``: not until it changes).
        Written by the sweep after its own writes to the row, which set it back to ''."""
        self._exec("UPDATE tickets SET next_sweep_at = ? WHERE key = ?", (NEVER if at is None else at.isoformat(), key))

    def fired_steps(self, key: str) -> set[str]:
        """The steps already fired for a ticket."""
        return {row["step"] for row in self._rows("SELECT step FROM steps WHERE ticket_key = ?", (key,))}

    def record_step(self, key: str, step: str, due_at: datetime, fired_at: datetime, late: bool) -> bool:
        """Remember that a step fired; ``False`` when it had fired before."""
        cursor = self._exec(
            "INSERT INTO steps (ticket_key, step, due_at, fired_at, late) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT DO NOTHING",
            (key, step, due_at.isoformat(), fired_at.isoformat(), int(late)),
        )
        return cursor.rowcount == 1

    def steps(self, key: str | None = None) -> list[dict[str, Any]]:
        """Fired steps (of one ticket, or all), in the order they fired; for status and tests."""
        sql = "SELECT ticket_key AS key, step, due_at, fired_at, late FROM steps"
        rows = self._rows(sql + (" WHERE ticket_key = ?" if key else "") + " ORDER BY rowid", (key,) if key else ())
        return [dict(row) for row in rows]

    # --- tickets (connector.domain.ledger.TicketIndex) ------------------------------------------------

    def get(self, key: str) -> TicketState | None:
        """The ticket with this connector key."""
        row = self._row(f"SELECT {_STATE_COLUMNS} FROM tickets WHERE key = ?", (key,))
        return None if row is None else _ticket_state(row)

    def alias_of(self, key: str) -> str | None:
        """The master an alert with this key was appended to, if any."""
        row = self._row("SELECT ticket_key FROM aliases WHERE key = ?", (key,))
        return None if row is None else str(row["ticket_key"])

    def open_master(self, fingerprint: str) -> TicketState | None:
        """The most recently created unresolved non-duplicate ticket with this fingerprint."""
        row = self._row(
            f"SELECT {_STATE_COLUMNS} FROM tickets WHERE fingerprint = ? AND master_key IS NULL"
            " AND status NOT IN ('resolved', 'closed') ORDER BY rowid DESC LIMIT 1",
            (fingerprint,),
        )
        return None if row is None else _ticket_state(row)

    def last_done(self, fingerprint: str, after: DoneAfter) -> TicketState | None:
        """The non-duplicate ticket with this fingerprint finished latest (resolved or closed,
        or only closed)."""
        if after == "closed":
            where, done = "status = 'closed' AND closed_at IS NOT NULL", "closed_at"
        else:
            where, done = "status IN ('resolved', 'closed')", "coalesce(resolved_at, closed_at)"
        row = self._row(
            f"SELECT {_STATE_COLUMNS} FROM tickets WHERE fingerprint = ? AND master_key IS NULL AND {where}"
            f" AND {done} IS NOT NULL ORDER BY {done} DESC, rowid DESC LIMIT 1",
            (fingerprint,),
        )
        return None if row is None else _ticket_state(row)

    def key_for_ticket_id(self, ticket_id: str) -> str | None:
        """The connector key of the helpdesk ticket ``ticket_id``, if the connector made it."""
        row = self._row("SELECT key FROM tickets WHERE ticket_id = ? LIMIT 1", (ticket_id,))
        return None if row is None else str(row["key"])

    def held_problems(self, master: TicketState) -> list[str]:
        """Still-active problems ``master`` holds besides its own (``TicketIndex.held_problems``)."""
        if master.problem is None:
            return []
        rows = self._rows(
            "SELECT key FROM tickets WHERE master_key = ? AND status NOT IN ('resolved', 'closed')"
            " AND problem IS NOT NULL AND problem != ? AND problem_recovered_at IS NULL"
            " UNION ALL SELECT key FROM aliases WHERE ticket_key = ? AND problem IS NOT NULL AND problem != ?"
            " AND recovered_at IS NULL",
            (master.key, master.problem, master.key, master.problem),
        )
        return [row["key"] for row in rows]

    def ticket_ref(self, key: str) -> HelpdeskId | None:
        """(helpdesk id, url) of a created ticket, or None while it is not created yet."""
        row = self._row("SELECT ticket_id, url FROM tickets WHERE key = ?", (key,))
        return None if row is None or row["ticket_id"] is None else HelpdeskId(row["ticket_id"], row["url"] or "")

    def open_external_ids(self, source: str, limit: int = 10000) -> list[str]:
        """External ids of ``source``'s problems whose tickets the connector has not seen resolved."""
        rows = self._rows(
            "SELECT external_id FROM tickets WHERE source = ? AND status NOT IN ('resolved', 'closed')"
            " AND external_id IS NOT NULL ORDER BY created_at LIMIT ?",
            (source, limit),
        )
        return [row["external_id"] for row in rows]

    def all_tickets(self) -> list[dict[str, Any]]:
        """Every ticket row, for status output and tests."""
        return [dict(row) for row in self._rows("SELECT * FROM tickets ORDER BY rowid")]


_STATE_COLUMNS = (
    "key, ticket_id, status, fingerprint, created_at, resolved_at, closed_at, master_key, occurred_at, source,"
    " external_id, impact, urgency, priority, repeats, recurrence_of, content, url, contact, sla_due, assigned_at,"
    " accepted_at, assignee, assignment_group, reassignments, escalation_level, third_party_at, suspended_since,"
    " suspensions, synced_changes, rejections, verified_at, problem, problem_recovered_at, flapping_since, ci,"
    " storm_key, confirmed_at, closed_unconfirmed"
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


def _ticket_state(row: Row) -> TicketState:
    suspensions = row["suspensions"]
    return TicketState(
        key=row["key"],
        ticket_id=row["ticket_id"],
        status=TicketStatus(row["status"]),
        fingerprint=row["fingerprint"],
        created_at=parse_time(row["created_at"]),
        resolved_at=_time(row["resolved_at"]),
        closed_at=_time(row["closed_at"]),
        master_key=row["master_key"],
        occurred_at=_time(row["occurred_at"]),
        source=row["source"] or None,
        external_id=row["external_id"],
        impact=Impact(row["impact"]) if row["impact"] is not None else None,
        urgency=Urgency(row["urgency"]) if row["urgency"] is not None else None,
        priority=Priority(row["priority"]) if row["priority"] is not None else None,
        repeats=int(row["repeats"] or 0),
        recurrence_of=row["recurrence_of"],
        content=json.loads(row["content"]) if row["content"] else {},
        url=row["url"],
        contact=row["contact"],
        sla_due=_time(row["sla_due"]),
        assigned_at=_time(row["assigned_at"]),
        accepted_at=_time(row["accepted_at"]),
        assignee=row["assignee"],
        assignment_group=row["assignment_group"],
        reassignments=int(row["reassignments"] or 0),
        escalation_level=int(row["escalation_level"] or 0),
        third_party_at=_time(row["third_party_at"]),
        suspended_since=_time(row["suspended_since"]),
        suspensions=tuple((parse_time(a), parse_time(b)) for a, b in json.loads(suspensions)) if suspensions else (),
        synced_changes=int(row["synced_changes"] or 0),
        rejections=int(row["rejections"] or 0),
        verified_at=_time(row["verified_at"]),
        problem=row["problem"],
        problem_recovered_at=_time(row["problem_recovered_at"]),
        flapping_since=_time(row["flapping_since"]),
        ci=row["ci"],
        storm_key=row["storm_key"],
        confirmed_at=_time(row["confirmed_at"]),
        closed_unconfirmed=bool(row["closed_unconfirmed"]),
    )


#: what ``connector.state.noise`` reads the same rows with
STATE_COLUMNS = _STATE_COLUMNS
ticket_state = _ticket_state
time_or_none = _time
