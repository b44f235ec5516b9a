"""Which escalation, notice and SLA steps a ticket has reached (PROCESS §5, §6, §8): pure.

A *step* is one thing that must happen once per ticket at a moment the rules name:

* ``escalation:<level>`` — the §6 ladder, minutes since creation while unresolved;
* ``notice:<role>`` — the §8 timed notices, likewise;
* ``sla_warning:<stage>`` / ``sla_breach:<stage>`` — a stage of ``sla.yaml`` passing its
  warning or its target while it was still running (response, acceptance, resolution, and the
  urgency's restore deadline).

Every clock here is *active* time: suspended time (the customer agreed to pause) does not
count, for escalation as for the SLA (``sla.yaml: suspended_time_counts``). A step is due at the
moment its clock reaches its minute; it is due only if the ticket was still unresolved then,
so a ticket resolved before a step's time never gets it, and one resolved after it (while the
connector was down) still does, late. The shell (``connector.process.escalation``) fires each step
once, writes it to the ticket and queues its notices.
"""

from __future__ import annotations

__all__ = ["Step", "due_steps", "next_wake", "restore_deadline", "ticket_steps", "timeline_of"]

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from connector.domain.ledger import TicketState
from connector.domain.models import Priority, Urgency
from connector.domain.notice import NoticeKind
from connector.rules.ladder import EscalationRules, NotificationRules
from connector.rules.sla import SlaPolicy, Stage, Timeline, deadline, stage_statuses


@dataclass(frozen=True)
class Step:
    """One step of one ticket: what it is, when it is due, who it tells."""

    id: str
    kind: NoticeKind
    due_at: datetime
    roles: tuple[str, ...]
    level: int | None = None
    stage: Stage | None = None
    minutes: int | None = None

    def note(self) -> str:
        """What the ticket's journal says when the step fires (bilingual, no untrusted text)."""
        roles = ", ".join(self.roles)
        if self.kind is NoticeKind.ESCALATION:
            return f"升级 escalation level {self.level} ({roles}): unresolved after {self.minutes} min"
        if self.kind is NoticeKind.NOTICE:
            return f"通知 notice to {roles}: unresolved after {self.minutes} min"
        assert self.stage is not None
        what = "超时 SLA breach" if self.kind is NoticeKind.SLA_BREACH else "即将超时 SLA warning"
        return f"{what}: {self.stage.value} ({self.stage.zh}) — notified {roles}"


def timeline_of(state: TicketState) -> Timeline:
    """The SLA timeline of a ticket as the ledger knows it."""
    return Timeline(
        registered_at=state.created_at,
        assigned_at=state.assigned_at,
        accepted_at=state.accepted_at,
        resolved_at=state.resolved_at or state.closed_at,
        suspensions=state.pauses,
    )


def _minutes(delta: timedelta) -> int:
    return int(delta.total_seconds() // 60)


def restore_deadline(state: TicketState, sla: SlaPolicy) -> datetime | None:
    """When the service should be back: the urgency's restore deadline (suspensions moved it)."""
    urgency = state.urgency or Urgency.NORMAL
    return deadline(state.created_at, sla.restore[urgency], state.pauses)


def ticket_steps(
    state: TicketState,
    sla: SlaPolicy,
    escalation: EscalationRules,
    notices: NotificationRules,
    now: datetime,
) -> list[Step]:
    """Every step of ``state`` due at or before ``now``, earliest first (fired or not)."""
    priority = state.priority or Priority.MEDIUM
    urgency = state.urgency or Urgency.NORMAL
    pauses = () if sla.suspended_time_counts else state.pauses
    stop = state.resolved_at or state.closed_at
    horizon = min(now, stop) if stop is not None else now
    steps: list[Step] = []

    def reached(after: timedelta) -> datetime | None:
        due = deadline(state.created_at, after, pauses)
        return due if due is not None and due <= horizon else None

    for rung in escalation.ladder(priority):
        due = reached(rung.after)
        if due is not None:
            steps.append(
                Step(
                    f"escalation:{rung.level}",
                    NoticeKind.ESCALATION,
                    due,
                    (rung.role,),
                    level=rung.level,
                    minutes=_minutes(rung.after),
                )
            )
    for timed in notices.timed_for(priority):
        due = reached(timed.after)
        if due is not None:
            steps.append(
                Step(f"notice:{timed.role}", NoticeKind.NOTICE, due, (timed.role,), minutes=_minutes(timed.after))
            )
    for status in stage_statuses(timeline_of(state), priority, urgency, sla, now):
        if status.started_at is None:
            continue
        ended = status.stopped_at
        for kind, moment in ((NoticeKind.SLA_WARNING, status.warning_at), (NoticeKind.SLA_BREACH, status.due_at)):
            if moment is None or moment > now or (ended is not None and ended <= moment):
                continue
            breached = kind is NoticeKind.SLA_BREACH
            roles = notices.sla_roles(status.stage, breached=breached)
            if not roles:  # nobody is to hear of it: not a step
                continue
            steps.append(
                Step(
                    f"{kind.value}:{status.stage.value}",
                    kind,
                    moment,
                    roles,
                    stage=status.stage,
                    minutes=_minutes(status.target.breach if breached else status.target.warning or timedelta(0)),
                )
            )
    steps.sort(key=lambda s: (s.due_at, s.id))
    return steps


def due_steps(
    state: TicketState,
    fired: set[str],
    sla: SlaPolicy,
    escalation: EscalationRules,
    notices: NotificationRules,
    now: datetime,
) -> Sequence[Step]:
    """The steps of ``state`` due by ``now`` that have not fired yet, earliest first."""
    return [s for s in ticket_steps(state, sla, escalation, notices, now) if s.id not in fired]


#: a moment after every step of every ticket, for ``next_wake``'s look at all of a ticket's steps
_FAR = datetime(9000, 1, 1, tzinfo=UTC)


def next_wake(
    state: TicketState, sla: SlaPolicy, escalation: EscalationRules, notices: NotificationRules, now: datetime
) -> datetime | None:
    """The earliest moment after ``now`` at which a sweep of ``state`` could do anything, once a
    sweep at ``now`` fired every step due by then; ``None``: nothing, until the ticket changes.

    Why it is safe (the sweep skips a ticket until this moment, ``Store.sweep_due_tickets``):
    with the ticket unchanged, what a sweep does at ``t`` depends on ``t`` only through (a) which
    steps are due by ``t`` — every step's due moment is fixed by the ticket and the rules (a
    suspension still open makes it ``None``, i.e. not due, until the ticket changes), and the
    steps due by any ``t`` are among those due by a far moment, with the same times — and (b)
    which SLA stages run at ``t`` (field 21), which changes only at a moment of the ticket's
    timeline. So the earliest of those moments that is still ahead is a lower bound; a moment
    too early only costs a sweep that does nothing. Any write to the ticket row clears the mark
    (the store), so a change the sweep did not see is never skipped.
    """
    moments = [step.due_at for step in ticket_steps(state, sla, escalation, notices, _FAR)]
    for status in stage_statuses(
        timeline_of(state), state.priority or Priority.MEDIUM, state.urgency or Urgency.NORMAL, sla, _FAR
    ):
        moments += [m for m in (status.warning_at, status.due_at) if m is not None]
    moments += [
        m
        for m in (state.created_at, state.assigned_at, state.accepted_at, state.resolved_at, state.closed_at)
        if m is not None
    ]
    moments += [m for pause in state.pauses for m in pause if m is not None]
    ahead = [m for m in moments if m > now]
    return min(ahead) if ahead else None
