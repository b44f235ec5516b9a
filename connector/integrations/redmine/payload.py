"""Pure: the bodies of the two issue writes, a create and a change, from the connector's ``Ticket``
fields and this Redmine's ids.

A field goes where this Redmine can hold it: title, description, status and priority in the
issue's own attributes, the rest of the catalogue in the connector's custom fields. A change
that has no place here (no custom field in this Redmine, or no Redmine equivalent, such as
``assignee`` or ``rule``) is handed back so the note can carry it: no change is lost.
"""

from __future__ import annotations

__all__ = ["UNCHANGEABLE", "change_payload", "create_payload", "ignored_writes"]

from collections.abc import Mapping
from typing import Any

from connector.domain.fields import KEY_FIELD, encode, spec_for
from connector.domain.models import Priority, Ticket, TicketStatus
from connector.integrations.redmine.ids import RedmineIds
from connector.integrations.redmine.render import literal_block, render_description
from connector.integrations.redmine.schema import Issue
from connector.integrations.redmine.settings import RedmineSettings
from connector.integrations.redmine.values import subject

#: fields whose change would break the link between the connector and the issue
UNCHANGEABLE = frozenset({"ticket_id", KEY_FIELD})
_OWN_ATTRIBUTES = ("title", "description", "status", "priority")


def create_payload(ticket: Ticket, ids: RedmineIds, settings: RedmineSettings) -> tuple[dict[str, Any], dict[int, str]]:
    """The ``issue`` of ``POST /issues.json``, and the custom field values it writes (by field
    id), so the answer can be checked against them."""
    written: dict[int, str] = {}
    for key, field_id in ids.fields.items():
        spec = spec_for(key)
        assert spec is not None
        written[field_id] = encode(spec, getattr(ticket, key))
    issue: dict[str, Any] = {
        "project_id": ids.project_id,
        "tracker_id": ids.tracker_id,
        "status_id": ids.statuses[ticket.status].id,
        "priority_id": ids.priorities[ticket.priority],
        "subject": subject(ticket.title),
        "description": render_description(ticket, settings.text_formatting),
        "custom_fields": [{"id": field_id, "value": value} for field_id, value in written.items()],
    }
    return issue, written


def ignored_writes(
    ticket: Ticket, stored: Issue, written: Mapping[int, str], ids: RedmineIds, tracker: str
) -> list[tuple[list[str], str]]:
    """What Redmine did not store as asked on a new issue — custom fields, the tracker, the
    status — as (names, message with ``%s`` for them): each is worth one warning per name."""
    ignored: list[tuple[list[str], str]] = []
    dropped = sorted(
        ids.names.get(key, key)
        for key, field_id in ids.fields.items()
        if written.get(field_id) and stored.custom_value(field_id) != written[field_id]
    )
    ignored.append(
        (
            dropped,
            f"issue #{stored.id}: Redmine did not store custom fields %s "
            "(not enabled for this tracker/project, or not editable by the API user)",
        )
    )
    if stored.tracker is not None and stored.tracker.id != ids.tracker_id:
        ignored.append(
            ([f"tracker:{stored.tracker.name}"], f"issue #{stored.id}: Redmine used tracker %s instead of {tracker!r}")
        )
    wanted = ids.statuses[ticket.status]
    if stored.status is not None and stored.status.id != wanted.id:
        ignored.append(
            (
                [f"status:{stored.status.name}"],
                f"issue #{stored.id}: Redmine set status %s instead of {wanted.name!r} (workflow)",
            )
        )
    return ignored


def change_payload(
    changes: Mapping[str, Any], ids: RedmineIds, settings: RedmineSettings
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The PUT body for ``changes``, and the changes that only a note can carry.

    Raises ``ValueError`` for a name that is not a ``Ticket`` field, or for ``ticket_id``/``key``.
    """
    issue: dict[str, Any] = {}
    custom: list[dict[str, Any]] = []
    extra: dict[str, Any] = {}
    for key, value in changes.items():
        if key not in Ticket.model_fields:
            raise ValueError(f"not a Ticket field: {key!r}")
        if key in UNCHANGEABLE:
            raise ValueError(f"{key!r} identifies the ticket and cannot be changed")
        if key == "title":
            issue["subject"] = subject(str(value))
        elif key == "description":
            issue["description"] = literal_block(str(value), settings.text_formatting)
        elif key == "status":
            issue["status_id"] = ids.statuses[TicketStatus(value)].id
        elif key == "priority":
            issue["priority_id"] = ids.priorities[Priority(value)]
        spec = spec_for(key)
        if spec is not None and key in ids.fields:
            custom.append({"id": ids.fields[key], "value": encode(spec, value)})
        elif spec is not None and settings.field_names()[key] is None:
            continue  # switched off by the config
        elif key not in _OWN_ATTRIBUTES:
            extra[key] = value
    if custom:
        issue["custom_fields"] = custom
    return issue, extra
