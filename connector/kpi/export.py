"""The KPI records of a span of time, rebuilt from a helpdesk (``export-history``, ``report --config``).

A ticket belongs to the span when its ``occurred_at`` (outage start, else registration) falls
in it. The helpdesk cannot be asked for that directly, so the tickets are listed with
``changed_since(start)``: a ticket that occurred in the span was created after its start,
and creating it changed it. Each one's history is read (``HistoryReader``), rebuilt into a
record (``connector.kpi.rebuild``) and kept if it occurred in the span.

A duplicate's record names its master's *helpdesk id*; the ticket holds the master's connector
key, which is mapped through the tickets listed, else asked of the helpdesk once
(``find_by_key``). A ticket that went away between the listing and the read, or whose record
cannot be built, is skipped and said (``ExportStats.problems``); a helpdesk that cannot be
reached stops the export (``BackendUnavailable``), so no partial history passes for a whole one.
"""

from __future__ import annotations

__all__ = ["ExportProblem", "ExportStats", "OwnLogin", "export_records"]

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from connector.contracts.adapters import Backend, TicketHistory
from connector.contracts.capabilities import BackendCapabilities, OwnLogin
from connector.domain.clock import ensure_utc
from connector.domain.errors import BackendRejected
from connector.domain.models import ResolverRole
from connector.kpi.history import HistoryRecord
from connector.kpi.rebuild import Rebuilt, rebuild_record
from connector.rules.knowledge import KnowledgeUsedModel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExportProblem:
    """A ticket left out of the export, and why."""

    ticket_id: str
    reason: str

    def __str__(self) -> str:
        return f"ticket {self.ticket_id}: {self.reason}"


@dataclass
class ExportStats:
    """What an export saw: tickets listed, records kept, tickets left out, what was assumed."""

    listed: int = 0
    records: int = 0
    problems: list[ExportProblem] = field(default_factory=list)
    notes: list[ExportProblem] = field(default_factory=list)


def _sort_key(ticket_id: str) -> tuple[int, str]:
    return (int(ticket_id), "") if ticket_id.isdigit() else (0, ticket_id)


def export_records(
    backend: Backend,
    start: datetime,
    end: datetime,
    *,
    line_of: Callable[[str | None], ResolverRole | None] | None = None,
    stats: ExportStats | None = None,
    on_ticket: Callable[[int, int], None] | None = None,
    knowledge_used: KnowledgeUsedModel | None = None,
    pending_pauses: bool = False,
) -> Iterator[HistoryRecord]:
    """The records of the tickets that occurred in ``[start, end)``, in ticket-id order.

    ``line_of`` gives an assignment group's line (``Directory.line_of_group``); ``stats`` is
    filled as the export goes; ``on_ticket(done, total)`` is told after each ticket read (the
    progress bar); ``knowledge_used`` the rule book's "KB used" note lines (default: the shipped
    ones); ``pending_pauses``: pending-change time counts as suspended (``itil_links.yaml``).
    Raises ``ValueError`` for a backend without a readable history.
    """
    capabilities = BackendCapabilities.of(backend)  # once per export: the export is its own start-up
    reader = capabilities.history
    if reader is None:
        raise ValueError(f"backend {backend.name!r} cannot read a ticket's history (no HistoryReader)")
    stats = stats if stats is not None else ExportStats()
    lower, upper = ensure_utc(start), ensure_utc(end)
    own = capabilities.own_login.connector_login() if capabilities.own_login is not None else None
    logins = frozenset({own} if own else ())
    snapshots = sorted(
        {s.ticket_id: s for s in backend.changed_since(lower)}.values(), key=lambda s: _sort_key(s.ticket_id)
    )
    stats.listed = len(snapshots)
    ids_by_key = {s.key: s.ticket_id for s in snapshots if s.key}
    kept: list[tuple[TicketHistory, Rebuilt]] = []
    for done, snapshot in enumerate(snapshots, 1):
        try:
            history = reader.ticket_history(snapshot.ticket_id)
        except BackendRejected as exc:  # deleted, or made invisible, since it was listed
            stats.problems.append(ExportProblem(snapshot.ticket_id, f"cannot be read ({exc})"))
            continue
        finally:
            if on_ticket is not None:
                on_ticket(done, len(snapshots))
        built = _rebuilt(history, None, logins, line_of, stats, knowledge_used, pending_pauses)
        if built is not None and lower <= built.record.occurred_at < upper:
            kept.append((history, built))
    masters: dict[str, str | None] = {}
    for history, built in kept:
        master_key = history.fields.get("duplicate_of")
        if isinstance(master_key, str) and master_key:
            if master_key not in ids_by_key and master_key not in masters:
                found = backend.find_by_key(master_key)
                masters[master_key] = found.ticket_id if found is not None else None
            master_id = ids_by_key.get(master_key) or masters.get(master_key)
            if master_id is None:
                stats.notes.append(
                    ExportProblem(history.ticket_id, f"its master {master_key!r} is not in the helpdesk")
                )
            rebuilt = (
                _rebuilt(history, master_id, logins, line_of, stats, knowledge_used, pending_pauses)
                if master_id is not None
                else built
            )
            if rebuilt is None:
                continue
            built = rebuilt
        stats.notes.extend(ExportProblem(history.ticket_id, text) for text in built.notes)
        stats.records += 1
        yield built.record


def _rebuilt(
    history: TicketHistory,
    master_id: str | None,
    logins: frozenset[str],
    line_of: Callable[[str | None], ResolverRole | None] | None,
    stats: ExportStats,
    knowledge_used: KnowledgeUsedModel | None = None,
    pending_pauses: bool = False,
) -> Rebuilt | None:
    try:
        return rebuild_record(
            history,
            master_id=master_id,
            connector_logins=logins,
            line_of=line_of,
            knowledge_used=knowledge_used,
            pending_pauses=pending_pauses,
        )
    except ValueError as exc:
        stats.problems.append(ExportProblem(history.ticket_id, f"no valid record: {exc}"))
        log.debug("ticket %s: no valid record", history.ticket_id, exc_info=True)
        return None
