"""What the connector knows about a ticket it made (``TicketState``), and the two views of that
memory: ``TicketIndex``, what correlation reads, and ``TicketLedger``, the primitives a decision
and the lifecycle write with.

Two implementations hold it: the SQLite ``Store`` of the daemon and ``MemoryLedger`` of
``simulate`` and the benchmark; ``connector.domain.ledger`` says, once for both, what a decision
changes in it.
"""

from __future__ import annotations

__all__ = ["LIFE_FIELDS", "DoneAfter", "TicketIndex", "TicketLedger", "TicketState"]

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from connector.domain.models import Alert, Impact, Priority, TicketStatus, Urgency

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
    rejections: int = 0  # assignments its handlers rejected ("failed dispatches", PROCESS §7)
    verified_at: datetime | None = None  # a duty-group leader verified the closed record (§3.1.3.10.2)
    confirmed_at: datetime | None = None  # the user confirmed the resolution (IM 5.1)
    closed_unconfirmed: bool = False  # the 1st line closed it before the user confirmed and the wait was over
    # the monitoring problem it holds (``Alert.problem``; ``None`` for a report that never
    # recovers, such as a mail) and when the source said that problem was over
    problem: str | None = None
    problem_recovered_at: datetime | None = None
    # set while its trigger flaps (``flapping.yaml``): from when its state changes are counted
    flapping_since: datetime | None = None
    # its place in the topology (topology.yaml): its CI, the CIs it depends on, its storm key
    ci: str | None = None
    upstreams: tuple[str, ...] = ()
    storm_key: str | None = None

    @property
    def confirmed(self) -> bool:
        """Whether the user confirmed the current resolution (a confirmation of an earlier one,
        before a reopening, does not count)."""
        done = self.resolved_at or self.closed_at
        return self.confirmed_at is not None and done is not None and self.confirmed_at >= done

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

    def held_problems(self, master: TicketState) -> list[str]:
        """Keys of the problems ``master`` holds besides its own that are still active: its open
        duplicates and its appended repeats not recovered yet, whose problem differs from the
        master's (the same problem ends with the master's recovery). Its recovery waits for them."""
        ...

    def open_repeats(self, key: str) -> int:
        """How many repeats counted on ticket ``key`` (of any problem) have not recovered yet."""
        ...

    def state_changes(self, fingerprint: str, since: datetime) -> int:
        """How many times problems of this fingerprint began or recovered at or after ``since``."""
        ...

    def last_change(self, fingerprint: str) -> datetime | None:
        """When a problem of this fingerprint last began or recovered."""
        ...

    def flapping_ticket(self, fingerprint: str) -> TicketState | None:
        """The unresolved ticket of this fingerprint that is flapping, if any."""
        ...

    def open_incidents(self, cis: Sequence[str], since: datetime) -> dict[str, TicketState]:
        """Per CI of ``cis`` that has one, its newest unresolved ticket that is not itself
        counted on another and whose problem began at or after ``since`` (a parent for its
        dependents); one question for all the upstreams of an alert."""
        ...

    def dependents(self, upstream: str, since: datetime) -> list[TicketState]:
        """Unresolved tickets not counted on another, begun at or after ``since``, whose CI
        depends on ``upstream`` (to adopt when the upstream alarms after them)."""
        ...

    def storm_incidents(self, storm_key: str, since: datetime) -> list[TicketState]:
        """Unresolved tickets with this storm key (a storm's incident and its members), begun
        at or after ``since``, oldest first."""
        ...

    def is_held(self, key: str) -> bool:
        """Whether the alert ``key`` was held during maintenance (and not opened since)."""
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

    def alias_add(self, key: str, ticket_key: str, at: datetime, problem: str | None = None) -> None:
        """Remember that the alert ``key`` was appended to ticket ``ticket_key`` (``problem``:
        the monitoring problem it reported, which the master then holds until it recovers)."""
        ...

    def problem_recovered(self, key: str, at: datetime) -> None:
        """Record that the source said the problem of alert ``key`` (a ticket's own, or an
        appended repeat's) was over at ``at``."""
        ...

    def open_duplicates(self, master_key: str) -> list[str]:
        """Keys of the unresolved duplicates of ``master_key``."""
        ...

    def ticket_set_life(self, key: str, **changes: Any) -> None:
        """Record what the helpdesk did to a ticket: any of ``LIFE_FIELDS``."""
        ...

    def change_add(self, fingerprint: str, at: datetime) -> None:
        """Remember that a problem of this fingerprint began or recovered at ``at``."""
        ...

    def ticket_set_flapping(self, key: str, since: datetime | None) -> None:
        """Mark a ticket flapping (counting from ``since``), or settled (``None``)."""
        ...

    def flapping_tickets(self) -> list[TicketState]:
        """Every unresolved ticket marked flapping (the clock settles them)."""
        ...

    def flapping_quiet_since(self, cutoff: datetime) -> list[TicketState]:
        """The unresolved flapping tickets that may have settled by now: their problems (its own
        and its repeats') recovered and their trigger last changed at or before ``cutoff`` (now
        less the quiet time), oldest first. It may name a few more (``flapping.settled``
        decides), never fewer: the clock asks it before every decision, so it must not read
        every flapping ticket each time."""
        ...

    def ticket_set_master(self, key: str, master_key: str) -> None:
        """Put a ticket under another (a child adopted by its late upstream, a storm's member)."""
        ...

    def hold_add(self, alert: Alert, until: datetime | None, at: datetime) -> None:
        """Hold a problem alerted during maintenance (``until``: when its window ends)."""
        ...

    def holds_due(self, at: datetime) -> list[Alert]:
        """Held problems whose window ended by ``at`` and that did not recover: to open now."""
        ...

    def hold_release(self, key: str) -> None:
        """Forget the hold of alert ``key`` (it was opened)."""
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
        "rejections",
        "verified_at",
        "confirmed_at",
        "closed_unconfirmed",
    }
)
