"""What the KPIs need from one ticket: its lateness by the SLA rules and its durations.

A history record is reduced once to a small ``TicketFacts`` (a 100,000-ticket month must fit
in memory comfortably and be summed many times over). Lateness is decided exactly as
``connector.rules.sla.stage_statuses`` decides a breach — the elapsed unsuspended time of a stage,
judged at ``as_of`` while the stage still runs, compared with the policy's target — so a
ticket is late in a report exactly when the escalation sweep said it was. A test holds the two
to the same answers.

* **Response late**: registration → assignment took longer than the priority's response target.
* **Resolution late**: acceptance → resolution took longer than the priority's resolution
  target, or registration → resolution longer than the urgency's restore deadline.

Two gaps in real tickets are filled (``docs/reports.md``, *Decisions*): a ticket resolved
without ever being assigned stops its response clock at the resolution (whoever solved it
responded by then), and one resolved without a recorded acceptance runs its resolution clock
from the assignment.
"""

from __future__ import annotations

__all__ = ["Breaches", "TicketFacts", "facts_of", "resolution_late", "response_late"]

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from connector.domain.models import ClosureCode, Priority, ResolverRole, TicketStatus, Urgency
from connector.kpi.history import HistoryRecord
from connector.rules.sla import SlaPolicy, Stage, active_time

_Interval = tuple[datetime, datetime | None]
_MINUTE = timedelta(minutes=1)


class TicketFacts(NamedTuple):
    """One ticket of a period, as the KPI functions and report tables read it.

    A named tuple: immutable, small, and built without a Python call per field (a frozen
    dataclass would make one for each of twenty fields, for every ticket of two periods).
    """

    id: str
    day: int  # day of the period it occurred on (0 = the first)
    duplicate: bool
    priority: Priority
    reporter: str | None
    ci: str | None
    category: str | None
    registrar: str | None
    resolver: str | None
    resolver_role: ResolverRole | None
    status: TicketStatus
    done: bool  # resolved or closed
    closure_code: ClosureCode | None
    kb_used: bool
    worklog_staff: frozenset[str]
    response_late: bool
    resolution_late: bool
    response_minutes: float  # occurred → registered (KPI 7)
    resolution_minutes: float | None  # registered → resolved, unsuspended, once done (KPI 8)
    third_party_minutes: float | None  # handed to third party → resolved, unsuspended (KPI 9)
    resolution_wall_minutes: float | None = None  # registered → resolved, wall time (KPI 8 as the seed writes it)
    verified: bool = False  # closed, and a duty-group leader verified the record (§3.1.3.10.2)


@dataclass(frozen=True)
class Breaches:
    """The policy's breach times per (priority, urgency) — response, resolution, restore — read
    once per report instead of once per ticket and stage (a 100,000-ticket month)."""

    table: Mapping[tuple[int, int], tuple[timedelta, timedelta, timedelta]]  # (priority, urgency) as ints
    suspended_time_counts: bool

    @classmethod
    def of(cls, policy: SlaPolicy) -> Breaches:
        """The breach times of ``policy``."""
        table = {
            (int(p), int(u)): (
                policy.target(Stage.RESPONSE, p, u).breach,
                policy.target(Stage.RESOLUTION, p, u).breach,
                policy.target(Stage.RESTORE, p, u).breach,
            )
            for p in Priority
            for u in Urgency
        }
        return cls(table, policy.suspended_time_counts)

    def pauses(self, record: HistoryRecord) -> Sequence[_Interval]:
        """The suspensions that stop the clocks (none when the policy counts suspended time)."""
        return () if self.suspended_time_counts else record.suspensions


_ZERO = timedelta(0)


def _active(start: datetime, end: datetime, pauses: Sequence[_Interval]) -> timedelta:
    """``sla.active_time``, answered directly for the many tickets never suspended."""
    if not pauses:
        return end - start if end > start else _ZERO
    return active_time(start, end, pauses)


def _elapsed(start: datetime | None, stop: datetime | None, as_of: datetime, pauses: Sequence[_Interval]) -> timedelta:
    """Unsuspended time a stage has run by ``as_of`` (the rule of ``sla.stage_statuses``)."""
    if start is None or start > as_of:
        return _ZERO
    return _active(start, stop if stop is not None and stop <= as_of else as_of, pauses)


def _assigned(record: HistoryRecord) -> datetime | None:
    return record.assigned_at or record.resolved_at


def _accepted(record: HistoryRecord) -> datetime | None:
    if record.accepted_at is not None:
        return record.accepted_at
    return _assigned(record) if record.resolved_at is not None else None


def _response_late(record: HistoryRecord, breach: timedelta, pauses: Sequence[_Interval], as_of: datetime) -> bool:
    return _elapsed(record.registered_at, _assigned(record), as_of, pauses) > breach


def _resolution_late(
    record: HistoryRecord, breaches: tuple[timedelta, timedelta], pauses: Sequence[_Interval], as_of: datetime
) -> bool:
    resolution, restore = breaches
    if _elapsed(_accepted(record), record.resolved_at, as_of, pauses) > resolution:
        return True
    return _elapsed(record.registered_at, record.resolved_at, as_of, pauses) > restore


def response_late(record: HistoryRecord, breaches: Breaches, as_of: datetime) -> bool:
    """Registration → assignment exceeded the response target (PROCESS §5, seed §3.1.3.5)."""
    target = breaches.table[int(record.priority), int(record.urgency)][0]
    return _response_late(record, target, breaches.pauses(record), as_of)


def resolution_late(record: HistoryRecord, breaches: Breaches, as_of: datetime) -> bool:
    """Acceptance → resolution exceeded the resolution target, or the urgency's restore
    deadline (registration → resolution) passed (PROCESS §5, seed §3.1.3.5 and §3.1.4.4)."""
    _, resolution, restore = breaches.table[int(record.priority), int(record.urgency)]
    return _resolution_late(record, (resolution, restore), breaches.pauses(record), as_of)


_NOBODY: frozenset[str] = frozenset()


def facts_of(record: HistoryRecord, day: int, breaches: Breaches, as_of: datetime) -> TicketFacts:
    """Reduce ``record`` (which occurred on day ``day`` of its period) to its facts.

    (The lateness is ``response_late`` / ``resolution_late`` with the lookups done once: this
    runs for every ticket of two periods.)
    """
    pauses = breaches.pauses(record)
    response, resolution_target, restore = breaches.table[int(record.priority), int(record.urgency)]
    resolution = third_party = None
    done = record.done
    if done and record.resolved_at is not None:  # the record's validator promises resolved_at
        resolution = _active(record.registered_at, record.resolved_at, pauses) / _MINUTE
        if record.resolver_role is ResolverRole.THIRD_PARTY and record.third_party_at is not None:
            third_party = _active(record.third_party_at, record.resolved_at, pauses) / _MINUTE
    return TicketFacts(
        record.id,
        day,
        record.duplicate_of is not None,
        record.priority,
        record.reporter,
        record.ci,
        record.category,
        record.registrar,
        record.resolver,
        record.resolver_role,
        record.status,
        done,
        record.closure_code,
        record.kb_used,
        frozenset(record.worklog_staff) if record.worklog_staff else _NOBODY,
        _response_late(record, response, pauses, as_of),
        _resolution_late(record, (resolution_target, restore), pauses, as_of),
        (record.registered_at - record.occurred_at) / _MINUTE,
        resolution,
        third_party,
        _wall(record) if resolution is not None else None,
        record.status is TicketStatus.CLOSED and record.verified_at is not None,
    )


def _wall(record: HistoryRecord) -> float | None:
    """Registered → resolved in wall time, suspensions included (KPI 8 as the seed writes it)."""
    return (record.resolved_at - record.registered_at) / _MINUTE if record.resolved_at is not None else None
