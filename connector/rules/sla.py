"""SLA arithmetic (PROCESS §5): target times per stage, deadlines, and what is due next.

Pure functions over plain data and an explicit ``now``; no clock, no I/O. The rule stage
(``rule_sla``), the escalation sweep and the KPI reports all compute lateness here, so a ticket
is late in a report exactly when the sweep said it was.

Four clocks run per ticket:

=============  ==========================  ==========================  ===================
stage          starts at                   stops at                    target from
=============  ==========================  ==========================  ===================
response       registration                assignment                  priority
acceptance     assignment                  acceptance                  priority
resolution     acceptance                  resolution                  priority
restore        registration                resolution                  urgency (8/24/48/72 h)
=============  ==========================  ==========================  ===================

Suspended time (status "suspended": the customer agreed to pause) does not count unless the
policy says so: a deadline moves later by the suspended time inside its stage, and while a
suspension is open the stage's deadline is unknown (``None``): nothing can breach.
"""

from __future__ import annotations

__all__ = [
    "SlaPolicy",
    "Stage",
    "StageStatus",
    "Target",
    "Timeline",
    "active_time",
    "deadline",
    "first_due",
    "next_due",
    "response_deadline",
    "stage_statuses",
]

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from connector.domain.models import Priority, Stage, Urgency

Interval = tuple[datetime, datetime | None]


#: the stages whose target depends on the priority (the restore deadline depends on urgency)
PRIORITY_STAGES = (Stage.RESPONSE, Stage.ACCEPTANCE, Stage.RESOLUTION)


@dataclass(frozen=True)
class Target:
    """How long a stage may take: past ``breach`` it is late; past ``warning`` (if any) it is
    nearly late. The seed gives ranges such as "5–10 min": the lower bound is the warning."""

    breach: timedelta
    warning: timedelta | None = None

    def __post_init__(self) -> None:
        if self.breach <= timedelta(0):
            raise ValueError("a target must be longer than zero")
        if self.warning is not None and not timedelta(0) < self.warning <= self.breach:
            raise ValueError("a warning must come after the start and not after the breach")


@dataclass(frozen=True)
class SlaPolicy:
    """Target times per priority and stage, restore deadlines per urgency (``rules/sla.yaml``)."""

    targets: Mapping[Priority, Mapping[Stage, Target]]
    restore: Mapping[Urgency, timedelta]
    suspended_time_counts: bool = False

    def __post_init__(self) -> None:
        for priority in Priority:
            missing = [s.value for s in PRIORITY_STAGES if s not in self.targets.get(priority, {})]
            if missing:
                raise ValueError(f"priority {int(priority)} has no target for {', '.join(missing)}")
        missing_u = [str(int(u)) for u in Urgency if u not in self.restore]
        if missing_u:
            raise ValueError(f"no restore deadline for urgency {', '.join(missing_u)}")

    def target(self, stage: Stage, priority: Priority, urgency: Urgency) -> Target:
        """The target of ``stage`` for a ticket of this priority and urgency."""
        if stage is Stage.RESTORE:
            return Target(self.restore[urgency])
        return self.targets[priority][stage]


@dataclass(frozen=True)
class Timeline:
    """The moments of a ticket's life that start and stop the SLA clocks.

    ``suspensions`` are ``(start, end)`` pairs in any order; ``end`` is ``None`` while the
    ticket is still suspended.
    """

    registered_at: datetime
    assigned_at: datetime | None = None
    accepted_at: datetime | None = None
    resolved_at: datetime | None = None
    suspensions: Sequence[Interval] = field(default_factory=tuple)

    def bounds(self, stage: Stage) -> tuple[datetime | None, datetime | None]:
        """When ``stage`` started and stopped (``None``: not yet).

        A resolution stops every clock: a ticket that monitoring's recovery resolved before anyone
        was assigned is not late for a response afterwards (its response stage ends at the
        resolution, late only if that came after the response target). A stage that had not started
        when the ticket was resolved never starts."""
        start: datetime | None
        stop: datetime | None
        if stage is Stage.RESPONSE:
            start, stop = self.registered_at, self.assigned_at
        elif stage is Stage.ACCEPTANCE:
            start, stop = self.assigned_at, self.accepted_at
        else:  # resolution (from the acceptance) and restore (from the registration) end at the resolution
            start = self.accepted_at if stage is Stage.RESOLUTION else self.registered_at
            return start, self.resolved_at
        if self.resolved_at is not None:
            if start is None or start > self.resolved_at:
                return None, None
            stop = self.resolved_at if stop is None else min(stop, self.resolved_at)
        return start, stop


def _overlap(start: datetime, end: datetime, interval: Interval, now: datetime) -> timedelta:
    s, e = interval
    e = now if e is None else e
    lo, hi = max(start, s), min(end, e)
    return hi - lo if hi > lo else timedelta(0)


def active_time(start: datetime, end: datetime, suspensions: Sequence[Interval] = ()) -> timedelta:
    """Time from ``start`` to ``end`` that was not suspended (an open suspension runs to ``end``)."""
    if end <= start:
        return timedelta(0)
    paused = sum((_overlap(start, end, iv, end) for iv in _merged(suspensions, end)), timedelta(0))
    return end - start - paused


def _merged(suspensions: Sequence[Interval], horizon: datetime) -> list[Interval]:
    """Suspensions sorted with overlaps joined, so no paused minute counts twice."""
    out: list[Interval] = []
    for s, e in sorted(suspensions, key=lambda iv: iv[0]):
        if out:
            ps, pe = out[-1]
            pe_v = horizon if pe is None else pe
            if s <= pe_v:
                if pe is not None and (e is None or e > pe):
                    out[-1] = (ps, e)
                continue
        out.append((s, e))
    return out


def deadline(start: datetime, duration: timedelta, suspensions: Sequence[Interval] = ()) -> datetime | None:
    """The moment ``duration`` of unsuspended time has passed since ``start``.

    ``None`` when a suspension that is still open began before that moment: the clock is
    paused and no deadline can be named until it resumes.
    """
    due = start + duration
    for s, e in _merged(suspensions, datetime.max.replace(tzinfo=start.tzinfo)):
        if e is not None and e <= start:
            continue
        if s >= due:
            break
        if e is None:
            return None
        due += e - max(s, start)
    return due


@dataclass(frozen=True)
class StageStatus:
    """One stage of one ticket at ``now``: its deadline, and whether it was met or is late."""

    stage: Stage
    target: Target
    started_at: datetime | None
    stopped_at: datetime | None
    due_at: datetime | None  # None: not started, or paused by an open suspension
    warning_at: datetime | None
    elapsed: timedelta  # unsuspended time spent in the stage so far (or in all, once stopped)

    @property
    def breached(self) -> bool:
        """The stage took (or is taking) longer than its target."""
        return self.elapsed > self.target.breach

    @property
    def warned(self) -> bool:
        """The stage passed its warning threshold (if it has one)."""
        return self.target.warning is not None and self.elapsed > self.target.warning

    @property
    def running(self) -> bool:
        """Started and not stopped: its deadline can still be missed."""
        return self.started_at is not None and self.stopped_at is None


def stage_statuses(
    timeline: Timeline, priority: Priority, urgency: Urgency, policy: SlaPolicy, now: datetime
) -> list[StageStatus]:
    """Every stage of a ticket as of ``now`` (response, acceptance, resolution, restore)."""
    pauses: Sequence[Interval] = () if policy.suspended_time_counts else timeline.suspensions
    out = []
    for stage in Stage:
        target = policy.target(stage, priority, urgency)
        start, stop = timeline.bounds(stage)
        if start is None or start > now:
            out.append(StageStatus(stage, target, None, None, None, None, timedelta(0)))
            continue
        stopped = stop if stop is not None and stop <= now else None
        elapsed = active_time(start, stopped or now, pauses)
        due = deadline(start, target.breach, pauses)
        warn = deadline(start, target.warning, pauses) if target.warning is not None else None
        out.append(StageStatus(stage, target, start, stopped, due, warn, elapsed))
    return out


def next_due(
    timeline: Timeline, priority: Priority, urgency: Urgency, policy: SlaPolicy, now: datetime
) -> datetime | None:
    """Ticket field 21, the SLA target date: the earliest deadline of a stage still running.

    A stage already late still counts (its deadline is in the past), so the field shows
    the oldest promise not kept. ``None`` when nothing runs (resolved, or paused).
    """
    dues = [s.due_at for s in stage_statuses(timeline, priority, urgency, policy, now) if s.running and s.due_at]
    return min(dues) if dues else None


def response_deadline(priority: Priority, policy: SlaPolicy, registered_at: datetime) -> datetime:
    """When the 1st-line response of a ticket registered at ``registered_at`` is due: the
    response target of its priority after registration (a helpdesk's "time to own", e.g.
    GLPI's ``time_to_own``). Suspensions cannot come before the response, so none apply."""
    return registered_at + policy.targets[priority][Stage.RESPONSE].breach


def first_due(priority: Priority, urgency: Urgency, policy: SlaPolicy, registered_at: datetime) -> datetime:
    """Field 21 of a ticket just registered: ``next_due`` of a timeline with nothing but its
    registration, computed directly (the pipeline asks this for every new ticket)."""
    return min(response_deadline(priority, policy, registered_at), registered_at + policy.restore[urgency])
