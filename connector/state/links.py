"""The problem and change tables (issue 13): ``problems`` (the problem records the connector
opened, with their root cause and helpdesk id), ``problem_links`` (which problem each incident
joined: at most one, so a restart or a repeat never raises a second) and ``change_links`` (the
changes people linked to incidents, and when each closed). The ``LinkLedger`` of
``connector.domain.links``; ``Store`` holds it beside the ticket map.

Portable SQL only (``?`` placeholders, ``ON CONFLICT … DO NOTHING``, ISO-8601 text compared as
text), so the same statements run on SQLite and PostgreSQL.
"""

from __future__ import annotations

__all__ = ["LinkTables"]

from datetime import datetime

from connector.domain.clock import isoformat
from connector.domain.models import TicketRef
from connector.state.database import Database


class LinkTables(Database):
    """The ``problems``, ``problem_links`` and ``change_links`` tables."""

    def problem_of(self, incident_key: str) -> str | None:
        """The key of the problem the incident is linked to, if any."""
        row = self._row("SELECT problem_key FROM problem_links WHERE incident_key = ?", (incident_key,))
        return str(row["problem_key"]) if row is not None else None

    def problem_for_root(self, root: str, since: datetime) -> str | None:
        """The newest problem of root cause ``root`` opened at or after ``since``."""
        row = self._row(
            "SELECT key FROM problems WHERE root = ? AND opened_at >= ? ORDER BY opened_at DESC, id DESC LIMIT 1",
            (root, isoformat(since)),
        )
        return str(row["key"]) if row is not None else None

    def problem_add(self, key: str, root: str | None, opened_at: datetime) -> None:
        """Remember a problem the connector opens (a second add of the key changes nothing)."""
        self._exec(
            "INSERT INTO problems (key, root, opened_at) VALUES (?, ?, ?) ON CONFLICT (key) DO NOTHING",
            (key, root, isoformat(opened_at)),
        )

    def problem_link(self, incident_key: str, problem_key: str, at: datetime) -> bool:
        """Link the incident to the problem; ``False`` when it was linked to one already."""
        if self.problem_of(incident_key) is not None:
            return False
        self._exec(
            "INSERT INTO problem_links (incident_key, problem_key, linked_at) VALUES (?, ?, ?)"
            " ON CONFLICT (incident_key) DO NOTHING",
            (incident_key, problem_key, isoformat(at)),
        )
        return True

    def problem_ref(self, key: str) -> TicketRef | None:
        """Where the problem ``key`` is in the helpdesk, once its record was made."""
        row = self._row("SELECT ticket_id, url FROM problems WHERE key = ? AND ticket_id IS NOT NULL", (key,))
        return TicketRef(ticket_id=str(row["ticket_id"]), url=str(row["url"] or "")) if row is not None else None

    def problem_set_ref(self, key: str, ticket_id: str, url: str) -> None:
        """Remember the helpdesk id of the problem record ``key``."""
        self._exec("UPDATE problems SET ticket_id = ?, url = ? WHERE key = ?", (ticket_id, url, key))

    def change_link_add(self, incident_key: str, change_id: str, at: datetime) -> bool:
        """Remember a change linked to the incident; ``False`` when it was known."""
        known = self._row(
            "SELECT id FROM change_links WHERE incident_key = ? AND change_id = ?", (incident_key, change_id)
        )
        if known is not None:
            return False
        self._exec(
            "INSERT INTO change_links (incident_key, change_id, linked_at) VALUES (?, ?, ?)"
            " ON CONFLICT (incident_key, change_id) DO NOTHING",
            (incident_key, change_id, isoformat(at)),
        )
        return True

    def open_change_links(self) -> list[tuple[str, str]]:
        """``(incident key, change id)`` of every linked change not closed yet, oldest first."""
        rows = self._rows("SELECT incident_key, change_id FROM change_links WHERE closed_at IS NULL ORDER BY id")
        return [(str(row["incident_key"]), str(row["change_id"])) for row in rows]

    def change_link_close(self, incident_key: str, change_id: str, at: datetime) -> None:
        """Remember that the change closed."""
        self._exec(
            "UPDATE change_links SET closed_at = ? WHERE incident_key = ? AND change_id = ? AND closed_at IS NULL",
            (isoformat(at), incident_key, change_id),
        )
