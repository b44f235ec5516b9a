"""What the KPIs need from one ticket: its lateness by the SLA rules and its durations.

A history record is reduced once to a small ``TicketFacts`` (a 100,000-ticket month must fit
in memory comfortably and be summed many times over). Lateness is decided exactly as
``connector.sla.stage_statuses`` decides a breach — the elapsed unsuspended time of a stage,
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

__all__ = ["TicketFacts", "facts_of", "resolution_late", "response_late"]

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from connector.kpi.history import HistoryRecord
from connector.models import ClosureCode, Priority, ResolverRole, TicketStatus
from connector.sla import SlaPolicy, Stage, active_time

_Interval = tuple[datetime, datetime | None]
_MINUTE = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class TicketFacts:
    """One ticket of a period, as the KPI functions and report tables read it."""

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
    closure_code: ClosureCode | None
    kb_used: bool
    worklog_staff: frozenset[str]
    response_late: bool
    resolution_late: bool
    response_minutes: float  # occurred → registered (KPI 7)
    resolution_minutes: float | None  # registered → resolved, unsuspended, once done (KPI 8)
    third_party_minutes: float | None  # handed to third party → resolved, unsuspended (KPI 9)

    @property
    def done(self) -> bool:
        """Resolved or closed."""
        return self.status in (TicketStatus.RESOLVED, TicketStatus.CLOSED)


def _pauses(record: HistoryRecord, policy: SlaPolicy) -> Sequence[_Interval]:
    return () if policy.suspended_time_counts else record.suspensions


def _elapsed(start: datetime | None, stop: datetime | None, as_of: datetime, pauses: Sequence[_Interval]) -> timedelta:
    """Unsuspended time a stage has run by ``as_of`` (the rule of ``sla.stage_statuses``)."""
    if start is None or start > as_of:
        return timedelta(0)
    end = stop if stop is not None and stop <= as_of else as_of
    return active_time(start, end, pauses)


def _assigned(record: HistoryRecord) -> datetime | None:
    return record.assigned_at or record.resolved_at


def _accepted(record: HistoryRecord) -> datetime | None:
    if record.accepted_at is not None:
        return record.accepted_at
    return _assigned(record) if record.resolved_at is not None else None


def response_late(record: HistoryRecord, policy: SlaPolicy, as_of: datetime) -> bool:
    """Registration → assignment exceeded the response target (PROCESS §5, seed §3.1.3.5)."""
    target = policy.target(Stage.RESPONSE, record.priority, record.urgency)
    return _elapsed(record.registered_at, _assigned(record), as_of, _pauses(record, policy)) > target.breach


def resolution_late(record: HistoryRecord, policy: SlaPolicy, as_of: datetime) -> bool:
    """Acceptance → resolution exceeded the resolution target, or the urgency's restore
    deadline (registration → resolution) passed (PROCESS §5, seed §3.1.3.5 and §3.1.4.4)."""
    pauses = _pauses(record, policy)
    resolution = policy.target(Stage.RESOLUTION, record.priority, record.urgency)
    if _elapsed(_accepted(record), record.resolved_at, as_of, pauses) > resolution.breach:
        return True
    restore = policy.target(Stage.RESTORE, record.priority, record.urgency)
    return _elapsed(record.registered_at, record.resolved_at, as_of, pauses) > restore.breach


def facts_of(record: HistoryRecord, day: int, policy: SlaPolicy, as_of: datetime) -> TicketFacts:
    """Reduce ``record`` (which occurred on day ``day`` of its period) to its facts."""
    pauses = _pauses(record, policy)
    resolution = third_party = None
    if record.done and record.resolved_at is not None:  # the record's validator promises resolved_at
        resolution = active_time(record.registered_at, record.resolved_at, pauses) / _MINUTE
        if record.resolver_role is ResolverRole.THIRD_PARTY and record.third_party_at is not None:
            third_party = active_time(record.third_party_at, record.resolved_at, pauses) / _MINUTE
    return TicketFacts(
        id=record.id,
        day=day,
        duplicate=record.duplicate_of is not None,
        priority=record.priority,
        reporter=record.reporter,
        ci=record.ci,
        category=record.category,
        registrar=record.registrar,
        resolver=record.resolver,
        resolver_role=record.resolver_role,
        status=record.status,
        closure_code=record.closure_code,
        kb_used=record.kb_used,
        worklog_staff=frozenset(record.worklog_staff),
        response_late=response_late(record, policy, as_of),
        resolution_late=resolution_late(record, policy, as_of),
        response_minutes=(record.registered_at - record.occurred_at) / _MINUTE,
        resolution_minutes=resolution,
        third_party_minutes=third_party,
    )
