"""Whether a journal note the outbox wrote is on an issue already: the retry's lookup.

Redmine has no idempotency key for a PUT, and a PUT it committed can still fail its answer (a
500 from a plugin after the commit, a proxy timeout, a reset): the outbox then retries, and
the note would appear twice. The backend ends each note it writes for the outbox with the
operation marker (``contracts.delivery.op_marker``); on a retry it asks here first. One GET of
the issue with its journals: Redmine lists them oldest first and has no paging for them, so
the newest are checked first only to stop early.

A note the API user cannot read back (a private note without *View private notes*) would not
be found and be written again; the connector writes public notes, and Redmine shows a user
their own private notes anyway.
"""

from __future__ import annotations

__all__ = ["has_note_marker", "marked"]

import logging

from connector.contracts.delivery import current, last_line_marker, op_marker
from connector.integrations.redmine.client import RedmineClient
from connector.integrations.redmine.schema import IssueEnvelope

log = logging.getLogger(__name__)


def marked(client: RedmineClient, number: int, notes: str, *, backend: str) -> str | None:
    """``notes`` ending with the outbox operation's marker on a line of its own, or ``None``
    when this is a retry and a journal of issue ``number`` carries that marker already (the
    first try landed: write nothing).

    Outside the outbox (no delivery) the notes go out as they are. A first try costs nothing
    more; only a retry reads the journals (one GET).
    """
    delivery = current()
    if delivery is None:
        return notes
    marker = op_marker(delivery.op_id, notes)
    if delivery.retry and has_note_marker(client, number, marker):
        log.info("%s: the note of outbox #%d is on #%d already; not written again", backend, delivery.op_id, number)
        return None
    return notes + "\n\n" + marker


def has_note_marker(client: RedmineClient, number: int, marker: str) -> bool:
    """Whether a journal note of issue ``number`` ends with ``marker`` as its own line."""
    issue = client.get(f"/issues/{number}.json", IssueEnvelope, {"include": "journals"}).issue
    return any(last_line_marker(journal.notes) == marker for journal in reversed(issue.journals or []))
