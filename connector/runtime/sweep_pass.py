"""One pass of the escalation & SLA sweep over the state file: which tickets, one transaction each.

Why a pass does not read every open ticket: over 100,000 open tickets a full read costs seconds of
CPU every minute though almost nothing is due. The sweep writes on each ticket it swept the
earliest moment a later sweep could change anything on it (``connector.process.sweep.next_wake``),
every other write to the ticket row sets that mark back to empty ('') (``connector.state.tickets``), and
a pass reads only the tickets whose mark is passed or empty (``Store.sweep_due_tickets``). A *full*
pass reads them all, as before: the first after start-up and after a rule-book reload, since the
marks were computed under rules that may have changed.
"""

from __future__ import annotations

__all__ = ["sweep_pass"]

from collections.abc import Callable, Iterator
from datetime import datetime

from connector.domain.models import TicketStatus
from connector.process.escalation import SweepResult, SweepRules, sweep_ticket
from connector.process.sweep import next_wake
from connector.state.leases import DECIDE_LOCK
from connector.state.store import Store


def sweep_pass(
    store: Store,
    rules: SweepRules,
    now: datetime,
    *,
    full: bool,
    queue: Callable[[SweepResult, datetime], None],
    halted: Callable[[], bool] | None = None,
) -> Iterator[SweepResult]:
    """Sweep the tickets due by ``now`` (all of them when ``full``), each in its own transaction
    with what ``queue`` owes for it and its next mark; yields each result once committed. Stops
    before the next ticket once ``halted()`` says so (a stop, or the sweep's lease no longer safe).

    Each ticket is read again under the decide lock (``docs/several-daemons.md``): a decision or a
    sync-back on another thread or daemon may have changed it since the list was read; the step's
    fired row and its outbox operations commit together, and a step fires once (its row's key)."""
    resolved_since = now - rules.resolved_horizon
    states = store.sweep_tickets(resolved_since) if full else store.sweep_due_tickets(resolved_since, now)
    for listed in states:
        if halted is not None and halted():
            return
        with store.transaction():
            store.take_lock(DECIDE_LOCK)
            state = store.get(listed.key)
            if state is None or state.status is TicketStatus.CLOSED or state.master_key is not None:
                continue
            result = sweep_ticket(store, state, rules, now)
            queue(result, now)
            # last: the sweep's own writes above cleared the mark
            store.ticket_set_next_sweep(state.key, next_wake(state, rules.sla, rules.escalation, rules.notices, now))
        yield result
