"""A GLPI ticket and its history as the process's changes (``HistoryReader``), pure.

GLPI keeps three records of what happened to a ticket, and each says part of it:

* its **Log** (``Ticket/<id>/Log``, GLPI's "Historical" tab): field changes with the field's
  search option (12 status, 10 urgency, 11 impact, 3 priority, 1 title, 7 category, 18 time to
  resolve) and raw old/new values, and actors added/removed (15/16: ``itemtype_link`` User or
  Group, the value ``name (id)``, the option 5 / 8 when the actor is the *assigned* technician
  / group — older rows say 0, and then the ticket's current actors decide). Each row names who
  did it as ``name (id)``: the id gives the login;
* its **follow-ups and solutions**: the notes (``NOTE``), and — in the paragraph that starts
  with the connector's header line (``connector.integrations.glpi.render``) — the process fields GLPI has no
  place for (closure code, KB used, third party since, …) as ``label: value`` lines: ``FIELD``
  changes by whoever wrote them;
* its **content**: the connector's field block at creation, the first value of those fields.

Statuses map through the configured scale (``Scales.status_of``), as everywhere in the GLPI
backend. Times are GLPI's, in its time zone, read as UTC.
"""

from __future__ import annotations

__all__ = ["glpi_history", "html_lines", "read_block", "user_id"]

import html
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from connector.contracts.adapters import Change, ChangeKind, TicketHistory
from connector.domain.fields import encode, read_field_line, spec_for
from connector.domain.models import Impact, Priority, TicketStatus, Urgency
from connector.integrations.glpi.fields import Scales, is_op_marker, key_from_content, parse_time_glpi
from connector.integrations.glpi.render import HEADER
from connector.integrations.glpi.schema import ActorRow, LogRow, NoteRow, TicketItem

#: Log.linked_action values (GLPI's Log::HISTORY_*)
ADD_RELATION, DEL_RELATION, CREATE_ITEM = 15, 16, 20
#: Ticket search options the Log names
OPT_TITLE, OPT_PRIORITY, OPT_CATEGORY, OPT_URGENCY, OPT_IMPACT, OPT_STATUS, OPT_TTR = 1, 3, 7, 10, 11, 12, 18
OPT_TECH, OPT_TECH_GROUP = 5, 8
ASSIGNED = 2  # Ticket_User / Group_Ticket type
_NOT_ASSIGNED_OPTIONS = {4, 71, 66, 65}  # requester, requester group, observer, observer group
#: fields whose history is GLPI's own (actors, native columns): follow-up lines do not count for them
_NATIVE = {"assignee", "assignment_group", "status", "title", "urgency", "impact", "priority", "category"}

_PARAGRAPH = re.compile(r"<p[^>]*>(.*?)</p>", re.IGNORECASE | re.DOTALL)
_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]+>")
_NAME_ID = re.compile(r"\((\d+)\)\s*$")


def user_id(text: str | None) -> int | None:
    """The id at the end of GLPI's ``name (id)`` (a Log's user or actor value)."""
    found = _NAME_ID.search(text or "")
    return int(found.group(1)) if found else None


def html_lines(content: str | None) -> list[list[str]]:
    """The paragraphs of GLPI rich text, each as its lines of plain text."""
    text = content or ""
    if "<" not in text and "&#60;" in text:  # stored form, entity-encoded markup
        text = html.unescape(text)
    paragraphs = _PARAGRAPH.findall(text) or [text]
    return [[html.unescape(_TAG.sub("", line)).strip() for line in _BREAK.split(p)] for p in paragraphs]


def read_block(content: str | None) -> tuple[dict[str, Any], str]:
    """The process fields of the connector's last field block in ``content``, and the rest of
    the text (what a person wrote)."""
    values: dict[str, Any] = {}
    text: list[str] = []
    for lines in html_lines(content):
        if lines and lines[0] == HEADER:
            values = {}
            for line in lines[1:]:
                read = read_field_line(line)
                if read is not None:
                    values[read[0]] = read[1]
        elif any(lines) and not (len(lines) == 1 and is_op_marker(lines[0])):  # the outbox's marker is not text
            text.append("\n".join(lines))
    return values, "\n\n".join(text).strip()


def _stored(key: str, value: Any) -> str | None:
    """A field value as its stored text (the same text a Redmine custom field holds)."""
    spec = spec_for(key)
    if value is None:
        return None
    if spec is None:
        return str(value)
    return encode(spec, value) or None


@dataclass(frozen=True)
class _Event:
    """A change with where it came from, for a stable oldest-first order."""

    change: Change
    order: tuple[datetime, int, int]


def glpi_history(
    ticket: TicketItem,
    *,
    logs: Sequence[LogRow],
    followups: Sequence[NoteRow],
    solutions: Sequence[NoteRow],
    users: Sequence[ActorRow],
    groups: Sequence[ActorRow],
    scales: Scales,
    zone: ZoneInfo,
    login_of: Callable[[int], str | None],
    group_of: Callable[[int], str | None],
    category_of: Callable[[int], tuple[str, ...] | None],
) -> TicketHistory:
    """The ticket ``ticket`` with every change its Log, follow-ups and solutions record."""

    def when(text: str | None) -> datetime | None:
        try:
            return parse_time_glpi(text, zone) if text else None
        except ValueError:
            return None

    def actor(name: str | None) -> str | None:
        ident = user_id(name)
        found = login_of(ident) if ident is not None else None
        return found or (_NAME_ID.sub("", name or "").strip() or None)

    created = when(ticket.date_creation) or when(ticket.date) or when(ticket.date_mod)
    if created is None:
        raise ValueError(f"GLPI ticket #{ticket.id} has no creation date")
    assigned_users = [row.users_id for row in sorted(users, key=lambda r: r.id) if row.type == ASSIGNED]
    assigned_groups = [row.groups_id for row in sorted(groups, key=lambda r: r.id) if row.type == ASSIGNED]
    events: list[_Event] = []
    events += _log_events(logs, when, actor, scales, login_of, group_of, category_of, assigned_users, assigned_groups)

    initial, _ = read_block(ticket.content)
    known = {key: _stored(key, value) for key, value in initial.items()}
    fields: dict[str, Any] = dict(initial)
    notes = [(row, 0) for row in followups] + [(row, 1) for row in solutions]
    for row, _ in sorted(notes, key=lambda n: (when(n[0].date or n[0].date_creation) or created, n[1], n[0].id)):
        at = when(row.date or row.date_creation) or created
        who = login_of(row.users_id) if row.users_id else None
        values, text = read_block(row.content)
        for key, value in values.items():
            if key in _NATIVE:
                continue
            new = _stored(key, value)
            if new != known.get(key):
                events.append(
                    _Event(
                        Change(at=at, actor=who, kind=ChangeKind.FIELD, old=known.get(key), new=new, field=key),
                        (at, 2, row.id),
                    )
                )
                known[key] = new
            fields[key] = value
        if text:
            events.append(_Event(Change(at=at, actor=who, kind=ChangeKind.NOTE, new=text), (at, 3, row.id)))

    status = scales.status_of(ticket.status)
    assignee = login_of(assigned_users[-1]) if assigned_users else None
    group = group_of(assigned_groups[-1]) if assigned_groups else None
    native = _native(ticket, scales, category_of, zone)
    if "registered_at" in fields:  # the connector's own registration time wins over GLPI's opening date
        native.pop("registered_at", None)
    fields.update(native)
    fields.update({"status": status, "assignee": assignee, "assignment_group": group})
    return TicketHistory(
        ticket_id=str(ticket.id),
        key=key_from_content(ticket.content),
        created_at=created,
        author=login_of(ticket.users_id_recipient) if ticket.users_id_recipient else None,
        status=status,
        assignee=assignee,
        group=group,
        fields=fields,
        changes=tuple(e.change for e in sorted(events, key=lambda e: e.order)),
    )


def _native(
    ticket: TicketItem,
    scales: Scales,
    category_of: Callable[[int], tuple[str, ...] | None],
    zone: ZoneInfo,
) -> dict[str, Any]:
    out: dict[str, Any] = {"title": ticket.name or None}
    for name, value, decode in (
        ("urgency", ticket.urgency, scales.urgency_of),
        ("impact", ticket.impact, scales.impact_of),
        ("priority", ticket.priority, scales.priority_of),
    ):
        mapped = decode(value) if value is not None else None
        if mapped is not None:
            out[name] = mapped
    parts = category_of(ticket.itilcategories_id) if ticket.itilcategories_id else None
    if parts:
        out.update(zip(("category", "area", "subarea"), parts, strict=False))
    for name, text in (("sla_due", ticket.time_to_resolve), ("registered_at", ticket.date)):
        try:
            out[name] = parse_time_glpi(text, zone) if text else None
        except ValueError:
            out[name] = None
    return {k: v for k, v in out.items() if v is not None}


def _log_events(
    logs: Sequence[LogRow],
    when: Callable[[str | None], datetime | None],
    actor: Callable[[str | None], str | None],
    scales: Scales,
    login_of: Callable[[int], str | None],
    group_of: Callable[[int], str | None],
    category_of: Callable[[int], tuple[str, ...] | None],
    current_users: Sequence[int],
    current_groups: Sequence[int],
) -> list[_Event]:
    """The Log's status, field and actor changes."""
    events: list[_Event] = []
    assigned: dict[str, list[int]] = {"User": [], "Group": []}
    names: Mapping[str, Callable[[int], str | None]] = {"User": login_of, "Group": group_of}
    kinds = {"User": ChangeKind.ASSIGNEE, "Group": ChangeKind.GROUP}
    now_assigned = {"User": set(current_users), "Group": set(current_groups)}
    assign_option = {"User": OPT_TECH, "Group": OPT_TECH_GROUP}
    for row in sorted(logs, key=lambda r: r.id):
        at = when(row.date_mod)
        if at is None:
            continue
        made = partial(_append, events, at, actor(row.user_name), row.id)

        link = row.itemtype_link or ""
        if row.linked_action in (ADD_RELATION, DEL_RELATION) and link in assigned:
            ident = user_id(row.new_value if row.linked_action == ADD_RELATION else row.old_value)
            option = row.id_search_option
            if ident is None or option in _NOT_ASSIGNED_OPTIONS:
                continue
            listed = assigned[link]
            if option != assign_option[link] and ident not in now_assigned[link] and ident not in listed:
                continue  # an old row (option 0) about a requester or an observer
            before = listed[-1] if listed else None
            if row.linked_action == ADD_RELATION:
                if ident in listed:
                    listed.remove(ident)
                listed.append(ident)
            elif ident in listed:
                listed.remove(ident)
            after = listed[-1] if listed else None
            if before != after:
                name = names[link]
                made(kinds[link], name(before) if before else None, name(after) if after else None)
        elif row.linked_action == 0:
            _field_change(row, scales, category_of, made)
    return events


def _append(
    events: list[_Event],
    at: datetime,
    who: str | None,
    row_id: int,
    kind: ChangeKind,
    old: str | None,
    new: str | None,
    field: str | None = None,
) -> None:
    events.append(_Event(Change(at=at, actor=who, kind=kind, old=old, new=new, field=field), (at, 1, row_id)))


def _field_change(
    row: LogRow,
    scales: Scales,
    category_of: Callable[[int], tuple[str, ...] | None],
    made: Callable[..., None],
) -> None:
    old, new = row.old_value or "", row.new_value or ""
    option = row.id_search_option
    if option == OPT_STATUS:
        before, after = (_mapped(v, scales.status_of) for v in (old, new))
        if before != after:
            made(ChangeKind.STATUS, before, after)
    elif option in (OPT_URGENCY, OPT_IMPACT, OPT_PRIORITY):
        name, decode = {
            OPT_URGENCY: ("urgency", scales.urgency_of),
            OPT_IMPACT: ("impact", scales.impact_of),
            OPT_PRIORITY: ("priority", scales.priority_of),
        }[option]
        before, after = (_scaled(name, v, decode) for v in (old, new))
        if before != after:
            made(ChangeKind.FIELD, before, after, name)
    elif option == OPT_TITLE and old != new:
        made(ChangeKind.FIELD, old or None, new or None, "title")
    elif option == OPT_CATEGORY:
        before, after = (_category(v, category_of) for v in (old, new))
        if before != after:
            made(ChangeKind.FIELD, before, after, "category")


def _mapped(text: str, status_of: Callable[[int], TicketStatus | None]) -> str | None:
    value = int(text) if text.strip().isdigit() else None
    status = status_of(value) if value is not None else None
    return status.value if status is not None else None


def _scaled(name: str, text: str, decode: Callable[[int], Impact | Urgency | Priority | None]) -> str | None:
    value = int(text) if text.strip().isdigit() else None
    mapped = decode(value) if value is not None else None
    return _stored(name, mapped)


def _category(text: str, category_of: Callable[[int], tuple[str, ...] | None]) -> str | None:
    ident = user_id(text)
    parts = category_of(ident) if ident else None
    return parts[0] if parts else None
