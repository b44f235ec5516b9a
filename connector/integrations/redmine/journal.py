"""A Redmine issue's journals as the process's changes (``HistoryReader``), pure.

Each journal (``include=journals``) is one save by one user at one moment; its ``details``
say what changed and its ``notes`` what was written:

* ``attr status_id`` → ``STATUS``, both ids mapped to process statuses (a change between two
  Redmine statuses of one process status is none);
* ``attr assigned_to_id`` → ``ASSIGNEE`` (logins), or ``GROUP`` when the id is a Redmine
  group ("Allow issue assignment to groups");
* the assignment-group custom field → ``GROUP``; every other custom field of the connector's
  catalogue → ``FIELD`` named by its ``Ticket`` field (``closure_code``, ``third_party_at``, …),
  its stored text as old/new (``""`` is ``None``); ``attr subject`` → ``FIELD title``;
  ``attr priority_id`` → ``FIELD priority``, both ids mapped to process priorities (``"1"``–``"4"``:
  a person changing Redmine's own priority is a manual priority change, issue 12);
* a non-empty ``notes`` → ``NOTE``.

When the issue uses the assignment-group field at all, groups come from it alone; otherwise
from group assignments — two sources stepping over each other would say the wrong group.
"""

from __future__ import annotations

__all__ = ["journal_changes"]

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from functools import partial

from connector.contracts.adapters import Change, ChangeKind
from connector.contracts.delivery import strip_op_marker
from connector.domain.clock import ensure_utc
from connector.domain.fields import KEY_FIELD
from connector.domain.models import Priority, TicketStatus
from connector.integrations.redmine.principals import Principal
from connector.integrations.redmine.schema import Journal, NamedRef

GROUP_FIELD = "assignment_group"


def _id(text: str | None) -> int | None:
    return int(text) if text is not None and text.strip().isdigit() else None


def _text(value: str | None) -> str | None:
    return value if value else None


def journal_changes(
    journals: Sequence[Journal],
    *,
    status_of: Callable[[int], TicketStatus | None],
    field_of_cf: Mapping[int, str],
    principal: Callable[[int], Principal],
    actor_of: Callable[[NamedRef | None], str | None],
    uses_group_field: bool,
    priority_of: Callable[[int], Priority | None] | None = None,
) -> tuple[Change, ...]:
    """The changes the journals record, oldest first (journals sorted by time, then id, since
    a user may have chosen to see them newest first)."""
    out: list[Change] = []
    by_field: list[Change] = []
    by_assignment: list[Change] = []
    for journal in sorted(journals, key=lambda j: (ensure_utc(j.created_on), j.id)):
        at = ensure_utc(journal.created_on)
        actor = actor_of(journal.user)

        change = partial(_change, at, actor)
        for detail in journal.details:
            if detail.property == "attr" and detail.name == "status_id":
                old, new = (_status(_id(v), status_of) for v in (detail.old_value, detail.new_value))
                if old != new:
                    out.append(change(ChangeKind.STATUS, old, new))
            elif detail.property == "attr" and detail.name == "assigned_to_id":
                before = _principal(detail.old_value, principal)
                after = _principal(detail.new_value, principal)
                users = tuple(p.name if p is not None and not p.is_group else None for p in (before, after))
                groups = tuple(p.name if p is not None and p.is_group else None for p in (before, after))
                if users[0] != users[1]:
                    out.append(change(ChangeKind.ASSIGNEE, *users))
                if groups[0] != groups[1]:
                    made = change(ChangeKind.GROUP, *groups)
                    by_assignment.append(made)
                    out.append(made)
            elif detail.property == "attr" and detail.name == "priority_id" and priority_of is not None:
                old, new = (_priority(_id(v), priority_of) for v in (detail.old_value, detail.new_value))
                if old != new:
                    out.append(change(ChangeKind.FIELD, old, new, "priority"))
            elif detail.property == "attr" and detail.name == "subject":
                out.append(change(ChangeKind.FIELD, _text(detail.old_value), _text(detail.new_value), "title"))
            elif detail.property == "cf" and (cf := _id(detail.name)) is not None and cf in field_of_cf:
                name = field_of_cf[cf]
                old_text, new_text = _text(detail.old_value), _text(detail.new_value)
                if name == KEY_FIELD or old_text == new_text:
                    continue
                if name == GROUP_FIELD:
                    made = change(ChangeKind.GROUP, old_text, new_text)
                    by_field.append(made)
                    out.append(made)
                else:
                    out.append(change(ChangeKind.FIELD, old_text, new_text, name))
        notes = strip_op_marker(journal.notes or "")  # the outbox's marker is not what was said
        if notes.strip():
            out.append(change(ChangeKind.NOTE, None, notes))
    dropped = {id(c) for c in by_assignment} if uses_group_field or by_field else set()
    return tuple(c for c in out if id(c) not in dropped)


def _change(
    at: datetime, actor: str | None, kind: ChangeKind, old: str | None, new: str | None, field: str | None = None
) -> Change:
    return Change(at=at, actor=actor, kind=kind, old=old, new=new, field=field)


def _status(status_id: int | None, status_of: Callable[[int], TicketStatus | None]) -> str | None:
    if status_id is None:
        return None
    status = status_of(status_id)
    return status.value if status is not None else None


def _priority(priority_id: int | None, priority_of: Callable[[int], Priority | None]) -> str | None:
    if priority_id is None:
        return None
    priority = priority_of(priority_id)
    return str(int(priority)) if priority is not None else None


def _principal(text: str | None, principal: Callable[[int], Principal]) -> Principal | None:
    ident = _id(text)
    return principal(ident) if ident is not None else None
