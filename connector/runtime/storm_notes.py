"""The storm guard's counted notes, coalesced: at most one helpdesk note per master per interval.

Past ``storm_guard.max_duplicates`` a repeat is not a ticket but a counted note on its master
(``connector.rules.correlate``). In a storm that is one helpdesk request per repeat, which is what
slows the helpdesk when it is needed most. With ``storm_guard.note_interval_seconds`` (``dedup.yaml``)
the engine owes the note of a repeat only when the master's last one is at least an interval old;
a repeat inside the interval is counted (``storm_notes`` in the state file) and its count goes with
the next note. Nothing is lost: before the master is resolved the pending count is written first,
and the sweep writes it once no repeat came for an interval (the storm is over).

The decision itself does not change (``simulate`` prints the same lines, the ledger counts every
repeat); only the operations it owes do, in the same transaction as the decision.
"""

from __future__ import annotations

__all__ = ["coalesce", "flush_quiet"]

from collections.abc import Sequence
from datetime import datetime, timedelta

from connector.domain.clock import isoformat
from connector.domain.decision import Action, Decision
from connector.runtime.outbox_ops import BACKEND, OpKind
from connector.runtime.plan import Planned
from connector.state.store import Store
from connector.state.storm_notes import StormNote

#: the rule id of a repeat counted by the storm guard (``connector.rules.correlate``)
STORM_RULE = "dedup.storm_guard"


def coalesce(
    store: Store, decision: Decision, ops: Sequence[Planned], interval: timedelta | None, now: datetime
) -> list[Planned]:
    """``ops`` as they should be owed: a storm-guard note inside its master's interval dropped
    (and counted), the next one carrying the count, and a pending count owed before a resolve."""
    out = list(ops)
    master = decision.related_key
    if decision.action is Action.APPEND and decision.rule == STORM_RULE and master is not None and interval:
        row = store.storm_note(master)
        if row is not None and now - row.noted_at < interval:
            store.storm_note_defer(master, now)
            out = [op for op in out if not (op.op is OpKind.NOTE and op.ticket_key == master)]
        else:
            if row is not None and row.pending:
                out = [_with_count(op, row) if op.op is OpKind.NOTE and op.ticket_key == master else op for op in out]
            store.storm_note_written(master, now)
    return _counts_before_resolves(store, out, interval, now)


def flush_quiet(store: Store, interval: timedelta | None, now: datetime) -> int:
    """Owe the count of every master whose storm went quiet (no repeat for an interval; with no
    interval configured any more, every pending count); returns how many notes were owed."""
    owed = 0
    for row in store.storm_notes_quiet(now - (interval or timedelta(0))):
        with store.transaction():
            store.enqueue(BACKEND, OpKind.NOTE, row.master_key, {"text": count_text(row, interval)}, now)
            store.storm_note_written(row.master_key, now)
        owed += 1
    return owed


def count_text(row: StormNote, interval: timedelta | None) -> str:
    """The note that carries a count on its own."""
    every = f"; one note per {interval.total_seconds():g} s" if interval else ""
    return (
        f"风暴 storm guard: {row.pending} more repeat(s) counted since the last note, the last at "
        f"{isoformat(row.last_at)} (rule {STORM_RULE}{every})"
    )


def _with_count(op: Planned, row: StormNote) -> Planned:
    text = f"{op.payload['text']}; with {row.pending} earlier repeat(s) counted since the last note"
    return Planned(op.target, op.op, op.ticket_key, {**op.payload, "text": text})


def _counts_before_resolves(
    store: Store, ops: list[Planned], interval: timedelta | None, now: datetime
) -> list[Planned]:
    out: list[Planned] = []
    for op in ops:
        if op.op is OpKind.RESOLVE and op.ticket_key is not None:
            row = store.storm_note(op.ticket_key)
            if row is not None and row.pending:
                out.append(Planned(BACKEND, OpKind.NOTE, op.ticket_key, {"text": count_text(row, interval)}))
                store.storm_note_written(op.ticket_key, now)
        out.append(op)
    return out
