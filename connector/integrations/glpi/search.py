"""Reading tickets through GLPI's ``search/Ticket``: the connector's ticket by key, and what
changed since a time (the sync-back's ``changed_since``).

Search answers are rows keyed by search-option id (glpi-rest.md §8) whose values come as
numbers, numeric text, lists or nothing; ``as_int`` and ``as_text`` read them. Every listing
is sorted by id: a ticket updated while the pages are read would move to the end of a
last-update order and shift the next page, skipping one; with ids an update can only add a
ticket (seen twice, yielded once).
"""

from __future__ import annotations

__all__ = ["TicketSearch", "as_int", "as_text"]

import html
import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from connector.contracts.adapters import TicketSnapshot
from connector.domain.clock import ensure_utc
from connector.integrations.glpi.client import GlpiClient
from connector.integrations.glpi.fields import Scales, format_time, key_from_content, key_marker, parse_time_glpi
from connector.integrations.glpi.lookup import Lookups
from connector.integrations.glpi.schema import SearchAnswer

log = logging.getLogger(__name__)

PAGE_SIZE = 100

#: search options of Ticket (glpi-rest.md §8) read by ``find_by_key`` and ``changed_since``
OPT_ID, OPT_STATUS, OPT_PRIORITY, OPT_URGENCY, OPT_IMPACT = "2", "12", "3", "10", "11"
OPT_CATEGORY, OPT_UPDATED, OPT_TTR, OPT_CONTENT, OPT_TECH, OPT_TECH_GROUP = "7", "19", "18", "21", "5", "8"
OPT_TITLE, OPT_OPENED, OPT_TYPE = "1", "15", "14"  # what adoption reads of a ticket people made
OPT_ENTITY = "80"  # the entity's complete name: adoption's skip_entities
_DISPLAY = (
    *(OPT_ID, OPT_STATUS, OPT_PRIORITY, OPT_URGENCY, OPT_IMPACT, OPT_CATEGORY),
    *(OPT_UPDATED, OPT_TTR, OPT_CONTENT, OPT_TECH, OPT_TECH_GROUP, OPT_TITLE, OPT_OPENED, OPT_TYPE, OPT_ENTITY),
)
#: GLPI's ticket types (``type``), as adoption's ``skip_trackers`` names them
_TYPES = {1: "incident", 2: "request"}


def _plain(content: str | None) -> str:
    """A ticket's content (GLPI keeps HTML, itself escaped) as plain text, for adoption: tags
    out, entities decoded, paragraphs on their own lines."""
    if not content:
        return ""
    text = html.unescape(html.unescape(content))
    text = re.sub(r"(?i)<br\s*/?>|</p>", "\n", text)
    return html.unescape(re.sub(r"<[^>]*>", "", text)).strip()


def as_int(value: Any) -> int | None:
    """A search column as an int (GLPI sends numbers, sometimes as text); ``None`` otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def as_text(value: Any) -> str | None:
    """A search column as text: the first of several values, ``None`` when empty."""
    if isinstance(value, list):
        value = next((v for v in value if v not in (None, "")), None)
    if value is None or value == "":
        return None
    return str(value)


class TicketSearch:
    """``search/Ticket`` for one backend: its client, scales, time zone and lookups."""

    def __init__(self, client: GlpiClient, scales: Scales, zone: ZoneInfo, lookups: Lookups, backend: str) -> None:
        self._client = client
        self._scales = scales
        self._zone = zone
        self._lookups = lookups
        self._backend = backend

    def by_key(self, key: str) -> list[int]:
        """The ids of the tickets whose content carries the marker of ``key``, in any status,
        lowest first. Each row's content is checked again, so a lenient search can only miss."""
        params: list[tuple[str, str | int]] = [
            ("criteria[0][field]", int(OPT_CONTENT)),
            ("criteria[0][searchtype]", "contains"),
            ("criteria[0][value]", key_marker(key)),
            ("criteria[1][link]", "AND"),
            ("criteria[1][field]", int(OPT_STATUS)),
            ("criteria[1][searchtype]", "equals"),
            ("criteria[1][value]", "all"),
            ("forcedisplay[0]", int(OPT_ID)),
            ("forcedisplay[1]", int(OPT_CONTENT)),
        ]
        return sorted(
            ticket_id
            for row in self._rows(params)
            if (ticket_id := as_int(row.get(OPT_ID))) is not None
            and key_from_content(as_text(row.get(OPT_CONTENT))) == key
        )

    def changed_since(self, since: datetime) -> Iterator[TicketSnapshot]:
        """Every ticket (any status) GLPI changed at or after ``since`` (whole seconds)."""
        floor = ensure_utc(since).replace(microsecond=0)
        # "morethan" is strict and GLPI's dates have whole seconds: > floor - 1s is >= floor
        after = format_time(floor - timedelta(seconds=1), self._zone)
        params: list[tuple[str, str | int]] = [
            ("criteria[0][field]", int(OPT_UPDATED)),
            ("criteria[0][searchtype]", "morethan"),
            ("criteria[0][value]", after),
            ("criteria[1][link]", "AND"),
            ("criteria[1][field]", int(OPT_STATUS)),
            ("criteria[1][searchtype]", "equals"),
            ("criteria[1][value]", "all"),
        ]
        params += [(f"forcedisplay[{i}]", int(option)) for i, option in enumerate(_DISPLAY)]
        seen: set[int] = set()
        sorted_params = [*params, ("sort", int(OPT_ID)), ("order", "ASC")]
        for page in self._client.pages("search/Ticket", SearchAnswer, sorted_params, PAGE_SIZE):
            for row in page.items.data:
                snapshot = self._snapshot(row)
                if snapshot is None or int(snapshot.ticket_id) in seen or snapshot.updated_at < floor:
                    continue
                seen.add(int(snapshot.ticket_id))
                # with GLPI's clock when it listed it: the sync-back then reads its history once
                yield replace(snapshot, listed_at=page.answered_at)

    def time(self, text: str, tid: int) -> datetime | None:
        """A GLPI date of ticket ``tid``; ``None`` (logged) for one that is not a date."""
        try:
            return parse_time_glpi(text, self._zone)
        except ValueError:
            log.warning("%s: ticket #%d: %r is not a GLPI date; ignored", self._backend, tid, text)
            return None

    def _rows(self, params: list[tuple[str, str | int]]) -> Iterator[dict[str, Any]]:
        """Every row of a ``search/Ticket`` in id order, all pages."""
        sorted_params = [*params, ("sort", int(OPT_ID)), ("order", "ASC")]
        for page in self._client.pages("search/Ticket", SearchAnswer, sorted_params, PAGE_SIZE):
            yield from page.items.data

    def _snapshot(self, row: Mapping[str, Any]) -> TicketSnapshot | None:
        tid = as_int(row.get(OPT_ID))
        updated = as_text(row.get(OPT_UPDATED))
        if tid is None or updated is None:
            log.warning("%s: a search row without id or last update was skipped: %r", self._backend, dict(row))
            return None
        scales = self._scales
        fields: dict[str, Any] = {}
        for option, name, decode in (
            (OPT_URGENCY, "urgency", scales.urgency_of),
            (OPT_IMPACT, "impact", scales.impact_of),
            (OPT_PRIORITY, "priority", scales.priority_of),
        ):
            value = as_int(row.get(option))
            mapped = decode(value) if value is not None else None
            if mapped is not None:
                fields[name] = mapped
        due = as_text(row.get(OPT_TTR))
        fields["sla_due"] = self.time(due, tid) if due else None
        category = as_text(row.get(OPT_CATEGORY))
        parts = self._lookups.category_parts(category) if category else None
        if parts:
            fields.update(zip(("category", "area", "subarea"), parts, strict=False))
        group = as_text(row.get(OPT_TECH_GROUP))
        fields["assignment_group"] = self._lookups.group_name(group) if group else None
        status = as_int(row.get(OPT_STATUS))
        updated_at = self.time(updated, tid)
        if updated_at is None:
            return None
        content = as_text(row.get(OPT_CONTENT))
        opened = as_text(row.get(OPT_OPENED))
        kind = as_int(row.get(OPT_TYPE))
        return TicketSnapshot(
            ticket_id=str(tid),
            key=key_from_content(content),
            status=scales.status_of(status) if status is not None else None,
            updated_at=updated_at,
            assignee=as_text(row.get(OPT_TECH)),
            fields=fields,
            title=html.unescape(as_text(row.get(OPT_TITLE)) or "") or None,
            description=_plain(content),
            created_at=self.time(opened, tid) if opened else None,
            tracker=_TYPES.get(kind) if kind is not None else None,
            entity=html.unescape(as_text(row.get(OPT_ENTITY)) or "") or None,
        )
