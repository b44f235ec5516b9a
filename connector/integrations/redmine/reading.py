"""Pure: a Redmine issue read back as the process sees it — its connector fields decoded, and the
``TicketSnapshot`` the sync-back compares.

An admin or a desk user can put anything in a custom field, so a value that no connector could
have written (several values, text that is not the field's kind) is logged and left out rather
than failing the whole read.
"""

from __future__ import annotations

__all__ = ["connector_key", "decode_fields", "snapshot"]

import logging
from typing import Any

from connector.contracts.adapters import TicketSnapshot
from connector.domain.clock import ensure_utc
from connector.domain.fields import KEY_FIELD, decode, spec_for
from connector.integrations.redmine.ids import RedmineIds
from connector.integrations.redmine.schema import Issue

log = logging.getLogger(__name__)


def connector_key(issue: Issue, ids: RedmineIds) -> str | None:
    """The connector key the issue carries, if any."""
    key = issue.custom_value(ids.key_field)
    return key if isinstance(key, str) and key else None


def snapshot(issue: Issue, ids: RedmineIds, backend: str) -> TicketSnapshot:
    """The issue as ``Backend.changed_since`` yields it."""
    fields = decode_fields(issue, ids, backend)
    priority = next((p for p, pid in ids.priorities.items() if issue.priority and issue.priority.id == pid), None)
    if priority is not None:
        fields["priority"] = priority  # Redmine's own priority field
    return TicketSnapshot(
        ticket_id=str(issue.id),
        key=connector_key(issue, ids),
        status=ids.status_of(issue.status),
        updated_at=ensure_utc(issue.updated_on),
        assignee=issue.assigned_to.name if issue.assigned_to else None,
        fields=fields,
        title=issue.subject,
        description=issue.description or "",
        created_at=ensure_utc(issue.created_on) if issue.created_on else None,
        tracker=issue.tracker.name if issue.tracker else None,
    )


def decode_fields(issue: Issue, ids: RedmineIds, backend: str) -> dict[str, Any]:
    """The decoded connector custom fields of ``issue`` (a value nobody could have written
    is logged and left out)."""
    fields: dict[str, Any] = {}
    for name, field_id in ids.fields.items():
        if name == KEY_FIELD or not issue.has_custom_field(field_id):
            continue
        spec = spec_for(name)
        raw = issue.custom_value(field_id)
        assert spec is not None
        if isinstance(raw, list):
            log.warning("%s: issue #%d: %r is multi-valued; ignored", backend, issue.id, ids.names[name])
            continue
        try:
            fields[name] = decode(spec, raw)
        except ValueError as exc:
            log.warning(
                "%s: issue #%d: %r holds %r, which is not a %s (%s); ignored",
                backend,
                issue.id,
                ids.names[name],
                raw,
                spec.kind.value,
                exc,
            )
    return fields
