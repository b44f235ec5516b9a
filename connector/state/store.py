"""The connector's own state, in one SQLite file (WAL): only what makes it safe.

- ``journal``: every intake event, keyed by (source, event key). An event is journaled before
  it is acknowledged to anyone, and a second arrival of the same key is ignored
  (``connector.state.journal``).
- ``outbox``: helpdesk and source writes still owed, with attempts, next try and last error
  (``connector.state.outbox``).
- ``tickets``: connector key → helpdesk id, fingerprint, status, priority, repeats and the content a
  duplicate or recurrence copies, for correlation (``connector.domain.ledger``); ``aliases``: alerts
  appended to a master by the storm guard; ``steps``: what the clock fired (``connector.state.tickets``).
- ``state_changes``, ``holds``, ``ticket_upstreams`` and the tickets' flapping mark, CI and storm
  key: what flapping, maintenance and cause correlation remember (``connector.state.noise``).
- ``dead_letter``: inputs and operations that cannot be processed, with the reason; ``cursors``:
  how far each source has been read (``connector.state.database``, with the connection itself).
- ``helpdesk_seen``: each helpdesk ticket's last-update time when the connector last knew every
  change in it, so the sync-back reads no history that holds nothing new (``connector.state.seen``).

The helpdesk stays the source of truth for ticket content. Schema changes are numbered
migrations applied in order inside a transaction (``connector.state.schema``).

``Store`` is all of these on one connection: one transaction can journal, decide and owe at once.
"""

from __future__ import annotations

__all__ = ["MIGRATIONS", "JournalEntry", "OutboxOp", "Store"]

from connector.state.journal import JournalEntry, JournalTable
from connector.state.noise import NoiseTables
from connector.state.outbox import OutboxOp, OutboxTable
from connector.state.repair import RepairQueries
from connector.state.schema import MIGRATIONS
from connector.state.seen import SeenTable
from connector.state.tickets import TicketsTable


class Store(JournalTable, OutboxTable, TicketsTable, RepairQueries, NoiseTables, SeenTable):
    """The SQLite state file. One instance per process; not shared between threads."""
