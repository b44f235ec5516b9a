"""The escalation & SLA sweep over the ledger: fire each due step once, say what it changes.

Runs every minute in the daemon (and at every moment of the simulated clock in ``simulate``).
For every ticket not closed: the steps ``connector.process.sweep`` says are due and have not fired are
recorded in the ledger (so a step fires once, whatever happens after), each becomes a
``Notice`` for its roles on the channels of its priority, a note for the ticket, and field
changes (the escalation level, the overdue flags). Field 21 — the SLA target date — is kept at
the next deadline not yet met, so it moves when the ticket is assigned or accepted too.

It catches up after a downtime without firing twice: a step due while the connector was down
fires at the next sweep, once, marked *late* (its notice says when it was due). The shell
around it (``Engine.sweep``, ``simulate``) calls ``sweep_ticket`` for each ticket not closed,
one transaction each, and queues what it returns.
"""

from __future__ import annotations

__all__ = [
    "Fired",
    "SweepResult",
    "SweepRules",
    "TicketChange",
    "decision_notices",
    "notice_for",
    "outcome_notices",
    "sweep_ticket",
]

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from connector.domain.decision import Action, Decision
from connector.domain.ledger import TicketLedger, TicketState
from connector.domain.models import Priority, Urgency
from connector.domain.notice import Contact, Notice, NoticeKind, StatusEvent, TicketLink
from connector.process.sweep import Step, due_steps, restore_deadline, timeline_of
from connector.rules.book import RuleBook
from connector.rules.calendar import ClosingWait
from connector.rules.ladder import EscalationRules, NotificationRules
from connector.rules.sla import SlaPolicy, Stage, next_due

if TYPE_CHECKING:
    from connector.notify.settings import Notifications

#: which overdue flag a breach of each stage sets (ticket markers of PROCESS §2)
_OVERDUE = {
    Stage.RESPONSE: "response_overdue",
    Stage.ACCEPTANCE: "response_overdue",
    Stage.RESOLUTION: "resolution_overdue",
    Stage.RESTORE: "resolution_overdue",
}


@dataclass(frozen=True)
class SweepRules:
    """What the sweep reads: the SLA targets and the escalation/notice tables; ``lateness`` is
    how long after its time a step may fire and still count as on time (one sweep period and
    a margin)."""

    sla: SlaPolicy
    escalation: EscalationRules
    notices: NotificationRules
    lateness: timedelta = timedelta(minutes=2)
    #: how long after its resolution a ticket is still swept (for steps due before it, after a downtime)
    resolved_horizon: timedelta = timedelta(days=7)
    #: how long a resolved ticket waits for its user's answer before the connector closes it
    #: (``lifecycle.yaml``'s ``confirmation`` in the site's calendar); ``None``: it is never closed so
    closing_wait: ClosingWait | None = None

    @classmethod
    def of(cls, rules: RuleBook, notifications: Notifications | None, *, timezone: str | None = None) -> SweepRules:
        """The rule book's tables: as checked against ``people.yaml`` and the channels when a
        ``notify`` section is configured (the same files), else as loaded, so the steps are
        still written to the tickets though no notice goes out. ``timezone`` is the site's (the
        config's ``reports.timezone``): the confirmation wait's working days are counted in it
        unless ``lifecycle.yaml`` names another zone."""
        confirmation = rules.lifecycle.confirmation
        zone = (confirmation.calendar.timezone if confirmation is not None else None) or timezone
        wait = confirmation.wait(zone) if confirmation is not None and zone is not None else None
        if notifications is not None:
            return cls(rules.sla, notifications.escalation, notifications.rules, closing_wait=wait)
        return cls(rules.sla, rules.escalation, rules.notices, closing_wait=wait)


@dataclass(frozen=True)
class TicketChange:
    """Fields to write to a ticket, and the note that says why."""

    key: str
    changes: dict[str, Any]
    note: str | None = None


@dataclass(frozen=True)
class Fired:
    """A step that fired: the notice it sends and on which channels."""

    key: str
    step: Step
    at: datetime
    late: bool
    notice: Notice
    channels: tuple[str, ...]


@dataclass(frozen=True)
class SweepResult:
    """What one sweep of one ticket did."""

    fired: list[Fired] = field(default_factory=list)
    change: TicketChange | None = None


def notice_for(
    state: TicketState,
    kind: NoticeKind,
    roles: tuple[str, ...],
    due_at: datetime,
    sla: SlaPolicy,
    *,
    late: bool = False,
    **extra: Any,
) -> Notice:
    """A notice about ``state`` with the seed's standard content (§3.1.3.7): short description,
    affected service, estimated restore time; the service desk's contact comes from the config."""
    content = state.content
    reporter = content.get("reporter")
    contact = None
    if reporter or state.contact:
        email = reporter if reporter and "@" in reporter else None
        contact = Contact(name=state.contact or None, email=email)
    return Notice(
        kind=kind,
        ticket=TicketLink(key=state.key, ticket_id=state.ticket_id, url=state.url or None),
        priority=state.priority or Priority.MEDIUM,
        title=str(content.get("title") or state.key),
        service=content.get("service"),
        ci=content.get("ci"),
        estimated_restore=restore_deadline(state, sla),
        roles=roles,
        due_at=due_at,
        late=late,
        registered_at=state.created_at,
        outage_start=state.occurred_at,
        contact=contact,
        assignee=state.assignee,
        assignment_group=state.assignment_group or content.get("assignment_group"),
        **extra,
    )


def sweep_ticket(ledger: TicketLedger, state: TicketState, rules: SweepRules, now: datetime) -> SweepResult:
    """Fire the due steps of one ticket (recording them in ``ledger``) and reconcile field 21."""
    fired: list[Fired] = []
    changes: dict[str, Any] = {}
    notes: list[str] = []
    for step in due_steps(state, ledger.fired_steps(state.key), rules.sla, rules.escalation, rules.notices, now):
        late = now - step.due_at > rules.lateness
        if not ledger.record_step(state.key, step.id, step.due_at, now, late):
            continue
        notice = notice_for(
            state,
            step.kind,
            step.roles,
            step.due_at,
            rules.sla,
            late=late,
            level=step.level,
            stage=step.stage,
            minutes=step.minutes,
        )
        channels = rules.notices.channels_for(step.kind, notice.priority)
        fired.append(Fired(state.key, step, now, late, notice, channels))
        notes.append(step.note() + (f" (late: due {step.due_at.isoformat()})" if late else ""))
        if step.level is not None and step.level > state.escalation_level:
            changes["escalation_level"] = max(step.level, changes.get("escalation_level", 0))
        if step.kind is NoticeKind.SLA_BREACH and step.stage is not None:
            changes[_OVERDUE[step.stage]] = True
    if "escalation_level" in changes:
        ledger.ticket_set_life(state.key, escalation_level=changes["escalation_level"])
    due = None
    if state.resolved_at is None and state.closed_at is None:
        due = next_due(
            timeline_of(state), state.priority or Priority.MEDIUM, state.urgency or Urgency.NORMAL, rules.sla, now
        )
    if due != state.sla_due and (due is not None or state.sla_due is not None):
        changes["sla_due"] = due
        ledger.ticket_set_life(state.key, sla_due=due)
    change = TicketChange(state.key, changes, "\n".join(notes) or None) if changes or notes else None
    return SweepResult(fired, change)


def decision_notices(
    decision: Decision, state: TicketState, rules: SweepRules, now: datetime, *, on_recovery: str = "resolve"
) -> list[Notice]:
    """§8 notices of a decision: a new incident is announced to the user and the recorder; a
    major one (P1/P2) interrupts a service, and its recovery restores it. Duplicates and
    counted repeats are not news."""
    kinds: list[tuple[NoticeKind, StatusEvent | None]]
    major = state.priority is not None and state.priority <= Priority.HIGH
    if decision.action in (Action.CREATE, Action.RECURRENCE):
        kinds = [(NoticeKind.STATUS, StatusEvent.OPEN)] + ([(NoticeKind.OUTAGE, None)] if major else [])
    elif decision.action is Action.RESOLVE and on_recovery == "resolve":
        kinds = [(NoticeKind.STATUS, StatusEvent.RESOLVED)] + ([(NoticeKind.RESTORE, None)] if major else [])
    else:
        return []
    out = []
    for kind, status in kinds:
        roles = rules.notices.status_roles(status) if status is not None else rules.notices.kind_roles(kind)
        if roles:
            out.append(notice_for(state, kind, roles, now, rules.sla, status=status))
    return out


def outcome_notices(state: TicketState, outcome: Any, at: datetime, rules: SweepRules) -> list[Notice]:
    """The notices of a lifecycle outcome (``connector.process.lifecycle.Outcome``), roles filled in
    from the rules where the outcome leaves them to them."""
    out = []
    for kind, roles, status_event, detail in outcome.notices:
        if roles is None:
            if kind is NoticeKind.STATUS and status_event is not None:
                roles = rules.notices.status_roles(status_event)
            else:
                roles = rules.notices.kind_roles(kind)
        if roles:
            out.append(notice_for(state, kind, roles, at, rules.sla, status=status_event, detail=detail))
    return out
