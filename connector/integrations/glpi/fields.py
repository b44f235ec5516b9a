"""Pure translations between the process's values and GLPI's: scales, statuses, dates and the
connector key marker. No I/O.

**The connector key.** GLPI 10 has no column for an external reference on tickets (its
``glpi_tickets`` table has none, glpi-rest.md §11), so the key is written into the ticket's
content as a marker ``[itsm-key:<hex of the key's UTF-8>]``. Hex keeps it findable whatever the
key holds: GLPI stores content HTML-encoded (``<`` as ``&#60;``), its ``contains`` search is a
SQL ``LIKE`` (``%`` and ``_`` are wildcards) and reads ``^``/``$`` as anchors — none of which
can occur in hex. The closing ``]`` makes ``zabbix:1`` not match ``zabbix:12``. The marker is
reversible, so ``changed_since`` reads the key back from the content as well. Only the *last*
marker counts: the connector's block ends the content, and an alert's description before it is
untrusted text that could carry a forged one.

**The operation marker.** A follow-up has no key of its own, so each one the outbox posts ends
with ``[itsm-op:<outbox operation id>-<8 hex digits of its text's SHA-256>]``: after a failure
that may have come after GLPI stored it (a 500, a timeout), the retry looks for that marker
among the ticket's follow-ups before posting again. The digest keeps an operation id that a
new state file reuses from matching an older follow-up with other text.
"""

from __future__ import annotations

__all__ = [
    "NATIVE_FIELDS",
    "Scales",
    "format_time",
    "is_op_marker",
    "key_from_content",
    "key_marker",
    "op_marker",
    "op_marker_of",
    "parse_time_glpi",
]

import html
import re
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
from typing import TypeVar
from zoneinfo import ZoneInfo

from connector.contracts.delivery import is_op_marker, op_marker, op_marker_of
from connector.domain.clock import ensure_utc
from connector.domain.models import Impact, Priority, TicketStatus, Urgency
from connector.integrations.glpi.settings import GlpiSettings

_E = TypeVar("_E", bound=IntEnum)

_MARKER = re.compile(r"\[itsm-key:((?:[0-9a-f]{2})+)\]")
_GLPI_TIME = "%Y-%m-%d %H:%M:%S"

#: ``Ticket`` fields that have a place of their own in a GLPI ticket (when the named dropdown
#: exists there); every other field lives in the content block and in follow-ups
NATIVE_FIELDS = frozenset(
    {
        "title",
        "status",
        "urgency",
        "impact",
        "priority",
        "category",
        "area",
        "subarea",
        "assignment_group",
        "assignee",
        "contact",
        "source",
        "location",
        "sla_due",
    }
)


def key_marker(key: str) -> str:
    """The marker that carries ``key`` in a ticket's content."""
    return f"[itsm-key:{key.encode('utf-8').hex()}]"


def key_from_content(content: str | None) -> str | None:
    """The connector key in a ticket's content (raw or HTML-encoded), if its marker is there."""
    if not content:
        return None
    found = _MARKER.findall(content) or _MARKER.findall(html.unescape(content))
    if not found:
        return None
    try:
        # the last one: the connector's block ends the content, and untrusted text before it
        # (an alert's description) could hold a forged marker
        return bytes.fromhex(found[-1]).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None


def format_time(value: datetime, zone: ZoneInfo) -> str:
    """A datetime as GLPI reads it: ``YYYY-MM-DD HH:MM:SS`` in GLPI's time zone."""
    return ensure_utc(value).astimezone(zone).strftime(_GLPI_TIME)


def parse_time_glpi(text: str, zone: ZoneInfo) -> datetime:
    """A GLPI datetime (its time zone, no offset) as aware UTC; raises ``ValueError``."""
    naive = datetime.strptime(text.strip(), _GLPI_TIME)
    return ensure_utc(naive.replace(tzinfo=zone))


def _reverse(mapping: dict[_E, int]) -> dict[int, _E]:
    """GLPI value -> process value; the first (highest) process value wins a shared GLPI value."""
    out: dict[int, _E] = {}
    for member in sorted(mapping, key=int):
        out.setdefault(mapping[member], member)
    return out


@dataclass(frozen=True)
class Scales:
    """The configured maps, both ways. GLPI runs 1 = very low … 5 = very high; the process
    runs 1 = highest … 4 = lowest."""

    urgency: dict[Urgency, int]
    impact: dict[Impact, int]
    priority: dict[Priority, int]
    status: dict[TicketStatus, int]

    @classmethod
    def of(cls, settings: GlpiSettings) -> Scales:
        """The scales of a validated config section."""
        return cls(
            urgency=dict(settings.urgency_map),
            impact=dict(settings.impact_map),
            priority=dict(settings.priority_map),
            status=dict(settings.status_map),
        )

    def urgency_of(self, value: int) -> Urgency | None:
        """The process urgency of a GLPI urgency; ``None`` for a value no entry maps to."""
        return _reverse(self.urgency).get(value)

    def impact_of(self, value: int) -> Impact | None:
        """The process impact of a GLPI impact."""
        return _reverse(self.impact).get(value)

    def priority_of(self, value: int) -> Priority | None:
        """The process priority of a GLPI priority."""
        return _reverse(self.priority).get(value)

    def status_of(self, value: int) -> TicketStatus | None:
        """The process status of a GLPI status: the first ``status_map`` entry naming it;
        3 (processing, planned) counts as in progress unless the map names it."""
        for status, glpi in self.status.items():
            if glpi == value:
                return status
        return TicketStatus.IN_PROGRESS if value == 3 else None
