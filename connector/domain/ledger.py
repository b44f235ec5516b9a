"""The connector's memory of the tickets it made, and how one decision changes it.

Correlation reads it (``TicketIndex``); a decision writes it (``apply_decision`` over the
primitives of ``TicketLedger``; both in ``ticket_state``). Two implementations hold it: the
SQLite ``Store`` of the daemon and ``MemoryLedger`` (``memory_ledger``) of ``simulate`` and the
benchmark. The rules of *what* changes —
a duplicate counts as a repeat of its master, an appended alert becomes an alias of the
master, resolving a master resolves its duplicates, a recovery is recorded on the problem it
ends (``TicketState.problem``, the aliases' own) — are written once, here, so both agree;
a test replays the same stream through both and compares.

Times are the events' own (``occurred_at``, ``recovered_at``, the close time), not the time
of processing, so the same input gives the same state however it was batched.
"""

from __future__ import annotations

__all__ = [
    "CONTENT_FIELDS",
    "LIFE_FIELDS",
    "Applied",
    "DoneAfter",
    "MemoryLedger",
    "TicketIndex",
    "TicketLedger",
    "TicketState",
    "apply_decision",
    "record_status",
]

from dataclasses import dataclass
from datetime import datetime

from connector.domain.decision import Action, Decision
from connector.domain.memory_ledger import MemoryLedger
from connector.domain.models import Impact, Priority, Ticket, TicketSource, TicketStatus, Urgency

# the state and its views live in ticket_state, the in-memory ledger in memory_ledger; they are
# named here too because the store, the engine, the rules and the tests import them from here
from connector.domain.ticket_state import LIFE_FIELDS, DoneAfter, TicketIndex, TicketLedger, TicketState

#: what a duplicate or recurrence copies from its master or original ("copying its content")
CONTENT_FIELDS = (
    "title",
    "description",
    "category",
    "area",
    "subarea",
    "nature",
    "service",
    "ci",
    "assignment_group",
    "location",
    "reporter",
)


@dataclass(frozen=True)
class Applied:
    """What applying a decision changed besides the decision's own ticket."""

    cascaded: tuple[str, ...] = ()  # duplicates resolved with their master


def content_of(ticket: Ticket) -> dict[str, str]:
    """The part of a ticket that a duplicate or recurrence of it copies (all text fields)."""
    return {name: value for name in CONTENT_FIELDS if (value := getattr(ticket, name)) is not None}


def apply_decision(ledger: TicketLedger, decision: Decision, now: datetime, backend: str) -> Applied:
    """Record in ``ledger`` what ``decision`` means for the connector's tickets."""
    alert = decision.alert
    new = decision.new_ticket
    cascaded: tuple[str, ...] = ()
    if alert.recovered_at is not None and not alert.reply_to:
        # whatever the decision, the source said this problem is over: a master waiting for it
        # (``Action.WAIT``) and the next decisions read it
        ledger.problem_recovered(alert.key, alert.recovered_at)
    if decision.fingerprint is not None and _is_state_change(decision):
        ledger.change_add(decision.fingerprint, alert.recovered_at or alert.occurred_at)
    if new is not None:
        assert decision.ticket_key is not None
        ledger.ticket_add(
            TicketState(
                key=decision.ticket_key,
                ticket_id=None,
                status=TicketStatus.OPEN,
                fingerprint=new.fingerprint,
                created_at=now,
                master_key=decision.related_key if decision.action.under_parent else None,
                occurred_at=alert.occurred_at,
                source=alert.source,
                external_id=alert.external_id,
                impact=new.impact,
                urgency=new.urgency,
                priority=new.priority,
                recurrence_of=decision.related_key if decision.action is Action.RECURRENCE else None,
                content=content_of(new),
                contact=new.contact,
                sla_due=new.sla_due,
                assignment_group=new.assignment_group,  # where the rules routed it (not a dispatch)
                assignee=new.assignee,
                # only a monitoring problem recovers: a report without recoveries holds none
                problem=alert.problem if new.source is TicketSource.MONITORING else None,
                problem_recovered_at=alert.recovered_at,
                ci=new.ci,
                upstreams=decision.cause.upstreams if decision.cause else (),
                storm_key=decision.cause.storm_key if decision.cause else None,
            ),
            backend,
        )
        if decision.action.under_parent and decision.related_key is not None:
            ledger.ticket_bump_repeats(decision.related_key)
        parent = decision.related_key if decision.action is Action.STORM else decision.ticket_key
        for child in decision.cause.adopts if decision.cause and parent else ():
            assert parent is not None
            ledger.ticket_set_master(child, parent)
            ledger.ticket_bump_repeats(parent)
        if alert.recovered_at is not None:  # first seen already recovered: resolved at once
            ledger.ticket_set_status(decision.ticket_key, TicketStatus.RESOLVED, alert.recovered_at)
    elif decision.action is Action.SUPPRESSED:
        ledger.hold_add(alert, decision.hold_until, now)
        if alert.recovered_at is not None:  # first seen already over: held, counted, never opened
            ledger.problem_recovered(alert.key, alert.recovered_at)
    elif decision.action is Action.FLAPPING and decision.related_key is not None:
        held = ledger.get(decision.related_key)
        ledger.alias_add(alert.key, decision.related_key, now, alert.problem if held and held.problem else None)
        ledger.ticket_bump_repeats(decision.related_key)
        if held is not None and held.flapping_since is None:
            ledger.ticket_set_flapping(decision.related_key, held.started_at)
    elif decision.action is Action.APPEND and not decision.is_reply and decision.related_key is not None:
        master = ledger.get(decision.related_key)
        problem = alert.problem if master is not None and master.problem is not None else None
        ledger.alias_add(alert.key, decision.related_key, now, problem)
        ledger.ticket_bump_repeats(decision.related_key)
    elif decision.action is Action.RESOLVE and decision.ticket_key is not None:
        cascaded = record_status(ledger, decision.ticket_key, TicketStatus.RESOLVED, alert.recovered_at or now)
    for update in decision.updates:
        changes = update.changes
        if "status" in changes:  # a user rejected the resolution: back to investigation
            cascaded += record_status(ledger, update.key, TicketStatus(changes["status"]), now)
        if update.confirmed:
            ledger.ticket_set_life(update.key, confirmed_at=now)
        if "priority" in changes:
            ledger.ticket_set_priority(
                update.key, Impact(changes["impact"]), Urgency(changes["urgency"]), Priority(changes["priority"])
            )
    return Applied(cascaded=cascaded)


def _is_state_change(decision: Decision) -> bool:
    """Whether the alert is a problem beginning or recovering (what flapping counts), not an
    event seen before or a reply."""
    if decision.is_reply:
        return False
    return decision.action is not Action.IGNORED or decision.rule == "dedup"


def record_status(ledger: TicketLedger, key: str, status: TicketStatus, at: datetime) -> tuple[str, ...]:
    """Record a status change; resolving or closing a master does the same to its open
    duplicates (seed §3.1.3.8). Returns the duplicates it changed."""
    ledger.ticket_set_status(key, status, at)
    if not status.is_done:
        return ()
    cascaded = tuple(ledger.open_duplicates(key))
    for duplicate in cascaded:
        ledger.ticket_set_status(duplicate, status, at)
    return cascaded
