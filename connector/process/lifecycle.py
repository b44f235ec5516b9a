"""What people do to a ticket in the helpdesk, and what the process makes of it: pure.

The sync-back reads changes from the helpdesk (``HistoryReader``) and ``simulate`` reads control
lines; both turn them into ``Event``s and ask ``apply_event`` what follows (PROCESS §7, §11,
IM 5):

* **assign / reassign** — the first assignment starts the acceptance clock; a reassignment to
  another group is reported to the incident manager, and more cross-group reassignments than
  ``lifecycle.yaml``'s ``reassignment.limit`` escalate the ticket to the incident manager; a
  reassignment within a group is not monitored (seed §3.1.3.3);
* **accept / suspend / resume** — the SLA clocks (acceptance, suspension);
* **resolve / reopen** — the ledger's status (duplicates follow their master); the user is
  asked to confirm;
* **close** — only the 1st line or the incident manager may close (who that is:
  ``lifecycle.yaml``'s ``closing``, asked through the ``Roster``), and only with a closure
  code; any other close is reverted (the status restored, a note says why) and reported; a
  close *not completed* opens a new ticket for the original handler.

``apply_event`` returns an ``Outcome``: the ledger changes to record, the notices, what to
write to the ticket. The shells do the writing. The numbers it counts against come from the
rule book (``RuleBook.lifecycle``), never from this module.
"""

from __future__ import annotations

__all__ = [
    "Event",
    "EventKind",
    "NewTicket",
    "Outcome",
    "Roster",
    "apply_event",
    "events_from_history",
    "record_outcome",
    "reopened_state",
]

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from connector.contracts.adapters import Change, ChangeKind, TicketHistory
from connector.domain.ledger import TicketLedger, TicketState, record_status
from connector.domain.models import ClosureCode, ResolverRole, TicketStatus
from connector.domain.notice import NoticeKind, StatusEvent
from connector.rules.book import default_rulebook
from connector.rules.files import LifecycleFile


class EventKind(StrEnum):
    """One thing a person did to a ticket."""

    ASSIGN = "assign"  # to an assignee and/or a group (the first time, or again: a reassignment)
    ACCEPT = "accept"  # the handler accepted it (in progress)
    SUSPEND = "suspend"
    RESUME = "resume"
    RESOLVE = "resolve"
    REOPEN = "reopen"
    CLOSE = "close"
    THIRD_PARTY = "third_party"  # handed to a third party (the ticket stays with its handler)


@dataclass(frozen=True)
class Event:
    """An event at ``at`` by ``actor`` (a helpdesk login; ``None``: unknown)."""

    kind: EventKind
    at: datetime
    actor: str | None = None
    assignee: str | None = None
    group: str | None = None
    closure_code: ClosureCode | None = None
    detail: str = ""


class Roster(Protocol):
    """Who is who: the closing right and the line of a group (``people.yaml``)."""

    def may_close(self, login: str | None) -> bool | None:
        """Whether ``login`` may close tickets (1st line or incident manager); ``None``: cannot tell."""
        ...

    def line_of(self, group: str | None) -> ResolverRole | None:
        """The line (1st, 2nd, third party) of an assignment group, if known."""
        ...


@dataclass(frozen=True)
class NewTicket:
    """A ticket to open because a close was *not completed* (seed §3.1.4.9): the original's
    content, assigned to its handler."""

    key: str
    assignee: str | None
    group: str | None
    reason: str


def reopened_state(original: TicketState, new: NewTicket, now: datetime) -> TicketState:
    """The ledger's record of the ticket a close *not completed* opens: the original's content
    and priority, assigned to its handler at once. It continues the same report, so it keeps the
    report's ``external_id`` (a notice or a ``simulate`` line about it names the report)."""
    return TicketState(
        key=new.key,
        ticket_id=None,
        status=TicketStatus.OPEN,
        fingerprint=None,
        created_at=now,
        occurred_at=now,
        source=original.source,
        external_id=original.external_id,
        impact=original.impact,
        urgency=original.urgency,
        priority=original.priority,
        content=dict(original.content),
        assignee=new.assignee,
        assignment_group=new.group,
        assigned_at=now,
        recurrence_of=original.key,
    )


@dataclass
class Outcome:
    """What an event means: ledger changes, a status to record, notices, what the ticket gets."""

    life: dict[str, Any] = field(default_factory=dict)  # TicketLedger.ticket_set_life
    status: TicketStatus | None = None  # record_status (cascades to duplicates when done)
    notices: list[tuple[NoticeKind, tuple[str, ...] | None, StatusEvent | None, str]] = field(default_factory=list)
    changes: dict[str, Any] = field(default_factory=dict)  # Ticket fields to write
    notes: list[str] = field(default_factory=list)
    revert_to: TicketStatus | None = None  # the helpdesk status to restore (a refused close)
    new_ticket: NewTicket | None = None

    @property
    def note(self) -> str | None:
        """The notes as one journal entry."""
        return "\n".join(self.notes) or None


def apply_event(
    state: TicketState, event: Event, roster: Roster | None, *, lifecycle: LifecycleFile | None = None
) -> Outcome:
    """What ``event`` means for the ticket ``state`` (see the module docstring); ``lifecycle``
    is the rule book's (default: the shipped ``lifecycle.yaml``)."""
    rules = lifecycle if lifecycle is not None else default_rulebook().lifecycle
    out = Outcome()
    kind = event.kind
    if kind is EventKind.ASSIGN:
        _assign(state, event, out, rules.reassignment.limit)
    elif kind is EventKind.ACCEPT:
        if state.accepted_at is None:
            out.life["accepted_at"] = event.at
            if state.assigned_at is None:  # accepted without a recorded assignment: both now
                out.life["assigned_at"] = event.at
        out.status = TicketStatus.IN_PROGRESS
        out.notices.append((NoticeKind.STATUS, None, StatusEvent.IN_PROGRESS, ""))
    elif kind is EventKind.SUSPEND:
        if state.suspended_since is None:
            out.life["suspended_since"] = event.at
        out.status = TicketStatus.SUSPENDED
        out.notices.append((NoticeKind.STATUS, None, StatusEvent.SUSPENDED, ""))
    elif kind is EventKind.RESUME:
        if state.suspended_since is not None:
            out.life["suspensions"] = (*state.suspensions, (state.suspended_since, event.at))
            out.life["suspended_since"] = None
        out.status = TicketStatus.IN_PROGRESS if state.accepted_at else TicketStatus.OPEN
    elif kind is EventKind.THIRD_PARTY:
        if state.third_party_at is None:
            out.life["third_party_at"] = event.at
            out.changes["third_party_at"] = event.at
    elif kind is EventKind.RESOLVE:
        _close_suspension(state, event, out)
        out.status = TicketStatus.RESOLVED
        role = roster.line_of(state.assignment_group) if roster is not None else None
        if role is not None:
            out.changes["resolver_role"] = role
        out.notices.append((NoticeKind.STATUS, None, StatusEvent.RESOLVED, ""))
    elif kind is EventKind.REOPEN:
        out.status = TicketStatus.IN_PROGRESS if state.accepted_at else TicketStatus.OPEN
        out.notes.append(f"重新打开 reopened by {event.actor or 'someone'}: {event.detail}".rstrip(": "))
    elif kind is EventKind.CLOSE:
        _close(state, event, roster, out)
    return out


def _close_suspension(state: TicketState, event: Event, out: Outcome) -> None:
    if state.suspended_since is not None:
        out.life["suspensions"] = (*state.suspensions, (state.suspended_since, event.at))
        out.life["suspended_since"] = None


def _assign(state: TicketState, event: Event, out: Outcome, max_reassignments: int) -> None:
    assignee = event.assignee if event.assignee is not None else state.assignee
    group = event.group if event.group is not None else state.assignment_group
    if (assignee, group) == (state.assignee, state.assignment_group) and state.assigned_at is not None:
        return  # nothing changed
    out.life.update(assignee=assignee, assignment_group=group)
    out.notices.append((NoticeKind.STATUS, None, StatusEvent.ASSIGNED, ""))
    if state.assigned_at is None:
        out.life["assigned_at"] = event.at
        return
    if group == state.assignment_group:
        return  # a reassignment within the group is not monitored (§3.1.3.3)
    count = state.reassignments + 1
    out.life["reassignments"] = count
    out.changes["reassignment_count"] = count
    who = f" by {event.actor}" if event.actor else ""
    detail = f"cross-group reassignment #{count}: {state.assignment_group or '-'} → {group or '-'}{who}"
    out.notes.append(f"跨组转派 {detail} (reported to the incident manager)")
    out.notices.append((NoticeKind.REASSIGNMENT_ALERT, None, None, detail))
    if count > max_reassignments:
        escalation = f"reassigned across groups {count} times (more than {max_reassignments}): escalated"
        out.notes.append(f"升级至事件经理 {escalation} to the incident manager")
        out.notices.append((NoticeKind.REASSIGNMENT_ALERT, None, None, escalation))


def _close(state: TicketState, event: Event, roster: Roster | None, out: Outcome) -> None:
    allowed = roster.may_close(event.actor) if roster is not None else None
    previous = state.status if state.status is not TicketStatus.CLOSED else TicketStatus.RESOLVED
    if allowed is False:
        reason = (
            f"关闭被撤销 close reverted: {event.actor} may not close tickets — only the 1st line (service "
            "desk) or the incident manager may (seed §3.1.3.10)"
        )
        out.revert_to = previous
        out.notes.append(reason)
        out.notices.append((NoticeKind.POLICY_ALERT, None, None, reason))
        return
    if event.closure_code is None:
        reason = "关闭被撤销 close reverted: a closure code is required to close (已完成/成功但有问题/未完成)"
        out.revert_to = previous
        out.notes.append(reason)
        out.notices.append((NoticeKind.POLICY_ALERT, None, None, reason))
        return
    _close_suspension(state, event, out)
    out.status = TicketStatus.CLOSED
    out.changes["closure_code"] = event.closure_code
    out.notices.append((NoticeKind.STATUS, None, StatusEvent.CLOSED, ""))
    if event.closure_code is ClosureCode.NOT_COMPLETED:
        number = 1
        key = f"{state.key}/reopen-{number}"
        out.new_ticket = NewTicket(
            key,
            state.assignee,
            state.assignment_group,
            f"未完成 closed not completed by {event.actor or 'the desk'}: a new ticket for the original handler",
        )
        out.notes.append(f"未完成 not completed: a new ticket {key} goes to {state.assignee or state.assignment_group}")
    elif event.closure_code is ClosureCode.SUCCESS_WITH_PROBLEM:
        out.notes.append("成功但有问题 success with a problem: a problem record should be raised (PROCESS §12)")


def record_outcome(ledger: TicketLedger, state: TicketState, outcome: Outcome, at: datetime) -> tuple[str, ...]:
    """Write an outcome's ticket life and status into ``ledger``; returns the duplicates whose
    status followed their master's."""
    if outcome.life:
        ledger.ticket_set_life(state.key, **outcome.life)
    if outcome.status is not None and outcome.status is not state.status:
        return record_status(ledger, state.key, outcome.status, at)
    return ()


_STATUS_EVENTS = {
    TicketStatus.IN_PROGRESS: EventKind.ACCEPT,
    TicketStatus.SUSPENDED: EventKind.SUSPEND,
    TicketStatus.RESOLVED: EventKind.RESOLVE,
    TicketStatus.CLOSED: EventKind.CLOSE,
}


def events_from_history(history: TicketHistory, skip: int, own_login: str | None) -> list[Event]:
    """The people's events in a ticket's history after its first ``skip`` entries (those were
    applied before), oldest first.

    Changes made in one go (one journal entry: same time, same actor, each thing changed once)
    are read together, so a close carries the closure code set with it and an assignment its
    group. Changes keep their order (a history is oldest first). The connector's
    own changes (``own_login``) are not events: it does not react to itself.
    """
    entries: list[list[Change]] = []
    for change in history.changes[skip:]:
        if own_login is not None and change.actor == own_login:
            continue
        current = entries[-1] if entries else None
        if (
            current is None
            or (current[0].at, current[0].actor) != (change.at, change.actor)
            or any((c.kind, c.field) == (change.kind, change.field) for c in current)
        ):
            # a new entry: another moment or person — or the same person changing the same thing
            # again within a second (two journals), which is two events, not one
            entries.append([change])
        else:
            current.append(change)
    events: list[Event] = []
    for changes in entries:
        events.extend(_entry_events(changes[0].at, changes[0].actor, changes, history))
    return events


def _entry_events(at: datetime, actor: str | None, changes: list[Change], history: TicketHistory) -> list[Event]:
    out: list[Event] = []
    assignee = next((c.new for c in changes if c.kind is ChangeKind.ASSIGNEE), None)
    group = next((c.new for c in changes if c.kind is ChangeKind.GROUP), None)
    if any(c.kind in (ChangeKind.ASSIGNEE, ChangeKind.GROUP) for c in changes):
        out.append(Event(EventKind.ASSIGN, at, actor, assignee=assignee, group=group))
    fields = {c.field: c.new for c in changes if c.kind is ChangeKind.FIELD and c.field}
    if fields.get("third_party_at"):
        out.append(Event(EventKind.THIRD_PARTY, at, actor))
    for change in changes:
        if change.kind is not ChangeKind.STATUS or change.new is None:
            continue
        new = _status(change.new)
        if new is None:
            continue
        old = _status(change.old)
        if old is TicketStatus.SUSPENDED and new is not TicketStatus.SUSPENDED:
            out.append(Event(EventKind.RESUME, at, actor))
        if old is not None and old.is_done and not new.is_done:
            out.append(Event(EventKind.REOPEN, at, actor))
        kind = _STATUS_EVENTS.get(new)
        if kind is EventKind.CLOSE:
            code = fields.get("closure_code") or history.fields.get("closure_code")
            closure = _closure(code)
            out.append(Event(EventKind.CLOSE, at, actor, closure_code=closure))
        elif kind is not None and not (kind is EventKind.ACCEPT and old is TicketStatus.SUSPENDED):
            out.append(Event(kind, at, actor))
    return out


def _status(value: object) -> TicketStatus | None:
    try:
        return TicketStatus(str(value)) if value is not None else None
    except ValueError:
        return None


def _closure(value: object) -> ClosureCode | None:
    if isinstance(value, ClosureCode):
        return value
    try:
        return ClosureCode(str(value)) if value else None
    except ValueError:
        return None
