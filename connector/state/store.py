"""The connector's own state, in one SQLite file (WAL) or one PostgreSQL database: only what
makes it safe.

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
- ``solved``: what each solved ticket taught (title, CI, fingerprint, category, solution) and
  its knowledge-base candidate mark (``connector.state.knowledge``, issue 13).
- ``problems``, ``problem_links``, ``change_links``: the problem records the connector opened and
  the changes people linked to incidents (``connector.state.links``).
- ``leases``, ``locks`` and the outbox claims: how several daemons on one state share the work
  (``connector.state.leases``).
- ``dead_letter``: inputs and operations that cannot be processed, with the reason; ``cursors``:
  how far each source has been read (``connector.state.database``, with the connection itself).
- ``storm_notes``: the storm guard's counted notes owed per master (``connector.state.storm_notes``).
- Retention: which finished rows of these tables may go once old enough (``connector.state.retention``).
- ``helpdesk_seen``: each helpdesk ticket's last-update time when the connector last knew every
  change in it, so the sync-back reads no history that holds nothing new (``connector.state.seen``).

The helpdesk stays the source of truth for ticket content. Schema changes are numbered
migrations applied in order inside a transaction (``connector.state.schema``).

``Store`` is all of these on one connection: one transaction can journal, decide and owe at once.
"""

from __future__ import annotations

__all__ = ["MIGRATIONS", "JournalEntry", "OutboxOp", "StateTarget", "Store", "open_store"]

from pathlib import Path

from connector.state.journal import JournalEntry, JournalTable
from connector.state.knowledge import KnowledgeTable
from connector.state.leases import LeasesTable
from connector.state.links import LinkTables
from connector.state.noise import NoiseTables
from connector.state.outbox import OutboxOp, OutboxTable
from connector.state.repair import RepairQueries
from connector.state.retention import RetentionQueries
from connector.state.schema import MIGRATIONS
from connector.state.seen import SeenTable
from connector.state.storm_notes import StormNotesTable
from connector.state.target import StateTarget
from connector.state.tickets import TicketsTable


class Store(
    JournalTable,
    OutboxTable,
    TicketsTable,
    RepairQueries,
    NoiseTables,
    StormNotesTable,
    KnowledgeTable,
    LinkTables,
    LeasesTable,
    SeenTable,
    RetentionQueries,
):
    """The state store (a SQLite file or a PostgreSQL database). One instance per process (per
    thread); not shared between threads."""


def open_store(target: Path | str | StateTarget, *, migrate: bool = True) -> Store:
    """The one way to open the state: a SQLite path (as before), a ``sqlite:``/``postgresql:``
    URL, or the ``StateTarget`` a config names (``LoadedConfig.state_target``). Raises
    ``StoreError`` naming the file or the server (never the password)."""
    return Store(target, migrate=migrate)
