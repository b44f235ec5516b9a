"""GLPI problem records and change links (issue 13): a ``Problem`` linked to its incidents with
``Problem_Ticket``, and the ``Change_Ticket`` links people make from a change to an incident.

Every create is safe to repeat (a 500 after GLPI committed, a reset, a timeout):

* ``POST Problem/`` — the content ends with the connector key marker (``[itsm-key:<hex>]``, as
  a ticket's does); ``find`` lists the problems whose content contains it
  (``searchText[content]``) and keeps one whose *last* marker is the key;
* ``POST Problem_Ticket/`` — GLPI refuses a second link of the same pair (``ERROR_GLPI_ADD``:
  ``prepareInputForAdd`` finds the existing row); the pair's rows are then read and an equal
  one counts as done;
* a note on the problem is an ``ITILFollowup`` of itemtype ``Problem`` carrying the outbox
  operation's marker, looked up on a retry (``Writes.followup``).

Changes: one paged listing of ``Change_Ticket`` per sync-back pass, filtered here to the open
incidents, then ``GET Change/<id>`` for each change so found (its title and status). A change
is closed in one of ``Change::getClosedStatusArray()``'s statuses: closed (6), refused (13),
cancelled (14).
"""

from __future__ import annotations

__all__ = ["CHANGE_CLOSED_STATUSES", "GlpiProblems"]

import html
import logging
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from connector.domain.links import ChangeLink, ProblemRecord
from connector.integrations.glpi.client import GlpiClient, GlpiRejected
from connector.integrations.glpi.fields import key_from_content, key_marker
from connector.integrations.glpi.lookup import iterate
from connector.integrations.glpi.render import html_text, ticket_name
from connector.integrations.glpi.writes import Writes, is_missing_right

log = logging.getLogger(__name__)

#: ``Change::getClosedStatusArray()`` (GLPI 10): closed, refused, cancelled
CHANGE_CLOSED_STATUSES = frozenset({6, 13, 14})


class _Row(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class ProblemRow(_Row):
    """A ``Problem`` as listed: its id and content (HTML, with the key marker at the end)."""

    id: int
    content: str | None = None


class ProblemTicketRow(_Row):
    """A ``Problem_Ticket`` row."""

    id: int
    problems_id: int
    tickets_id: int


class ChangeTicketRow(_Row):
    """A ``Change_Ticket`` row."""

    id: int
    changes_id: int
    tickets_id: int


class ChangeItem(_Row):
    """``GET Change/<id>``: what is read of a change."""

    id: int
    name: str | None = None
    status: int


class GlpiProblems:
    """Problems and change links over the backend's client."""

    def __init__(self, client: GlpiClient, writes: Writes, backend: str, entity: int | None) -> None:
        self._client = client
        self._writes = writes
        self._backend = backend
        self._entity = entity

    def find(self, key: str) -> int | None:
        """The problem whose content carries the marker of ``key`` (the lowest id)."""
        marker = key_marker(key)
        rows = iterate(self._client, "Problem/", list[ProblemRow], {"searchText[content]": marker, "is_deleted": 0})
        found = [row.id for row in rows if key_from_content(row.content) == key]
        return min(found) if found else None

    def create(self, problem: ProblemRecord) -> int:
        """``POST Problem/``: the record's title, its text and the key marker."""
        content = html_text(problem.description) + "<p>" + html.escape(key_marker(problem.key)) + "</p>"
        item: dict[str, object] = {"name": ticket_name(problem.title), "content": content}
        if self._entity is not None:
            item["entities_id"] = self._entity
        return self._writes.post("Problem", {"input": item}).id

    def link(self, problem_id: int, ticket_id: int) -> None:
        """``POST Problem_Ticket/``; a link that exists already counts as done."""
        try:
            self._writes.post("Problem_Ticket", {"input": {"problems_id": problem_id, "tickets_id": ticket_id}})
        except GlpiRejected as exc:
            if exc.code != "ERROR_GLPI_ADD" or is_missing_right(exc):
                raise
            if not any(row.problems_id == problem_id for row in self._links_of(ticket_id)):
                raise
            log.debug("%s: ticket #%d is linked to problem #%d already", self._backend, ticket_id, problem_id)

    def note(self, problem_id: int, text: str) -> None:
        """A follow-up on the problem, once per outbox operation."""
        body = html_text(text)
        if body:
            self._writes.followup(problem_id, body, itemtype="Problem")

    def _links_of(self, ticket_id: int) -> list[ProblemTicketRow]:
        rows = iterate(
            self._client, "Problem_Ticket/", list[ProblemTicketRow], {"searchText[tickets_id]": f"^{ticket_id}$"}
        )
        return [row for row in rows if row.tickets_id == ticket_id]

    # --- changes ---------------------------------------------------------------------------------

    def linked_changes(self, ticket_ids: Sequence[str]) -> list[ChangeLink]:
        """The open changes linked to any of ``ticket_ids``."""
        wanted = {int(t) for t in ticket_ids if t.isdigit()}
        if not wanted:
            return []
        rows = [
            row
            for row in iterate(self._client, "Change_Ticket/", list[ChangeTicketRow], {})
            if row.tickets_id in wanted
        ]
        changes = {change: self._change(change) for change in sorted({row.changes_id for row in rows})}
        return [
            ChangeLink(
                ticket_id=str(row.tickets_id),
                change_id=str(row.changes_id),
                title=html.unescape(changes[row.changes_id].name or ""),
                closed=changes[row.changes_id].status in CHANGE_CLOSED_STATUSES,
            )
            for row in rows
        ]

    def closed_changes(self, change_ids: Sequence[str]) -> set[str]:
        """Which of ``change_ids`` are closed (a change deleted since counts as closed)."""
        closed = set()
        for change in sorted({c for c in change_ids if c.isdigit()}):
            try:
                status = self._change(int(change)).status
            except GlpiRejected as exc:
                if exc.status != 404:
                    raise
                status = next(iter(CHANGE_CLOSED_STATUSES))
            if status in CHANGE_CLOSED_STATUSES:
                closed.add(change)
        return closed

    def _change(self, change_id: int) -> ChangeItem:
        return self._client.get(f"Change/{change_id}", ChangeItem)
