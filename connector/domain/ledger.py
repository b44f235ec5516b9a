"""The connector's memory of the tickets it made, and how one decision changes it.

Correlation reads it (``TicketIndex``); a decision writes it (``apply_decision`` over the
primitives of ``TicketLedger``). Two implementations hold it: the SQLite ``Store`` of the
daemon and ``MemoryLedger`` of ``simulate`` and the benchmark. The rules of *what* changes —
a duplicate counts as a repeat of its master, an appended alert becomes an alias of the
master, resolving a master resolves its duplicates — are written once, here, so both agree;
a test replays the same stream through both and compares.

Times are the events' own (``occurred_at``, ``recovered_at``, the close time), not the time
of processing, so the same input gives the same state however it was batched.
"""

from __future__ import annotations

__all__ = [
    "CONTENT_FIELDS",
    "LIFE_FIELDS",
    "Applied",
    "MemoryLedger",
    "TicketIndex",
    "TicketLedger",
    "TicketState",
    "apply_decision",
    "record_status",
]

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from connector.domain.decision import Action, Decision
from connector.domain.models import Impact, Priority, Ticket, TicketStatus, Urgency

#: what a duplicate or recurrence copies from its master or original ("copying its content")
CONTENT_FIELDS = (
    "title",
    "description",
    "category",
    "area",
    "subarea",
    "nature",
    "service",
    "ci",
    "assignment_group",
    "location",
    "reporter",
)

DoneAfter = Literal["resolved", "closed"]


@dataclass(frozen=True, slots=True)
class TicketState:
    """What the connector knows about a ticket it made."""

    key: str
    ticket_id: str | None
    status: TicketStatus
    fingerprint: str | None
    created_at: datetime
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    master_key: str | None = None
    occurred_at: datetime | None = None
    source: str | None = None
    external_id: str | None = None
    impact: Impact | None = None
    urgency: Urgency | None = None
    priority: Priority | None = None
    repeats: int = 0  # duplicates and appended repeats counted on this master
    recurrence_of: str | None = None
    content: Mapping[str, Any] = field(default_factory=dict)
    # its life in the helpdesk, as the sync-back (or simulate's control lines) saw it
    url: str | None = None
    contact: str | None = None
    sla_due: datetime | None = None  # field 21 as last written
    assigned_at: datetime | None = None
    accepted_at: datetime | None = None
    assignee: str | None = None
    assignment_group: str | None = None
    reassignments: int = 0
    escalation_level: int = 0
    third_party_at: datetime | None = None
    suspended_since: datetime | None = None
    suspensions: tuple[tuple[datetime, datetime], ...] = ()
    synced_changes: int = 0  # how many entries of its helpdesk history the sync-back has applied

    @property
    def pauses(self) -> tuple[tuple[datetime, datetime | None], ...]:
        """Its suspensions, the open one included (``end`` ``None``), for ``connector.rules.sla``."""
        open_one = ((self.suspended_since, None),) if self.suspended_since is not None else ()
        return (*self.suspensions, *open_one)

    @property
    def started_at(self) -> datetime:
        """When the problem began (its alert's time; creation for rows from before that was kept)."""
        return self.occurred_at or self.created_at

    def done_at(self, after: DoneAfter = "resolved") -> datetime | None:
        """When a finished ticket stopped being worked on: resolved (or closed), or only
        closed; ``None`` while it is not finished in that sense (e.g. reopened)."""
        if after == "closed":
            return self.closed_at if self.status is TicketStatus.CLOSED else None
        return (self.resolved_at or self.closed_at) if self.status.is_done else None


class TicketIndex(Protocol):
    """Read-only view of the tickets the connector made, for correlation rules."""

    def get(self, key: str) -> TicketState | None:
        """The ticket with this connector key, if any."""
        ...

    def alias_of(self, key: str) -> str | None:
        """The master an alert with this key was appended to (storm guard), if any."""
        ...

    def open_master(self, fingerprint: str) -> TicketState | None:
        """The newest unresolved ticket with this fingerprint that is not itself a duplicate."""
        ...

    def last_done(self, fingerprint: str, after: DoneAfter) -> TicketState | None:
        """The most recently resolved (or closed) non-duplicate ticket with this fingerprint."""
        ...

    def key_for_ticket_id(self, ticket_id: str) -> str | None:
        """The connector key of the helpdesk ticket ``ticket_id``, if the connector made it."""
        ...


class TicketLedger(TicketIndex, Protocol):
    """The primitives ``apply_decision`` writes with; each is one row change."""

    def ticket_add(self, state: TicketState, backend: str) -> None:
        """Record a ticket the pipeline decided to create (its helpdesk id comes later)."""
        ...

    def ticket_set_status(self, key: str, status: TicketStatus, at: datetime) -> None:
        """Record a status change (``at`` is when it happened); an open status clears the
        resolved and closed times (a reopened ticket is not finished)."""
        ...

    def ticket_bump_repeats(self, key: str) -> None:
        """Count one more repeat on a master."""
        ...

    def ticket_set_priority(self, key: str, impact: Impact, urgency: Urgency, priority: Priority) -> None:
        """Record a priority change the connector made."""
        ...

    def alias_add(self, key: str, ticket_key: str, at: datetime) -> None:
        """Remember that the alert ``key`` was appended to ticket ``ticket_key``."""
        ...

    def open_duplicates(self, master_key: str) -> list[str]:
        """Keys of the unresolved duplicates of ``master_key``."""
        ...

    def ticket_set_life(self, key: str, **changes: Any) -> None:
        """Record what the helpdesk did to a ticket: any of ``LIFE_FIELDS``."""
        ...

    def active_tickets(self) -> list[TicketState]:
        """Every ticket not closed yet."""
        ...

    def sweep_tickets(self, resolved_since: datetime) -> list[TicketState]:
        """What the escalation sweep watches: tickets not closed that are not duplicates (a
        duplicate's master escalates for it: a storm must not multiply the notices), and not
        resolved before ``resolved_since`` (a step due before a resolution may still fire after
        a downtime, but not forever)."""
        ...

    def fired_steps(self, key: str) -> set[str]:
        """The escalation/notice/SLA steps already fired for a ticket."""
        ...

    def record_step(self, key: str, step: str, due_at: datetime, fired_at: datetime, late: bool) -> bool:
        """Remember that a step fired; ``False`` when it had fired before (it must not again)."""
        ...


#: the ticket-life fields ``TicketLedger.ticket_set_life`` may change
LIFE_FIELDS = frozenset(
    {
        "ticket_id",
        "url",
        "contact",
        "sla_due",
        "assigned_at",
        "accepted_at",
        "assignee",
        "assignment_group",
        "reassignments",
        "escalation_level",
        "third_party_at",
        "suspended_since",
        "suspensions",
        "synced_changes",
    }
)


@dataclass(frozen=True)
class Applied:
    """What applying a decision changed besides the decision's own ticket."""

    cascaded: tuple[str, ...] = ()  # duplicates resolved with their master


def content_of(ticket: Ticket) -> dict[str, str]:
    """The part of a ticket that a duplicate or recurrence of it copies (all text fields)."""
    return {name: value for name in CONTENT_FIELDS if (value := getattr(ticket, name)) is not None}


def apply_decision(ledger: TicketLedger, decision: Decision, now: datetime, backend: str) -> Applied:
    """Record in ``ledger`` what ``decision`` means for the connector's tickets."""
    alert = decision.alert
    new = decision.new_ticket
    cascaded: tuple[str, ...] = ()
    if new is not None:
        assert decision.ticket_key is not None
        ledger.ticket_add(
            TicketState(
                key=decision.ticket_key,
                ticket_id=None,
                status=TicketStatus.OPEN,
                fingerprint=new.fingerprint,
                created_at=now,
                master_key=decision.related_key if decision.action is Action.DUPLICATE else None,
                occurred_at=alert.occurred_at,
                source=alert.source,
                external_id=alert.external_id,
                impact=new.impact,
                urgency=new.urgency,
                priority=new.priority,
                recurrence_of=decision.related_key if decision.action is Action.RECURRENCE else None,
                content=content_of(new),
                contact=new.contact,
                sla_due=new.sla_due,
                assignment_group=new.assignment_group,  # where the rules routed it (not a dispatch)
                assignee=new.assignee,
            ),
            backend,
        )
        if decision.action is Action.DUPLICATE and decision.related_key is not None:
            ledger.ticket_bump_repeats(decision.related_key)
        if alert.recovered_at is not None:  # first seen already recovered: resolved at once
            ledger.ticket_set_status(decision.ticket_key, TicketStatus.RESOLVED, alert.recovered_at)
    elif decision.action is Action.APPEND and not decision.is_reply and decision.related_key is not None:
        ledger.alias_add(alert.key, decision.related_key, now)
        ledger.ticket_bump_repeats(decision.related_key)
    elif decision.action is Action.RESOLVE and decision.ticket_key is not None:
        cascaded = record_status(ledger, decision.ticket_key, TicketStatus.RESOLVED, alert.recovered_at or now)
    for update in decision.updates:
        changes = update.changes
        if "status" in changes:  # a user rejected the resolution: back to investigation
            cascaded += record_status(ledger, update.key, TicketStatus(changes["status"]), now)
        if "priority" in changes:
            ledger.ticket_set_priority(
                update.key, Impact(changes["impact"]), Urgency(changes["urgency"]), Priority(changes["priority"])
            )
    return Applied(cascaded=cascaded)


def record_status(ledger: TicketLedger, key: str, status: TicketStatus, at: datetime) -> tuple[str, ...]:
    """Record a status change; resolving or closing a master does the same to its open
    duplicates (seed §3.1.3.8). Returns the duplicates it changed."""
    ledger.ticket_set_status(key, status, at)
    if not status.is_done:
        return ()
    cascaded = tuple(ledger.open_duplicates(key))
    for duplicate in cascaded:
        ledger.ticket_set_status(duplicate, status, at)
    return cascaded


class MemoryLedger:
    """The ledger in dictionaries: ``simulate``'s state and the benchmark's.

    Answers exactly what the SQLite store answers (a test compares them): the newest open
    master is the most recently created one, the last finished ticket the one finished
    latest. A duplicate keeps no content (nothing copies from a duplicate). ``prune`` forgets
    finished tickets older than a horizon, so a long stream holds a bounded state.

    The ledger owns its ``TicketState`` records and updates them in place (a copy per change
    would be most of its cost): a state it returns is current until the next write.
    """

    def __init__(self) -> None:
        self._tickets: dict[str, TicketState] = {}
        self._aliases: dict[str, str] = {}
        self._masters_by_fp: dict[str, list[str]] = {}  # non-duplicates, in creation order
        self._duplicates: dict[str, list[str]] = {}
        self._by_ticket_id: dict[str, str] = {}
        self._steps: dict[str, dict[str, tuple[datetime, datetime, bool]]] = {}

    def __len__(self) -> int:
        return len(self._tickets)

    # --- TicketIndex ---------------------------------------------------------------------------

    def get(self, key: str) -> TicketState | None:
        return self._tickets.get(key)

    def alias_of(self, key: str) -> str | None:
        return self._aliases.get(key)

    def open_master(self, fingerprint: str) -> TicketState | None:
        for key in reversed(self._masters_by_fp.get(fingerprint, ())):
            state = self._tickets[key]
            if not state.status.is_done:
                return state
        return None

    def last_done(self, fingerprint: str, after: DoneAfter) -> TicketState | None:
        best: TicketState | None = None
        best_at: datetime | None = None
        for key in self._masters_by_fp.get(fingerprint, ()):
            state = self._tickets[key]
            at = state.done_at(after)
            if at is not None and (best_at is None or at >= best_at):
                best, best_at = state, at
        return best

    def key_for_ticket_id(self, ticket_id: str) -> str | None:
        return self._by_ticket_id.get(ticket_id)

    # --- TicketLedger --------------------------------------------------------------------------

    def ticket_add(self, state: TicketState, backend: str) -> None:
        if state.key in self._tickets:
            return
        if state.master_key is not None:
            self._duplicates.setdefault(state.master_key, []).append(state.key)
            object.__setattr__(state, "content", {})  # nothing copies from a duplicate
        elif state.fingerprint is not None:
            self._masters_by_fp.setdefault(state.fingerprint, []).append(state.key)
        self._tickets[state.key] = state

    def _update(self, key: str, **changes: Any) -> None:
        state = self._tickets.get(key)
        if state is not None:
            for name, value in changes.items():
                object.__setattr__(state, name, value)  # the ledger's own record (see the class)

    def ticket_set_status(self, key: str, status: TicketStatus, at: datetime) -> None:
        if status is TicketStatus.RESOLVED:
            self._update(key, status=status, resolved_at=at)
        elif status is TicketStatus.CLOSED:
            self._update(key, status=status, closed_at=at)
        else:  # open again: not finished
            self._update(key, status=status, resolved_at=None, closed_at=None)

    def ticket_bump_repeats(self, key: str) -> None:
        state = self._tickets.get(key)
        if state is not None:
            self._update(key, repeats=state.repeats + 1)

    def ticket_set_priority(self, key: str, impact: Impact, urgency: Urgency, priority: Priority) -> None:
        self._update(key, impact=impact, urgency=urgency, priority=priority)

    def alias_add(self, key: str, ticket_key: str, at: datetime) -> None:
        self._aliases.setdefault(key, ticket_key)

    def open_duplicates(self, master_key: str) -> list[str]:
        return [k for k in self._duplicates.get(master_key, ()) if not self._tickets[k].status.is_done]

    def ticket_set_life(self, key: str, **changes: Any) -> None:
        unknown = set(changes) - LIFE_FIELDS
        if unknown:
            raise ValueError(f"not ticket-life fields: {sorted(unknown)}")
        self._update(key, **changes)
        if "ticket_id" in changes and changes["ticket_id"] is not None:
            self._by_ticket_id[str(changes["ticket_id"])] = key

    def active_tickets(self) -> list[TicketState]:
        return [s for s in self._tickets.values() if s.status is not TicketStatus.CLOSED]

    def sweep_tickets(self, resolved_since: datetime) -> list[TicketState]:
        return [
            s
            for s in self._tickets.values()
            if s.status is not TicketStatus.CLOSED
            and s.master_key is None
            and (s.resolved_at is None or s.resolved_at >= resolved_since)
        ]

    def fired_steps(self, key: str) -> set[str]:
        return set(self._steps.get(key, ()))

    def record_step(self, key: str, step: str, due_at: datetime, fired_at: datetime, late: bool) -> bool:
        fired = self._steps.setdefault(key, {})
        if step in fired:
            return False
        fired[step] = (due_at, fired_at, late)
        return True

    # --- housekeeping --------------------------------------------------------------------------

    def set_ticket_id(self, key: str, ticket_id: str) -> None:
        """Record the helpdesk id of a ticket (``simulate`` numbers its tickets itself)."""
        if key in self._tickets:
            self.ticket_set_life(key, ticket_id=ticket_id)

    def prune(self, now: datetime, horizon: timedelta) -> int:
        """Forget tickets finished more than ``horizon`` before ``now`` (and what points at them).

        Correlation cannot use them any more (a recurrence needs a ticket finished within its
        window), so with ``horizon`` at least the recurrence window nothing it decides changes,
        except that a recovery arriving later than ``horizon`` finds no ticket.
        """
        cutoff = now - horizon
        gone = {k for k, s in self._tickets.items() if (d := s.done_at()) is not None and d < cutoff}
        if not gone:
            return 0
        for key in gone:
            state = self._tickets.pop(key)
            self._steps.pop(key, None)
            if state.ticket_id is not None:
                self._by_ticket_id.pop(state.ticket_id, None)
        self._aliases = {k: v for k, v in self._aliases.items() if v not in gone}
        self._duplicates = {
            m: [k for k in keys if k not in gone] for m, keys in self._duplicates.items() if m not in gone
        }
        self._masters_by_fp = {
            fp: kept for fp, keys in self._masters_by_fp.items() if (kept := [k for k in keys if k not in gone])
        }
        return len(gone)
