"""What the connector last knew of each helpdesk ticket: its last-update time then.

The sync-back lists the tickets changed since its last pass; for each it used to read the
whole history, even when the only change was the connector's own (a create it just made, or
the same ticket listed again by the pass's overlap). This table remembers, per backend and
ticket id, the helpdesk's own last-update time (Redmine ``updated_on``, GLPI ``date_mod``) at
the last moment the connector knew *every* change in the ticket: the answer to its own create,
or the listing a history read followed. A listed ticket still at that time has nothing new,
and its history is not fetched (``connector.runtime.syncback``).

The time is the helpdesk's, compared for equality only, so the clocks of the two machines
never meet. Written as ISO-8601 UTC text like every other time of the state file.
"""

from __future__ import annotations

__all__ = ["SeenTable"]

from datetime import datetime

from connector.domain.clock import ensure_utc
from connector.state.database import Database


class SeenTable(Database):
    """``helpdesk_seen``: a ticket's last-update time as of the connector's full knowledge of it."""

    def helpdesk_seen(self, backend: str, ticket_id: str) -> datetime | None:
        """The last-update time of ``ticket_id`` when the connector last knew all of it, or ``None``."""
        row = self._row(
            "SELECT updated_at FROM helpdesk_seen WHERE backend = ? AND ticket_id = ?", (backend, ticket_id)
        )
        return None if row is None else ensure_utc(datetime.fromisoformat(row["updated_at"]))

    def set_helpdesk_seen(self, backend: str, ticket_id: str, updated_at: datetime) -> None:
        """Remember that every change of ``ticket_id`` up to ``updated_at`` (its last) is known."""
        self._exec(
            "INSERT INTO helpdesk_seen (backend, ticket_id, updated_at) VALUES (?, ?, ?)"
            " ON CONFLICT (backend, ticket_id) DO UPDATE SET updated_at = excluded.updated_at",
            (backend, ticket_id, ensure_utc(updated_at).isoformat()),
        )
