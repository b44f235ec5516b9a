"""What a ticket, or a change of one, becomes in GLPI's input: its own columns through the
scales, the dropdown ids looked up by name, and what only words can carry.

A dropdown value GLPI has no item for stays in the content block (a create) or the follow-up
(a change), and so does one whose lookup **failed** — GLPI refused the listing (a 4xx other
than a missing right, which ``Lookups`` already treats as "not found") or answered something
that cannot be read. Such a lookup is optional: the ticket is still written, without that id,
and says which lookup failed (a paragraph of the content, a line of the follow-up), so the desk
sets it by hand. A GLPI that cannot be reached (timeout, 5xx) still fails the operation: the
write would fail too, and the outbox retries it whole.
"""

from __future__ import annotations

__all__ = ["TicketInputs"]

import logging
from collections.abc import Callable, Mapping
from typing import Any
from zoneinfo import ZoneInfo

from connector.domain.errors import BackendRejected
from connector.domain.models import Impact, Priority, Ticket, TicketSource, TicketStatus, Urgency
from connector.integrations.glpi.client import GlpiUnavailable
from connector.integrations.glpi.fields import NATIVE_FIELDS, Scales, format_time
from connector.integrations.glpi.lookup import Lookups
from connector.integrations.glpi.render import ticket_name
from connector.integrations.glpi.settings import GlpiSettings
from connector.rules.sla import SlaPolicy, response_deadline

log = logging.getLogger(__name__)

_CATEGORY_LEVELS = ("category", "area", "subarea")
# fields whose change would break the link between the connector and the ticket
_UNCHANGEABLE = {"ticket_id", "key"}


class TicketInputs:
    """Builds the ``input`` of ``POST Ticket/`` and ``PUT Ticket/<id>`` for one backend."""

    def __init__(
        self, settings: GlpiSettings, scales: Scales, zone: ZoneInfo, lookups: Lookups, backend: str, sla: SlaPolicy
    ) -> None:
        self._settings = settings
        self._scales = scales
        self._zone = zone
        self._lookups = lookups
        self._backend = backend
        self._sla = sla

    def create(self, ticket: Ticket) -> tuple[dict[str, Any], list[str]]:
        """The create input (without the content, which the caller renders) and the notes of
        the lookups that failed."""
        scales, settings = self._scales, self._settings
        item: dict[str, Any] = {
            "name": ticket_name(ticket.title),
            "type": settings.glpi_ticket_type,
            "urgency": scales.urgency[ticket.urgency],
            "impact": scales.impact[ticket.impact],
            "priority": scales.priority[ticket.priority],
        }
        if ticket.status is not TicketStatus.OPEN:
            item["status"] = scales.status[ticket.status]
        if settings.entity is not None:
            item["entities_id"] = settings.entity
        if ticket.registered_at is not None:
            item["date"] = format_time(ticket.registered_at, self._zone)
        if settings.sla_dates:
            if ticket.sla_due is not None:
                item["time_to_resolve"] = format_time(ticket.sla_due, self._zone)
            if ticket.registered_at is not None:
                due = response_deadline(ticket.priority, self._sla, ticket.registered_at)
                item["time_to_own"] = format_time(due, self._zone)
        ids, _, failed = self.dropdowns(ticket.model_dump())  # what GLPI lacks stays in the content block
        item.update(ids)
        return item, failed

    def change(self, changes: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
        """The PUT input for ``changes``, the changes only a follow-up can carry, and the notes
        of the lookups that failed.

        Raises ``ValueError`` for a name that is not a ``Ticket`` field, or for
        ``ticket_id``/``key``.
        """
        item: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key in changes:
            if key not in Ticket.model_fields:
                raise ValueError(f"not a Ticket field: {key!r}")
            if key in _UNCHANGEABLE:
                raise ValueError(f"{key!r} identifies the ticket and cannot be changed")
        scales = self._scales
        for key, value in changes.items():
            if value is None or key not in NATIVE_FIELDS:
                extra[key] = value
            elif key == "title":
                item["name"] = ticket_name(str(value))
            elif key == "status":
                item["status"] = scales.status[TicketStatus(value)]
            elif key == "urgency":
                item["urgency"] = scales.urgency[Urgency(value)]
            elif key == "impact":
                item["impact"] = scales.impact[Impact(value)]
            elif key == "priority":
                item["priority"] = scales.priority[Priority(value)]
            elif key == "sla_due":
                if self._settings.sla_dates:
                    item["time_to_resolve"] = format_time(value, self._zone)
                else:
                    extra[key] = value
        ids, unknown, failed = self.dropdowns(changes)
        if changes.get("category") is None:
            # a sub-level without its category names no path: only the follow-up can say it
            unknown.update({name: changes[name] for name in ("area", "subarea") if name in changes})
        extra.update(unknown)
        item.update(ids)
        return item, extra, failed

    def dropdowns(self, values: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
        """The GLPI ids of the named values among ``values`` (looked up once), the values GLPI
        has no item for (they can only be said in words), and a note per lookup that failed."""
        ids: dict[str, Any] = {}
        unknown: dict[str, Any] = {}
        failed: list[str] = []
        lookups = self._lookups

        def put(glpi_field: str, names: tuple[str, ...], what: str, lookup: Callable[[], int | None]) -> None:
            ident = self._attempt(what, lookup, failed)
            if ident is not None:
                ids[glpi_field] = ident
            else:
                unknown.update({name: values[name] for name in names if values.get(name) is not None})

        if values.get("category") is not None:
            parts = tuple(str(values[name]) for name in _CATEGORY_LEVELS if values.get(name) is not None)
            what = f"category {' > '.join(parts)!r}"
            put("itilcategories_id", _CATEGORY_LEVELS, what, lambda: lookups.category(parts))
        if values.get("source") is not None:
            source = TicketSource(values["source"])
            what = f"request source of {source.value!r}"
            put("requesttypes_id", ("source",), what, lambda: lookups.request_type(source))
        if location := values.get("location"):
            put("locations_id", ("location",), f"location {location!r}", lambda: lookups.location(str(location)))
        if group := values.get("assignment_group"):
            put("_groups_id_assign", ("assignment_group",), f"group {group!r}", lambda: lookups.group(str(group)))
        if assignee := values.get("assignee"):
            what = f"assignee {assignee!r}"
            put("_users_id_assign", ("assignee",), what, lambda: lookups.user(str(assignee), "assignee"))
        if contact := values.get("contact"):
            what = f"contact {contact!r}"
            put("_users_id_requester", ("contact",), what, lambda: lookups.user(str(contact), "contact"))
        return ids, unknown, failed

    def _attempt(self, what: str, lookup: Callable[[], int | None], failed: list[str]) -> int | None:
        """``lookup()``, or ``None`` with a note in ``failed`` when GLPI refused it or gave an
        answer that cannot be read; an unreachable GLPI still raises."""
        try:
            return lookup()
        except BackendRejected as exc:
            reason = str(exc)
        except GlpiUnavailable as exc:
            if exc.status is None or not 200 <= exc.status < 300:
                raise  # not reachable now: the write would fail too, the outbox retries it
            reason = str(exc)
        log.warning("%s: the lookup of the %s failed, written without it: %s", self._backend, what, reason)
        failed.append(
            f"The connector could not look up the {what} in GLPI ({reason}); the ticket was written "
            f"without it: set it by hand. 连接器未能在 GLPI 中查到该值，请手工填写。"
        )
        return None
