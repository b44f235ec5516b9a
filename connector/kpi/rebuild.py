"""A ticket's KPI record rebuilt from what the helpdesk holds: its fields and its history.

``rebuild_record`` is pure: a ``TicketHistory`` (current fields + every change, oldest first)
in, a ``HistoryRecord`` (docs/history-format.md) out, so a lost state file loses no history —
``export-history`` only reads the helpdesk. How each moment is read from the history:

* the ticket's **first state** (at ``created_at``) is what the earliest change of each kind
  says it was before (``old``), or — when nothing ever changed it — what it is now;
* ``assigned_at``: the first moment an assignee was set (a ticket created with one is assigned
  at its creation), or the first time a person changed its assignment group — the group the
  classification rules give a new ticket routes it, it does not dispatch it (the escalation
  sweep reads it the same way, so a response is late in the report exactly when it was late
  for the sweep);
* ``accepted_at``: the first change to *in progress* at or after the assignment (a ticket
  created in progress and assigned is accepted when it is assigned);
* ``resolved_at`` / ``closed_at``: the last change to resolved / closed; a reopening (a change
  to any other status) clears both, and a ticket closed without being resolved first counts as
  resolved when it was closed;
* ``suspensions``: each stretch in *suspended* (the last one open while it still is) — and,
  when ``itil_links.yaml`` says pending-change time pauses the SLA (``pending_pauses``), each
  stretch in *pending change* as well, so the report's lateness honours it as the sweep did;
* ``resolver``: the assignee when it was resolved — else whoever resolved it, unless that was
  the connector (a recovery reported by monitoring is nobody's work);
* ``resolver_role``: the ticket's own field when set, else the line of the group it was
  resolved in (``line_of``, from people.yaml), else unknown;
* ``kb_used``: the ticket's "KB used" field, or a person's note line that says so
  (``knowledge.yaml``'s ``knowledge_used.used_lines``, e.g. ``KB: used``);
* ``worklog_staff``: everyone who wrote a note or made a change, in order of first
  appearance, except the connector's own logins.

Every moment is kept no earlier than the registration (a record that breaks the order would
be refused by the reader); what had to be assumed is said in ``Rebuilt.notes``.
"""

from __future__ import annotations

__all__ = ["Rebuilt", "rebuild_record"]

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from connector.contracts.adapters import Change, ChangeKind, TicketHistory
from connector.domain.clock import ensure_utc
from connector.domain.models import Impact, Priority, ResolverRole, TicketSource, TicketStatus, Urgency
from connector.domain.verification import VERIFIED_MARK
from connector.kpi.history import HistoryRecord
from connector.rules.knowledge import KnowledgeUsedModel, kb_used_line
from connector.rules.loading import default_rulebook

_DONE = (TicketStatus.RESOLVED, TicketStatus.CLOSED)


@dataclass(frozen=True)
class Rebuilt:
    """The record of one ticket, and what had to be assumed to build it (for the log)."""

    record: HistoryRecord
    notes: tuple[str, ...] = ()


def _status(text: str | None) -> TicketStatus | None:
    if text is None:
        return None
    try:
        return TicketStatus(text)
    except ValueError:
        return None  # a helpdesk status the process does not know: no process meaning


@dataclass(frozen=True)
class _Timeline:
    """One value (status, assignee, group) through the ticket's life: (since, value) steps."""

    steps: tuple[tuple[datetime, str | None], ...]

    @classmethod
    def of(cls, created: datetime, changes: list[Change], current: str | None) -> _Timeline:
        first = changes[0].old if changes else current
        steps = [(created, first)] + [(max(created, ensure_utc(c.at)), c.new) for c in changes]
        return cls(tuple(steps))

    def at(self, moment: datetime) -> str | None:
        """The value in force at ``moment`` (the last step not after it)."""
        value = self.steps[0][1]
        for since, step in self.steps:
            if since > moment:
                break
            value = step
        return value

    def first_in(self, status: TicketStatus, start: datetime) -> datetime | None:
        """The first moment at or after ``start`` at which the status is ``status``.

        Each step is looked at in order, those in the very second of ``start`` too: helpdesks stamp
        whole seconds, so a ticket accepted and resolved in its registration second was still in
        progress for part of it (the value in force *at* ``start`` alone would be the last one)."""
        before = self.steps[0][1]
        for since, value in self.steps:
            if since >= start:
                break
            before = value
        if _status(before) is status:
            return start
        later = (max(since, start) for since, value in self.steps if since >= start and _status(value) is status)
        return next(later, None)

    def first_set(self) -> datetime | None:
        """When the value was first not ``None``."""
        return next((since for since, value in self.steps if value is not None), None)

    def entered(self, value: str, before: datetime) -> datetime | None:
        """When the value last became ``value`` at or before ``before``."""
        found = None
        previous: str | None = None
        for index, (since, step) in enumerate(self.steps):
            if since > before:
                break
            if step == value and (index == 0 or previous != value):
                found = since
            previous = step
        return found


def _of_kind(history: TicketHistory, kind: ChangeKind) -> list[Change]:
    return [c for c in history.changes if c.kind is kind]


def _enum(value: Any, kind: type[Any], default: Any) -> Any:
    if value is None:
        return default
    try:
        return kind(value)
    except ValueError:
        return default


def _moment(value: Any) -> datetime | None:
    return ensure_utc(value) if isinstance(value, datetime) else None


def rebuild_record(
    history: TicketHistory,
    *,
    master_id: str | None = None,
    connector_logins: Collection[str] = (),
    line_of: Callable[[str | None], ResolverRole | None] | None = None,
    knowledge_used: KnowledgeUsedModel | None = None,
    pending_pauses: bool = False,
) -> Rebuilt:
    """The KPI record of the ticket ``history`` describes.

    ``master_id`` is the master's *helpdesk id* when the ticket is a duplicate (its
    ``duplicate_of`` field holds the master's connector key, which only the caller can map);
    ``connector_logins`` are the helpdesk users the connector acts as; ``line_of`` gives the
    line of an assignment group (``Directory.line_of_group``); ``knowledge_used`` the note lines
    that mark the knowledge base used (``knowledge.yaml``; default: the shipped ones) — a
    person's such line counts like the "KB used" field (KPI 15); ``pending_pauses``: pending-change
    stretches count as suspensions (``itil_links.yaml``'s ``changes.pauses_sla``). Raises ``ValueError`` when the
    record still breaks the format (it is then not written, and the caller says why).
    """
    fields: Mapping[str, Any] = history.fields
    notes: list[str] = []
    created = ensure_utc(history.created_at)
    registered = _moment(fields.get("registered_at")) or created
    outage = _moment(fields.get("outage_start"))
    occurred = min(outage, registered) if outage is not None else registered
    if outage is not None and outage > registered:
        notes.append("its outage start is after its registration; it occurred when it was registered")

    statuses = _Timeline.of(
        created, _of_kind(history, ChangeKind.STATUS), history.status.value if history.status else None
    )
    assignees = _Timeline.of(created, _of_kind(history, ChangeKind.ASSIGNEE), history.assignee)
    groups = _Timeline.of(created, _of_kind(history, ChangeKind.GROUP), history.group)

    def not_before_registration(moment: datetime | None) -> datetime | None:
        return None if moment is None else max(moment, registered)

    regrouped = [c.at for c in _of_kind(history, ChangeKind.GROUP) if c.actor not in connector_logins and c.new]
    set_times = [t for t in (assignees.first_set(), min(regrouped, default=None)) if t is not None]
    assigned = not_before_registration(min(set_times)) if set_times else None
    accepted = statuses.first_in(TicketStatus.IN_PROGRESS, assigned) if assigned is not None else None

    resolved, closed, suspensions = _done_and_paused(statuses, pending_pauses)
    current = history.status or _status(statuses.steps[-1][1]) or TicketStatus.OPEN
    if current not in _DONE:
        resolved = closed = None
    elif resolved is None:  # done now, but the history never says when: its last change, or creation
        resolved = statuses.steps[-1][0]
        notes.append("done without a recorded resolution; resolved at its last status change")
    if current is TicketStatus.CLOSED and closed is None:
        closed = resolved
    resolved = not_before_registration(resolved)
    closed = None if closed is None else max(closed, resolved or registered)

    resolver = group_then = None
    if resolved is not None:
        resolver = assignees.at(resolved)
        group_then = groups.at(resolved)
        if resolver is None:
            resolving = _resolving_change(history, resolved)
            if resolving is not None and resolving.actor not in connector_logins:
                resolver = resolving.actor

    role = _enum(fields.get("resolver_role"), ResolverRole, None)
    if role is None and resolved is not None and line_of is not None:
        role = line_of(group_then)
    third_party = _moment(fields.get("third_party_at"))
    if role is ResolverRole.THIRD_PARTY and resolved is not None and third_party is None:
        entered = groups.entered(group_then, resolved) if group_then is not None else None
        third_party = entered or registered
        notes.append(
            "resolved by a third party without a recorded hand-over; handed over when "
            + ("it entered that group" if entered is not None else "it was registered")
        )
    third_party = not_before_registration(third_party)

    master = master_id if master_id != history.ticket_id else None
    reporter = fields.get("reporter") or fields.get("contact")
    record = HistoryRecord.model_validate(
        {
            "id": history.ticket_id,
            "title": fields.get("title") or f"#{history.ticket_id}",
            "source": _enum(
                fields.get("source"),
                TicketSource,
                TicketSource.MONITORING if history.key is not None else TicketSource.USER_REPORT,
            ),
            "reporter": reporter,
            "registrar": history.author,
            "ci": fields.get("ci"),
            "category": fields.get("category"),
            "impact": _enum(fields.get("impact"), Impact, Impact.GENERAL),
            "urgency": _enum(fields.get("urgency"), Urgency, Urgency.NORMAL),
            "priority": _enum(fields.get("priority"), Priority, Priority.MEDIUM),
            "duplicate_of": master,
            "occurred_at": occurred,
            "registered_at": registered,
            "assigned_at": assigned,
            "accepted_at": accepted,
            "resolved_at": resolved,
            "closed_at": closed,
            "third_party_at": third_party,
            "status": current,
            "closure_code": fields.get("closure_code"),
            "resolver": resolver,
            "resolver_role": role,
            "kb_used": bool(fields.get("kb_used")) or _kb_used_note(history, connector_logins, knowledge_used),
            "worklog_staff": _staff(history, connector_logins),
            "suspensions": suspensions,
            "verified_at": _verified(history, closed, connector_logins),
        }
    )
    return Rebuilt(record, tuple(notes))


def _done_and_paused(
    statuses: _Timeline, pending_pauses: bool = False
) -> tuple[datetime | None, datetime | None, tuple[tuple[datetime, datetime | None], ...]]:
    """The current resolution and closing (cleared by a reopening) and the suspended stretches."""
    resolved = closed = None
    paused: list[tuple[datetime, datetime | None]] = []
    since: datetime | None = None
    previous: TicketStatus | None = None
    for moment, text in statuses.steps:
        status = _status(text)
        if status is previous:
            continue
        if since is not None:  # leaving a suspension
            paused.append((since, moment))
            since = None
        if status is TicketStatus.SUSPENDED or (pending_pauses and status is TicketStatus.PENDING_CHANGE):
            since = moment
        if status is TicketStatus.RESOLVED:
            resolved, closed = moment, None
        elif status is TicketStatus.CLOSED:
            resolved = resolved or moment
            closed = moment
        else:
            resolved = closed = None
        previous = status
    if since is not None:
        paused.append((since, None))
    return resolved, closed, tuple(paused)


def _resolving_change(history: TicketHistory, resolved: datetime) -> Change | None:
    """The status change that made the ticket done at ``resolved``."""
    return next(
        (
            c
            for c in reversed(history.changes)
            if c.kind is ChangeKind.STATUS and _status(c.new) in _DONE and ensure_utc(c.at) <= resolved
        ),
        None,
    )


def _verified(history: TicketHistory, closed: datetime | None, connector_logins: Collection[str]) -> datetime | None:
    """When a leader's verification of the current close was accepted: the connector's own note
    saying so (``VERIFIED_MARK``) at or after the close — the connector writes it only for a
    holder of the verification role, so a refused verification is never counted."""
    if closed is None:
        return None
    found = None
    for change in history.changes:
        if change.kind is not ChangeKind.NOTE or not change.new or ensure_utc(change.at) < closed:
            continue
        if connector_logins and change.actor not in connector_logins:
            continue
        if VERIFIED_MARK in change.new:  # anywhere: a helpdesk may wrap the note (Redmine: <pre>)
            found = ensure_utc(change.at)
    return found


def _kb_used_note(
    history: TicketHistory, connector_logins: Collection[str], rules: KnowledgeUsedModel | None
) -> bool:
    """Whether a person's note says the knowledge base was used (a ``knowledge_used`` line): the
    handler's way when the helpdesk has no "KB used" field, or they did not tick it."""
    used = rules if rules is not None else default_rulebook().knowledge.knowledge_used
    return any(
        change.kind is ChangeKind.NOTE and change.actor not in connector_logins and kb_used_line(change.new, used)
        for change in history.changes
    )


def _staff(history: TicketHistory, connector_logins: Collection[str]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for change in history.changes:
        if change.actor and change.actor not in connector_logins:
            seen.setdefault(change.actor, None)
    return tuple(seen)
