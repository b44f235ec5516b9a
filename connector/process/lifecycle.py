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
  close *not completed* opens a new ticket for the original handler;
* **reject** — a handler hands an assignment back with a reason (PROCESS §7, IM 2.3–2.5): the
  ticket returns to the 1st line (its group, no assignee); without a reason the rejection is
  refused and reverted and reported; the rejection numbered ``lifecycle.yaml``'s
  ``rejection.escalate_at`` ("2 failed dispatches") and after escalate to the incident manager;
* **verify** — a duty-group leader (``lifecycle.yaml``'s ``verification.roles``, asked through a
  ``Verifiers`` roster) verifies a closed record, or sends it back (reopened, with a reason);
  anyone else's verification, or one of a ticket not closed, is refused and reported;
* **auto_close** — the connector closes a resolved ticket whose user neither confirmed nor
  rejected the resolution within ``lifecycle.yaml``'s ``confirmation`` wait (working days): the
  closure code of the rule, a note naming the wait, the ``closed`` notice; a person's close of
  an unconfirmed ticket before the wait stands, noted *closed before the user confirmed* and
  counted (``connector.process.closing_wait``);
* **priority** — a person changes impact, urgency or the priority (PROCESS §4): the matrix is
  applied, the change is written with its reason (a change without one is noted as such and
  reported to the incident manager); raising a ticket to P1 makes it a major incident (an
  outage notice at once; the sweep then runs the P1 ladder, steps already past fire late).

Why this module is long: it is the one table of what each event means — a function per event
kind, all filling the same ``Outcome`` — so the rules that interact (a close and the wait, a
rejection and the 1st line's group) are read side by side.

``apply_event`` returns an ``Outcome``: the ledger changes to record, the notices, what to
write to the ticket. The shells do the writing. The numbers it counts against come from the
rule book (``RuleBook.lifecycle``), never from this module.
"""

from __future__ import annotations

__all__ = [
    "Event",
    "EventKind",
    "FirstLine",
    "NewTicket",
    "Outcome",
    "Roster",
    "Verifiers",
    "apply_event",
    "events_from_history",
    "record_outcome",
    "reopened_state",
]

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from connector.domain.ledger import TicketLedger, TicketState, record_status
from connector.domain.models import ClosureCode, Impact, Priority, ResolverRole, TicketStatus, Urgency
from connector.domain.notice import NoticeKind, StatusEvent
from connector.domain.verification import SENT_BACK_MARK, VERIFIED_MARK
from connector.process.changes import change_closed, link_change
from connector.process.closing_wait import auto_close_note, close_due, early_close_note
from connector.process.events import Event, EventKind, events_from_history
from connector.rules.calendar import ClosingWait
from connector.rules.files import LifecycleFile
from connector.rules.links import ChangesModel
from connector.rules.loading import default_rulebook
from connector.rules.priority import PriorityRules


class Roster(Protocol):
    """Who is who: the closing right and the line of a group (``people.yaml``)."""

    def may_close(self, login: str | None) -> bool | None:
        """Whether ``login`` may close tickets (1st line or incident manager); ``None``: cannot tell."""
        ...

    def line_of(self, group: str | None) -> ResolverRole | None:
        """The line (1st, 2nd, third party) of an assignment group, if known."""
        ...


@runtime_checkable
class FirstLine(Protocol):
    """A roster that knows the 1st line's group (``people.yaml``: the ``first_line`` group): where
    a rejected assignment goes back to. Without one, the ticket goes back with no group."""

    def first_line_group(self) -> str | None:
        """The assignment group of the 1st line (the service desk), as tickets name it."""
        ...


@runtime_checkable
class Verifiers(Protocol):
    """A roster that can tell who verifies closed records (PROCESS §1: the duty-group leader)."""

    def may_verify(self, login: str | None) -> bool | None:
        """Whether ``login`` holds a verification role; ``None``: cannot tell."""
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
    refused: str | None = None  # why the action was refused (and reverted), if it was
    priority: tuple[Impact, Urgency, Priority] | None = None  # TicketLedger.ticket_set_priority

    @property
    def note(self) -> str | None:
        """The notes as one journal entry."""
        return "\n".join(self.notes) or None


def apply_event(
    state: TicketState,
    event: Event,
    roster: Roster | None,
    *,
    lifecycle: LifecycleFile | None = None,
    priority: PriorityRules | None = None,
    wait: ClosingWait | None = None,
    changes: ChangesModel | None = None,
) -> Outcome:
    """What ``event`` means for the ticket ``state`` (see the module docstring); ``lifecycle``
    and ``priority`` (the matrix) are the rule book's (default: the shipped ones); ``wait`` is
    ``lifecycle.yaml``'s confirmation wait in the site's calendar (``None``: no wait — nothing
    is closed automatically, no close is noted as early); ``changes`` is ``itil_links.yaml``'s
    ``changes`` (default: the shipped one; ``connector.process.changes``)."""
    rules = lifecycle if lifecycle is not None else default_rulebook().lifecycle
    out = Outcome()
    kind = event.kind
    if kind is EventKind.REJECT:
        _reject(state, event, roster, out, rules.rejection.escalate_at)
    elif kind is EventKind.VERIFY:
        _verify(state, event, roster, out)
    elif kind is EventKind.PRIORITY:
        _priority(state, event, out, priority if priority is not None else default_rulebook().priority)
    elif kind is EventKind.ASSIGN:
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
        _close(state, event, roster, out, wait)
    elif kind is EventKind.AUTO_CLOSE:
        _auto_close(state, event, out, wait)
    elif kind is EventKind.LINK_CHANGE or kind is EventKind.CHANGE_CLOSED:
        model = changes if changes is not None else _shipped_changes()
        (link_change if kind is EventKind.LINK_CHANGE else change_closed)(state, event, out, model)
    return out


def _shipped_changes() -> ChangesModel:
    links = default_rulebook().links
    assert links is not None  # the loader always reads itil_links.yaml
    return links.changes


def _auto_close(state: TicketState, event: Event, out: Outcome, wait: ClosingWait | None) -> None:
    if wait is None:
        return
    due = close_due(state, wait)
    if due is None or event.at < due:
        return  # answered, reopened or closed meanwhile: nothing to close
    out.status = TicketStatus.CLOSED
    out.changes.update(status=TicketStatus.CLOSED, closure_code=wait.closure_code)
    out.notes.append(auto_close_note(state, wait))
    detail = f"closed after {wait.describe()} without an answer"
    out.notices.append((NoticeKind.STATUS, None, StatusEvent.CLOSED, detail))


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


def _reject(state: TicketState, event: Event, roster: Roster | None, out: Outcome, escalate_at: int) -> None:
    who = event.actor or "the handler"
    reason = event.detail.strip()
    if not reason:
        refused = (
            f"拒绝被撤销 rejection refused: {who} rejected the assignment without a reason — a handler who "
            "rejects must give one (PROCESS §7); the assignment stands"
        )
        out.refused = refused
        out.notes.append(refused)
        out.changes.update(assignee=state.assignee, assignment_group=state.assignment_group)
        out.notices.append((NoticeKind.POLICY_ALERT, None, None, refused))
        return
    desk = roster.first_line_group() if isinstance(roster, FirstLine) else None
    count = state.rejections + 1
    out.life.update(rejections=count, assignee=None, assignment_group=desk)
    if desk is not None:
        out.changes["assignment_group"] = desk
    out.status = TicketStatus.OPEN if state.status is TicketStatus.IN_PROGRESS else None
    detail = f"assignment rejected #{count} by {who} ({state.assignment_group or '-'}): {reason}"
    out.notes.append(f"退回一线 {detail}; back to the 1st line {desk or ''}".rstrip())
    out.notices.append((NoticeKind.STATUS, None, StatusEvent.ASSIGNED, detail))
    if count >= escalate_at:
        escalation = f"assignment rejected {count} times (failed dispatches, limit {escalate_at}): escalated"
        out.notes.append(f"升级至事件经理 {escalation} to the incident manager")
        out.notices.append((NoticeKind.REASSIGNMENT_ALERT, None, None, escalation))


def _verify(state: TicketState, event: Event, roster: Roster | None, out: Outcome) -> None:
    who = event.actor or "someone"
    allowed = roster.may_verify(event.actor) if isinstance(roster, Verifiers) else None
    refused = None
    if allowed is False:
        refused = f"核查被拒绝 verification refused: {who} is not a duty-group leader (PROCESS §1, seed §3.1.3.10.2)"
    elif state.status is not TicketStatus.CLOSED:
        refused = (
            f"核查被拒绝 verification refused: the ticket is {state.status.value}; only a closed record is verified"
        )
    elif event.reopen and not event.detail.strip():
        refused = f"核查被拒绝 verification refused: {who} sends the record back without a reason"
    if refused is not None:
        out.refused = refused
        out.notes.append(refused)
        out.notices.append((NoticeKind.POLICY_ALERT, None, None, refused))
        return
    if event.reopen:
        out.status = TicketStatus.IN_PROGRESS if state.accepted_at else TicketStatus.OPEN
        out.changes["status"] = out.status
        out.life["verified_at"] = None
        out.notes.append(f"{SENT_BACK_MARK} {who} sends the record back (reopened): {event.detail.strip()}")
        out.notices.append((NoticeKind.STATUS, None, StatusEvent.IN_PROGRESS, f"sent back by {who}"))
        return
    out.life["verified_at"] = event.at
    out.notes.append(f"{VERIFIED_MARK} {who}")


def _priority(state: TicketState, event: Event, out: Outcome, rules: PriorityRules) -> None:
    impact = event.impact or state.impact
    urgency = event.urgency or state.urgency
    before = state.priority
    who = event.actor or "someone"
    if impact is None or urgency is None:
        return
    matrix = rules.priority(impact, urgency)
    after = matrix
    if event.priority is not None and event.impact is None and event.urgency is None and event.priority != matrix:
        # the priority itself was set against the matrix: the matrix stands (PROCESS §4)
        out.notes.append(
            f"优先级按矩阵 P{int(event.priority)} set by {who} disagrees with the matrix: impact {int(impact)} × "
            f"urgency {int(urgency)} gives P{int(matrix)}, so the priority stays P{int(matrix)} (PROCESS §4)"
        )
    if (impact, urgency, after) == (state.impact, state.urgency, before) and not out.notes:
        return
    out.priority = (impact, urgency, after)
    out.changes.update(impact=impact, urgency=urgency, priority=after)
    reason = event.detail.strip()
    change = (
        f"P{int(before) if before is not None else '-'} → P{int(after)} (impact {int(impact)} × urgency "
        f"{int(urgency)}) by {who}"
    )
    if reason:
        out.notes.append(f"优先级变更 priority changed {change}: {reason}")
    else:
        missing = f"priority changed {change} without a reason (PROCESS §4: every change is written with its reason)"
        out.notes.append(f"优先级变更无原因 {missing}; reported to the incident manager")
        out.notices.append((NoticeKind.POLICY_ALERT, None, None, missing))
    if after is Priority.HIGHEST and before is not Priority.HIGHEST:
        out.notes.append("重大事件 major incident: raised to P1 (the P1 ladder and notices apply from now on)")
        out.notices.append((NoticeKind.OUTAGE, None, None, f"raised to P1 by {who}: {reason or 'no reason given'}"))


def _close(state: TicketState, event: Event, roster: Roster | None, out: Outcome, wait: ClosingWait | None) -> None:
    allowed = roster.may_close(event.actor) if roster is not None else None
    previous = state.status if state.status is not TicketStatus.CLOSED else TicketStatus.RESOLVED
    if allowed is False:
        reason = (
            f"关闭被撤销 close reverted: {event.actor} may not close tickets — only the 1st line (service "
            "desk) or the incident manager may (seed §3.1.3.10)"
        )
        out.revert_to = previous
        out.refused = reason
        out.notes.append(reason)
        out.notices.append((NoticeKind.POLICY_ALERT, None, None, reason))
        return
    if event.closure_code is None:
        reason = "关闭被撤销 close reverted: a closure code is required to close (已完成/成功但有问题/未完成)"
        out.revert_to = previous
        out.refused = reason
        out.notes.append(reason)
        out.notices.append((NoticeKind.POLICY_ALERT, None, None, reason))
        return
    if state.status is not TicketStatus.RESOLVED and state.status is not TicketStatus.CLOSED:
        # never resolved, or its user rejected the resolution (back to investigation, IM 5.2)
        reason = (
            f"关闭被撤销 close reverted: the ticket is {state.status.value}, never resolved or its resolution "
            "rejected by the user — resolve it, and ask the user to confirm, before closing (seed §3.1.3.10)"
        )
        out.revert_to = previous
        out.refused = reason
        out.notes.append(reason)
        out.notices.append((NoticeKind.POLICY_ALERT, None, None, reason))
        return
    if wait is not None:
        note, early = early_close_note(state, wait, event.at)
        if note is not None:
            out.notes.append(note)
        if early:
            out.life["closed_unconfirmed"] = True
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
    if outcome.priority is not None:
        ledger.ticket_set_priority(state.key, *outcome.priority)
    if outcome.status is not None and outcome.status is not state.status:
        return record_status(ledger, state.key, outcome.status, at)
    return ()
