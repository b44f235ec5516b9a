"""Retention: the SQL that deletes the state file's finished rows once they are old enough.

The state file keeps what makes the connector safe; the history is the helpdesk's (the KPI
reports are rebuilt from it, ``connector.kpi.export``). So what only grows with the alert rate
can go once it has done its job, and each rule here says which rows have, and which never go:

- ``dead_letter``: letters older than their age (a person had that long to retry or purge them).
- ``journal``: entries ``done``, or ``dead`` with no dead letter left to retry them, processed
  before the cutoff. A ``pending`` entry is never touched: it is not decided yet.
- ``outbox``: operations ``done``, or ``dead`` with no dead letter left, finished before the
  cutoff. A ``pending`` operation is owed and never touched.
- ``state_changes`` (flapping) and finished ``holds`` (maintenance): with the journal's age; the
  newest change of a fingerprint whose ticket is still flapping stays, so it can tell when it
  settled (``flapping.yaml`` counts changes over minutes, far inside any sensible age).
- ``steps``: the fired escalation/notice/SLA steps of tickets *closed* before the cutoff (the
  sweep reads only tickets not closed; a reopened ticket has no ``closed_at`` and keeps them).
- ``tickets`` (with their ``steps``, ``aliases`` and ``ticket_upstreams``): rows of tickets the
  connector made, closed before the cutoff — a duplicate: resolved with its master before it —
  that no kept ticket names as its master and no owed operation waits on. A recurrence's
  original may go (each recurrence names the one before it, so keeping originals would keep every
  ticket of a recurring fault): the recurrence copied what it needed when it was made, the
  helpdesk holds the link, and the cutoff is never inside the recurrence window
  (``RetentionJob``), so no new recurrence can still need it. An *adopted* ticket
  (``helpdesk:<id>``, made by people) is kept: without its row the sync-back would adopt it a
  second time the next time someone touches it.

Each ``delete_*`` removes at most ``limit`` rows (the caller wraps each call in its own short
transaction, ``connector.runtime.retention_job``) and returns how many went, per table; each
``count_*`` says how many rows the same rule matches now (``state prune --dry-run``).

Portable SQL only (SQLite and PostgreSQL): times are ISO-8601 UTC text and compare as text; a
batch is chosen by a sub-select with ``LIMIT`` and deleted by its key.
"""

from __future__ import annotations

__all__ = ["RULES", "Cutoffs", "RetentionQueries", "table_names"]

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from connector.state.database import Database
from connector.state.schema import MIGRATIONS

#: the order a pass runs its rules in: letters first (their items become prunable), tickets last
RULES: Sequence[str] = ("dead_letter", "journal", "outbox", "state_changes", "holds", "steps", "solved", "tickets")

#: connector keys of tickets people made and the sync-back adopted (``connector.runtime.adopt``)
_ADOPTED = "helpdesk:%"


@dataclass(frozen=True)
class Cutoffs:
    """Per rule, the time before which a finished row may go (``None``: kept forever)."""

    journal: datetime | None = None
    outbox: datetime | None = None
    steps: datetime | None = None
    dead_letter: datetime | None = None
    tickets: datetime | None = None

    @classmethod
    def at(
        cls,
        now: datetime,
        *,
        journal: timedelta | None = None,
        outbox: timedelta | None = None,
        steps: timedelta | None = None,
        dead_letter: timedelta | None = None,
        tickets: timedelta | None = None,
    ) -> Cutoffs:
        """The cutoffs ``now`` minus each age. A ticket's steps go with the ticket at the latest
        (its rows cannot outlive it), so the steps' age is never longer than the tickets'."""
        utc = now.astimezone(UTC)
        if tickets is not None and (steps is None or steps > tickets):
            steps = tickets
        return cls(
            journal=None if journal is None else utc - journal,
            outbox=None if outbox is None else utc - outbox,
            steps=None if steps is None else utc - steps,
            dead_letter=None if dead_letter is None else utc - dead_letter,
            tickets=None if tickets is None else utc - tickets,
        )

    def of(self, rule: str) -> datetime | None:
        """The cutoff a rule of ``RULES`` uses (the alert-noise tables go with the journal)."""
        if rule in ("state_changes", "holds"):
            return self.journal
        if rule == "solved":  # what a solved ticket taught lives as long as the ticket's row
            return self.tickets
        cutoff: datetime | None = getattr(self, rule)
        return cutoff


def table_names() -> list[str]:
    """Every table the migrations create, in the order they do (portable: no catalogue query)."""
    names = re.findall(r"CREATE TABLE (?:IF NOT EXISTS )?(\w+)", "\n".join(MIGRATIONS))
    return list(dict.fromkeys(names))


# --- what each rule matches: (FROM-and-WHERE, key column) -----------------------------------------

_DEAD_JOURNAL_KEPT = (
    "EXISTS (SELECT 1 FROM dead_letter d WHERE d.kind <> 'outbox' AND d.source = journal.source"
    " AND d.created_at = journal.processed_at)"
)
_DEAD_OUTBOX_KEPT = "EXISTS (SELECT 1 FROM dead_letter d WHERE d.kind = 'outbox' AND d.created_at = outbox.done_at)"

_WHERE = {
    "dead_letter": "FROM dead_letter WHERE created_at < ?",
    "journal": (
        "FROM journal WHERE status IN ('done', 'dead') AND processed_at < ?"
        f" AND NOT (status = 'dead' AND {_DEAD_JOURNAL_KEPT})"
    ),
    "outbox": (
        "FROM outbox WHERE status IN ('done', 'dead') AND done_at < ?"
        f" AND NOT (status = 'dead' AND {_DEAD_OUTBOX_KEPT})"
    ),
    # finished: recovered while held, or opened after it (``hold_release`` stamps ``released_at``)
    "holds": "FROM holds WHERE coalesce(recovered_at, released_at) < ?",
    # knowledge.yaml's look-back for similar incidents is shorter than a ticket's life
    "solved": "FROM solved WHERE resolved_at < ?",
}

_STATE_CHANGES = (
    "FROM state_changes WHERE at < ?"
    # the newest change of a fingerprint whose ticket is flapping still: when it settles is read from it
    " AND NOT (at = (SELECT max(n.at) FROM state_changes n WHERE n.fingerprint = state_changes.fingerprint)"
    " AND EXISTS (SELECT 1 FROM tickets f WHERE f.fingerprint = state_changes.fingerprint"
    " AND f.flapping_since IS NOT NULL AND f.status NOT IN ('resolved', 'closed')))"
)

_STEPS = "FROM steps WHERE ticket_key IN (SELECT key FROM tickets WHERE status = 'closed' AND closed_at < ?)"


def _finished(alias: str) -> str:
    """A ticket done with before the cutoff (two ``?``): closed then — or a duplicate resolved
    then, which follows its master and is never closed by the connector itself."""
    return (
        f"(({alias}.status = 'closed' AND {alias}.closed_at < ?)"
        f" OR ({alias}.master_key IS NOT NULL AND {alias}.status = 'resolved' AND {alias}.resolved_at < ?))"
    )


_TICKETS = (
    f"FROM tickets t WHERE {_finished('t')} AND t.key NOT LIKE ?"
    # a master stays while a duplicate of it stays
    f" AND NOT EXISTS (SELECT 1 FROM tickets o WHERE o.master_key = t.key AND NOT {_finished('o')})"
    " AND NOT EXISTS (SELECT 1 FROM outbox WHERE outbox.ticket_key = t.key AND outbox.status = 'pending')"
)


_KEY = {"dead_letter": "id", "journal": "id", "outbox": "id", "holds": "key", "solved": "key"}


class RetentionQueries(Database):
    """The deletes and counts of retention; ``Store`` holds them beside the tables they prune."""

    def count_prunable(self, rule: str, cutoff: datetime) -> dict[str, int]:
        """How many rows ``rule`` would delete now, per table (a ticket's repeats and links too; its
        steps are the ``steps`` rule's, whose cutoff is never earlier than the tickets')."""
        stamp = cutoff.isoformat()
        if rule in _WHERE:
            return {rule: self._count(f"SELECT count(*) AS n {_WHERE[rule]}", (stamp,))}
        if rule == "state_changes":
            return {rule: self._count(f"SELECT count(*) AS n {_STATE_CHANGES}", (stamp,))}
        if rule == "steps":
            return {rule: self._count(f"SELECT count(*) AS n {_STEPS}", (stamp,))}
        if rule == "tickets":
            params = (stamp, stamp, _ADOPTED, stamp, stamp)
            keys = f"SELECT t.key {_TICKETS}"
            return {
                "tickets": self._count(f"SELECT count(*) AS n {_TICKETS}", params),
                "aliases": self._count(f"SELECT count(*) AS n FROM aliases WHERE ticket_key IN ({keys})", params),
                "ticket_upstreams": self._count(
                    f"SELECT count(*) AS n FROM ticket_upstreams WHERE key IN ({keys})", params
                ),
                "storm_notes": self._count(
                    f"SELECT count(*) AS n FROM storm_notes WHERE master_key IN ({keys})", params
                ),
                "problem_links": self._count(
                    f"SELECT count(*) AS n FROM problem_links WHERE incident_key IN ({keys})", params
                ),
                "change_links": self._count(
                    f"SELECT count(*) AS n FROM change_links WHERE incident_key IN ({keys})", params
                ),
                "helpdesk_seen": self._count(
                    "SELECT count(*) AS n FROM helpdesk_seen WHERE ticket_id IN"
                    f" (SELECT t.ticket_id {_TICKETS} AND t.ticket_id IS NOT NULL)",
                    params,
                ),
            }
        raise ValueError(f"no retention rule {rule!r} (known: {', '.join(RULES)})")

    def delete_prunable(self, rule: str, cutoff: datetime, limit: int) -> dict[str, int]:
        """Delete at most ``limit`` rows (``tickets``: tickets, each with its rows) that ``rule``
        matches; returns how many went, per table. Call inside a transaction."""
        stamp = cutoff.isoformat()
        if rule in _WHERE:
            key = _KEY[rule]
            cursor = self._exec(
                f"DELETE FROM {rule} WHERE {key} IN (SELECT {key} {_WHERE[rule]} ORDER BY {key} LIMIT ?)",
                (stamp, limit),
            )
            return {rule: max(cursor.rowcount, 0)}
        if rule == "state_changes":
            pairs = self._rows(f"SELECT fingerprint, at {_STATE_CHANGES} ORDER BY at LIMIT ?", (stamp, limit))
            gone = 0
            for row in pairs:
                gone += self._exec(
                    "DELETE FROM state_changes WHERE fingerprint = ? AND at = ?", (row["fingerprint"], row["at"])
                ).rowcount
            return {rule: gone}
        if rule == "steps":
            pairs = self._rows(f"SELECT ticket_key, step {_STEPS} LIMIT ?", (stamp, limit))
            gone = 0
            for row in pairs:
                gone += self._exec(
                    "DELETE FROM steps WHERE ticket_key = ? AND step = ?", (row["ticket_key"], row["step"])
                ).rowcount
            return {rule: gone}
        if rule == "tickets":
            chosen = self._rows(
                f"SELECT t.key {_TICKETS} ORDER BY t.key LIMIT ?", (stamp, stamp, _ADOPTED, stamp, stamp, limit)
            )
            keys = [row["key"] for row in chosen]
            counts = dict.fromkeys(
                (
                    "tickets",
                    "steps",
                    "aliases",
                    "ticket_upstreams",
                    "storm_notes",
                    "problem_links",
                    "change_links",
                    "helpdesk_seen",
                ),
                0,
            )
            for key in keys:
                counts["steps"] += self._exec("DELETE FROM steps WHERE ticket_key = ?", (key,)).rowcount
                counts["aliases"] += self._exec("DELETE FROM aliases WHERE ticket_key = ?", (key,)).rowcount
                counts["ticket_upstreams"] += self._exec("DELETE FROM ticket_upstreams WHERE key = ?", (key,)).rowcount
                counts["storm_notes"] += self._exec("DELETE FROM storm_notes WHERE master_key = ?", (key,)).rowcount
                for table in ("problem_links", "change_links"):  # the problem record itself stays: few, and shared
                    counts[table] += self._exec(f"DELETE FROM {table} WHERE incident_key = ?", (key,)).rowcount
                counts["helpdesk_seen"] += self._exec(
                    "DELETE FROM helpdesk_seen WHERE ticket_id = (SELECT ticket_id FROM tickets WHERE key = ?)", (key,)
                ).rowcount
                counts["tickets"] += self._exec("DELETE FROM tickets WHERE key = ?", (key,)).rowcount
            return counts
        raise ValueError(f"no retention rule {rule!r} (known: {', '.join(RULES)})")

    def table_rows(self) -> dict[str, int]:
        """Rows per table of the state file (``status``)."""
        return {name: self._count(f"SELECT count(*) AS n FROM {name}") for name in table_names()}

    def _count(self, sql: str, params: Sequence[object] = ()) -> int:
        row = self._row(sql, params)
        return int(row["n"] or 0) if row is not None else 0
