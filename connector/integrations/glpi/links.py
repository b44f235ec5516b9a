"""GLPI ``Ticket_Ticket`` links: duplicates, relations, and the one turn PROCESS §9 needs.

A duplicate is linked to its master as "duplicates" (2), so GLPI solves the duplicates when
their master is solved. GLPI also does the reverse — solving a *duplicate* solves its master
(``manageLinkedTicketsOnSolved`` walks both sides) — which the process does not want: a
storm's master must not be solved because one repeat recovered. So before a duplicate of an
open master is solved, its link is turned into a plain "linked to" (1)
(``detach_from_open_masters``).

Adding a link is safe to repeat: GLPI refuses a second link for a pair with
``400 ERROR_GLPI_ADD``, and only then are the pair's links read and compared — the link asked
for counts as done (a retry after a 500 that came after the commit), a link of another type is
still a refusal. Turning a link is a PUT of one value, the same on every try.
"""

from __future__ import annotations

__all__ = ["DUPLICATES", "LINKED_TO", "Links"]

import logging

from connector.contracts.adapters import Relation
from connector.domain.errors import BackendRejected
from connector.integrations.glpi.client import GlpiClient, GlpiRejected
from connector.integrations.glpi.lookup import iterate
from connector.integrations.glpi.schema import Created, LinkRow, TicketItem
from connector.integrations.glpi.writes import Writes, is_missing_right

log = logging.getLogger(__name__)

#: Ticket_Ticket link types (glpi-rest.md §6)
LINKED_TO = 1
DUPLICATES = 2
_LINKS = {Relation.DUPLICATES: DUPLICATES, Relation.RELATES: LINKED_TO}
SOLVED, CLOSED = 5, 6


class Links:
    """The links of the backend's tickets, over its client."""

    def __init__(self, client: GlpiClient, writes: Writes, backend: str) -> None:
        self._client = client
        self._writes = writes
        self._backend = backend

    def add(self, tid: int, other: int, relation: Relation) -> None:
        """Link the tickets; a link that already exists counts as done."""
        operation = "POST Ticket_Ticket/"
        if tid == other:
            raise BackendRejected(
                f"ticket #{tid} cannot be linked to itself", backend=self._backend, operation=operation
            )
        link = _LINKS[relation]
        try:
            self._client.post(
                "Ticket_Ticket/", {"input": {"tickets_id_1": tid, "tickets_id_2": other, "link": link}}, Created
            )
        except GlpiRejected as exc:
            if exc.code != "ERROR_GLPI_ADD":
                raise
            if any(_same(row, tid, other, link) for row in self.between(tid, other)):
                log.debug("%s: #%d %s #%d already exists", self._backend, tid, relation.value, other)
                return
            if is_missing_right(exc):
                raise self._writes.refusal(exc, "Ticket_Ticket", (tid, other)) from exc
            raise

    def of(self, tid: int, side: str) -> list[LinkRow]:
        """The links with ``tid`` as ``tickets_id_1`` or ``tickets_id_2`` (not ``Ticket/<id>/
        Ticket_Ticket``, which GLPI does not filter by ticket)."""
        rows = iterate(self._client, "Ticket_Ticket/", list[LinkRow], {f"searchText[{side}]": f"^{tid}$"})
        return [row for row in rows if getattr(row, side) == tid]

    def between(self, tid: int, other: int) -> list[LinkRow]:
        """The links joining the two tickets, either way round."""
        return [row for row in self.of(tid, "tickets_id_1") if row.tickets_id_2 == other] + [
            row for row in self.of(other, "tickets_id_1") if row.tickets_id_2 == tid
        ]

    def detach_from_open_masters(self, tid: int) -> list[int]:
        """Turn each "duplicates" link from ``tid`` to an open master into "linked to"; returns
        those masters."""
        masters = []
        for row in self.of(tid, "tickets_id_1"):
            if row.link != DUPLICATES:
                continue
            if self._client.get(f"Ticket/{row.tickets_id_2}", TicketItem).status in (SOLVED, CLOSED):
                continue
            self._client.put(f"Ticket_Ticket/{row.id}", {"input": {"id": row.id, "link": LINKED_TO}})
            log.info(
                "%s: #%d is solved before its master #%d: link %d is now 'linked to' so the master stays open",
                self._backend,
                tid,
                row.tickets_id_2,
                row.id,
            )
            masters.append(row.tickets_id_2)
        return masters


def _same(row: LinkRow, tid: int, other: int, link: int) -> bool:
    """Whether ``row`` is the link asked for: "duplicates" is directed, "linked to" is not."""
    if row.link != link:
        return False
    if link == DUPLICATES:
        return row.tickets_id_1 == tid and row.tickets_id_2 == other
    return {row.tickets_id_1, row.tickets_id_2} == {tid, other}
