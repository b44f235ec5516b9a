"""What people did, as the lifecycle reads it: ``EventKind`` / ``Event``, and
``events_from_history`` — a helpdesk's history (``HistoryReader``: Redmine journals, GLPI logs)
turned into events, oldest first: an assignment, a status change, a rejection (the handler takes
themself off the ticket, the entry's note its reason), a changed impact, urgency or priority (the
note its reason), a duty-group leader's verification line in a note
(``connector.domain.verification``). Pure; ``connector.process.lifecycle`` says what each event
means."""

from __future__ import annotations

__all__ = ["Event", "EventKind", "events_from_history"]

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TypeVar

from connector.contracts.adapters import Change, ChangeKind, TicketHistory
from connector.domain.models import ClosureCode, Impact, Priority, TicketStatus, Urgency
from connector.domain.verification import verdict_in


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
    REJECT = "reject"  # the handler hands the assignment back (with a reason)
    PRIORITY = "priority"  # a person changed impact, urgency or the priority
    VERIFY = "verify"  # a duty-group leader verified the closed record (``detail``: why it goes back)
    AUTO_CLOSE = "auto_close"  # the connector closes a resolved ticket its user did not answer in the wait
    LINK_CHANGE = "link_change"  # a person linked a change request (``detail``: the change) — pending change
    CHANGE_CLOSED = "change_closed"  # the last open change linked to it closed (``detail``: the change)


@dataclass(frozen=True)
class Event:
    """An event at ``at`` by ``actor`` (a helpdesk login; ``None``: unknown)."""

    kind: EventKind
    at: datetime
    actor: str | None = None
    assignee: str | None = None
    group: str | None = None
    closure_code: ClosureCode | None = None
    detail: str = ""  # a reopen's or rejection's reason, a priority change's reason
    impact: Impact | None = None  # a priority change: the new values (None: unchanged)
    urgency: Urgency | None = None
    priority: Priority | None = None
    reopen: bool = False  # a verification that sends the record back (verdict "reopen")


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
    note = "\n".join(c.new for c in changes if c.kind is ChangeKind.NOTE and c.new)
    handed_back = any(
        c.kind is ChangeKind.ASSIGNEE and c.new is None and c.old is not None and c.old == actor for c in changes
    )
    if handed_back:
        # the handler took themself off the ticket: a rejection, its reason the entry's note
        out.append(Event(EventKind.REJECT, at, actor, detail=note))
    elif any(c.kind in (ChangeKind.ASSIGNEE, ChangeKind.GROUP) for c in changes):
        out.append(Event(EventKind.ASSIGN, at, actor, assignee=assignee, group=group))
    fields = {c.field: c.new for c in changes if c.kind is ChangeKind.FIELD and c.field}
    if fields.get("impact") or fields.get("urgency") or fields.get("priority"):
        # a person's change of impact, urgency or the priority itself (Redmine's own priority
        # field, GLPI's): the matrix is applied, the entry's note is the reason
        out.append(
            Event(
                EventKind.PRIORITY,
                at,
                actor,
                detail=note,
                impact=_scale(Impact, fields.get("impact")),
                urgency=_scale(Urgency, fields.get("urgency")),
                priority=_scale(Priority, fields.get("priority")),
            )
        )
    if fields.get("third_party_at"):
        out.append(Event(EventKind.THIRD_PARTY, at, actor))
    verdict = verdict_in(note) if note else None
    if verdict is not None:
        # a duty-group leader's verification written in the helpdesk (connector.domain.verification)
        out.append(Event(EventKind.VERIFY, at, actor, detail=verdict.reason, reopen=verdict.reopen))
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


_Scale = TypeVar("_Scale", Impact, Urgency, Priority)


def _scale(kind: type[_Scale], value: object) -> _Scale | None:
    """A history's stored text of impact/urgency (``"2"``) as the scale; ``None`` if unreadable."""
    try:
        return kind(int(str(value))) if value is not None else None
    except ValueError:
        return None


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
