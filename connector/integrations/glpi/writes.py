"""The POSTs the GLPI backend makes: what a refusal means, and follow-ups safe to repeat.

**A missing right is not a bad ticket.** GLPI checks the profile's right to add an item
before anything else and, for one item, answers ``400 ["ERROR_GLPI_ADD", "You don't have
permission to perform this action."]`` — the same code as a refusal of this one ticket (a
mandatory field, a refused file type). Dead-lettering it would lose every write until an admin
noticed; docs/glpi.md promises the work waits instead. So an ``ERROR_GLPI_ADD`` carrying GLPI's
permission message becomes ``GlpiRightMissing``, a ``BackendUnavailable`` the outbox retries
with backoff, logged as "the connector's GLPI profile lacks the right to …". GLPI gives the
same answer for a write a *closed* ticket no longer takes (a follow-up, a solution, a link),
which no right can fix: the ticket's status is read first (only on such a refusal), and a
closed ticket's refusal stays a ``GlpiRejected``.

GLPI translates the message into the connector user's language; the English text is
recognised (``PERMISSION_MESSAGES``), so run the connector's GLPI user in English
(docs/glpi.md).

**Follow-ups.** GLPI has no idempotency key, and a POST it committed can still fail its answer
(a 500 from a plugin hook after the commit, a timeout): the retry would post the note twice.
Each follow-up the outbox posts therefore ends with the operation marker
(``fields.op_marker``: the outbox operation id and a digest of the text), and a retry — an
operation the engine marked *sent* before (``contracts.delivery``) — first reads the ticket's
follow-ups, newest first, and posts only if the marker is not there. A first attempt costs one
call, as before.
"""

from __future__ import annotations

__all__ = ["PERMISSION_MESSAGES", "GlpiRightMissing", "Writes", "is_missing_right"]

import html
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from connector.contracts.delivery import current
from connector.integrations.glpi.client import GlpiClient, GlpiConfigError, GlpiRejected
from connector.integrations.glpi.fields import op_marker, op_marker_of
from connector.integrations.glpi.lookup import iterate
from connector.integrations.glpi.schema import Created, NoteRow, TicketItem

log = logging.getLogger(__name__)

#: GLPI's message for a refused rights check on an add (``API::createItems``), lower case
PERMISSION_MESSAGES = ("you don't have permission to perform this action",)
CLOSED = 6

#: per itemtype: what the connector was doing, and the profile right it needs (as GLPI's
#: profile form names it: Administration › Profiles › <profile>)
_RIGHTS: dict[str, tuple[str, str]] = {
    "Ticket": ("create tickets", "Assistance › Tickets: 'Create'"),
    "ITILFollowup": ("add follow-ups", "Assistance › Followups: 'Add to all tickets'"),
    "ITILSolution": ("solve tickets", "Assistance › Tickets: 'Update' (and the right to solve)"),
    "Ticket_Ticket": ("link tickets", "Assistance › Tickets: 'Update' (on both linked tickets)"),
    "Document": ("add documents", "Management › Documents: 'Create' (and Assistance › Tickets: 'Update')"),
}


class GlpiRightMissing(GlpiConfigError):
    """Raised when GLPI refused an add for a right the connector's profile lacks: an admin
    gives it, and meanwhile the operation waits in the outbox (a ``BackendUnavailable``)."""


def is_missing_right(exc: GlpiRejected) -> bool:
    """Whether GLPI refused an add because of the profile's rights (``ERROR_GLPI_ADD`` with its
    permission message), not because of the item."""
    detail = exc.detail.casefold()
    return exc.code == "ERROR_GLPI_ADD" and any(message in detail for message in PERMISSION_MESSAGES)


class Writes:
    """POSTs with their refusals told apart, and follow-ups that a retry does not double."""

    def __init__(self, client: GlpiClient, *, backend: str, private_followups: bool) -> None:
        self._client = client
        self._backend = backend
        self._private = private_followups

    def post(self, itemtype: str, payload: Mapping[str, Any], tickets: Sequence[int] = ()) -> Created:
        """``POST <itemtype>/``; a refusal for a missing right raises ``GlpiRightMissing`` unless
        one of ``tickets`` (the tickets the write touches) is closed."""
        try:
            return self._client.post(f"{itemtype}/", payload, Created)
        except GlpiRejected as exc:
            refused = self.refusal(exc, itemtype, tickets)
            if refused is exc:
                raise
            raise refused from exc

    def refusal(self, exc: GlpiRejected, itemtype: str, tickets: Sequence[int] = ()) -> GlpiRejected | GlpiRightMissing:
        """What a refused add means: ``exc`` itself, or ``GlpiRightMissing`` when it was the
        profile's right (and no ticket it touches is closed)."""
        if not is_missing_right(exc):
            return exc
        for tid in tickets:
            if self._client.get(f"Ticket/{tid}", TicketItem).status == CLOSED:
                return GlpiRejected(
                    f"{exc.reason}: ticket #{tid} is closed, and GLPI takes no more writes on a closed ticket",
                    backend=self._backend,
                    operation=exc.operation,
                    status=exc.status,
                    code=exc.code,
                    detail=exc.detail,
                )
        action, right = _RIGHTS.get(itemtype, (f"add {itemtype} items", f"the right to create {itemtype}"))
        return GlpiRightMissing(
            f"the connector's GLPI profile lacks the right to {action} ({right}); GLPI answered "
            f"{exc.code} {exc.detail!r}; the work waits in the outbox",
            backend=self._backend,
            operation=exc.operation,
            status=exc.status,
            code=exc.code,
        )

    def followup(self, tid: int, content: str, itemtype: str = "Ticket") -> None:
        """Add a follow-up to ticket ``tid`` (or to another ITIL object: ``itemtype`` Problem)
        — once, even when the outbox retries it."""
        delivery = current()
        if delivery is not None:
            marker = op_marker(delivery.op_id, content)
            if delivery.retry and self._has_followup(tid, marker, itemtype):
                log.info(
                    "%s: the follow-up of outbox #%d is on #%d already; not posted again",
                    self._backend,
                    delivery.op_id,
                    tid,
                )
                return
            content += "<p>" + html.escape(marker) + "</p>"
        # itemtype/items_id are required even on the nested URL (glpi-rest.md §5)
        item = {"itemtype": itemtype, "items_id": tid, "content": content, "is_private": 1 if self._private else 0}
        self.post("ITILFollowup", {"input": item}, (tid,) if itemtype == "Ticket" else ())

    def _has_followup(self, tid: int, marker: str, itemtype: str = "Ticket") -> bool:
        """Whether a follow-up of ``tid`` carries ``marker`` (the newest are read first: a retry
        follows its first try closely)."""
        rows = iterate(self._client, f"{itemtype}/{tid}/ITILFollowup", list[NoteRow], {"sort": "id", "order": "DESC"})
        return any(op_marker_of(row.content) == marker for row in rows)
