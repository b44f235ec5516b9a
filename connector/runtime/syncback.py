"""The sync-back job: read what people did in the helpdesk and apply the process to it.

Every ``sync_seconds`` it asks the backend for the tickets changed since the last run
(``Backend.changed_since``, with a minute of overlap for clock skew; the first pass on a state
without a cursor looks back ``sync_first_lookback_seconds``, or to its oldest active ticket). A
listed ticket whose last update is still the one the connector knew all of — its own create,
or the last history read (``connector.state.seen``) — holds nothing new and is skipped without
reading its history: the overlap and the connector's own creates cost no request. A ticket people made in
the helpdesk is adopted first (``connector.runtime.adopt``: once; then it is the ledger's like
any other). For each ticket the ledger knows, it turns the changes into lifecycle events —
from the ticket's history where the backend can read it (``HistoryReader``: who did what,
when), else by comparing the snapshot with what the ledger knows. Each event goes through
``connector.process.lifecycle.apply_event``; its outcome is recorded in the ledger and what
it owes is queued in the outbox in the same transaction: field changes and notes, a reverted
close, the duplicates that follow their master, a new ticket for a close *not completed*, and
the notices. Changes made by the connector's own helpdesk user are not events (it does not
react to itself).

A solved ticket's solution is then remembered for the similar-incident lookup, and a close
that makes a knowledge-base candidate owes one (``connector.runtime.knowledge``); a desk-made
ticket, once adopted, gets its CI link and similar-incident note like a created one.

Last, after what people did is read (a user's rejection reopens a ticket first), the pass
closes the resolved tickets whose user neither confirmed nor rejected the resolution within
``lifecycle.yaml``'s confirmation wait (``close_waited``: the event ``auto_close``, once — the
ticket is closed in the ledger in the same transaction as the writes and the notice).

Replaying the same history is harmless: a ticket remembers how many entries of its history
were applied (``synced_changes``; helpdesk histories only grow, and a count — unlike a time —
does not lose a second change made within the same second).
"""

from __future__ import annotations

__all__ = ["SyncBack", "events_from_snapshot", "own_login"]

import logging
from dataclasses import replace
from datetime import datetime, timedelta

from connector.contracts.adapters import TicketSnapshot
from connector.contracts.capabilities import BackendCapabilities
from connector.domain.clock import isoformat, parse_time
from connector.domain.ledger import TicketState
from connector.domain.models import Priority, Ticket, TicketStatus, jsonable
from connector.process.closing_wait import close_due
from connector.process.escalation import outcome_notices
from connector.process.lifecycle import (
    Event,
    EventKind,
    Outcome,
    Roster,
    apply_event,
    events_from_history,
    record_outcome,
    reopened_state,
)
from connector.rules.calendar import ClosingWait
from connector.rules.files import LifecycleFile
from connector.runtime.adopt import Adopter
from connector.runtime.digest import VerificationDigest
from connector.runtime.engine import BACKEND, Engine
from connector.runtime.knowledge import learn_from_sync, owe_after_create
from connector.runtime.links_job import LinksJob
from connector.runtime.outbox_ops import OpKind
from connector.runtime.plan import Planned, clear_sla_with_resolve
from connector.state.leases import DECIDE_LOCK

log = logging.getLogger("connector.runtime.syncback")

#: how far back the first run looks when no cursor is stored yet and no ticket is active
#: (``daemon.sync_first_lookback_seconds``): a new state has no ticket of its own to read back,
#: and reading a day of a busy project page by page told it nothing
FIRST_LOOKBACK = timedelta(seconds=600)
OVERLAP = timedelta(minutes=1)


def own_login(capabilities: BackendCapabilities) -> str | None:
    """The helpdesk login the connector acts as (its own changes are not people's events)."""
    return capabilities.own_login.connector_login() if capabilities.own_login is not None else None


def events_from_snapshot(state: TicketState, snapshot: TicketSnapshot) -> list[Event]:
    """Events from a snapshot alone (a helpdesk without a readable history): what differs from
    the ledger, at the snapshot's time, by an unknown actor (so the closing right cannot be
    checked — the close stands, and the closure code is still required)."""
    at = snapshot.updated_at
    events: list[Event] = []
    group = snapshot.fields.get("assignment_group")
    moved = snapshot.assignee != state.assignee or (group is not None and group != state.assignment_group)
    if moved and (snapshot.assignee is not None or group is not None):
        events.append(Event(EventKind.ASSIGN, at, None, assignee=snapshot.assignee, group=group))
    new = snapshot.status
    if new is not None and new is not state.status:
        if state.status is TicketStatus.SUSPENDED:
            events.append(Event(EventKind.RESUME, at))
        if state.status.is_done and not new.is_done:
            events.append(Event(EventKind.REOPEN, at))
        kind = {
            TicketStatus.IN_PROGRESS: EventKind.ACCEPT,
            TicketStatus.SUSPENDED: EventKind.SUSPEND,
            TicketStatus.RESOLVED: EventKind.RESOLVE,
            TicketStatus.CLOSED: EventKind.CLOSE,
        }.get(new)
        if kind is EventKind.CLOSE:
            events.append(Event(kind, at, closure_code=snapshot.fields.get("closure_code")))
        elif kind is not None:
            events.append(Event(kind, at))
    return events


class SyncBack:
    """The sync-back of one engine (its store, backend, clock and notices)."""

    def __init__(
        self,
        engine: Engine,
        roster: Roster | None = None,
        *,
        lifecycle: LifecycleFile | None = None,
        digest: VerificationDigest | None = None,
        first_lookback: timedelta = FIRST_LOOKBACK,
    ) -> None:
        """``lifecycle`` is the rule book's (``RuleBook.lifecycle``; default: the shipped one);
        ``digest``, the daily list of unverified records, is sent from the pass that finds it due;
        ``first_lookback`` is how far the first pass of a new state looks back."""
        self.engine = engine
        self.first_lookback = first_lookback
        self.roster = roster
        self.lifecycle = lifecycle
        self.digest = digest
        rules = lifecycle if lifecycle is not None else engine.pipeline.rules.lifecycle
        self.adopter = Adopter(engine, rules.adoption)
        self.links = LinksJob(engine, engine.pipeline.rules.links, self.handle)

    @property
    def _cursor_name(self) -> str:
        return f"sync:{self.engine.backend.name}"

    def run(self) -> int:
        """One pass over what changed; returns how many events were applied."""
        engine = self.engine
        store = engine.store
        now = engine.clock.now()
        cursor = store.get_cursor(self._cursor_name)
        since = parse_time(cursor) if cursor else self._first_since(now)
        latest = since
        applied = 0
        name = engine.backend.name
        own = own_login(engine.capabilities)
        history_reader = engine.capabilities.history
        self.adopter.start()  # the first pass fixes where adoption starts
        for snapshot in engine.backend.changed_since(since - OVERLAP):
            if engine.halted():  # a stop, or its lease may be lost: another daemon carries on
                break
            latest = max(latest, snapshot.updated_at)
            key = snapshot.key or store.key_for_ticket_id(snapshot.ticket_id)
            state = store.get(key) if key else None
            if state is None and snapshot.key is None:
                state = self.adopter.adopt(snapshot)  # a ticket people made: taken over once
                if state is not None:
                    owe_after_create(engine, state.key, now)  # its CI link and similar incidents
            if state is None:
                continue  # another connector's ticket, or one the site leaves alone
            if store.helpdesk_seen(name, snapshot.ticket_id) == snapshot.updated_at:
                continue  # nothing since the connector last knew all of it (its own create, a read)
            seen = None
            fields = snapshot.fields
            if history_reader is not None:
                history = history_reader.ticket_history(snapshot.ticket_id)
                fields = {**snapshot.fields, **history.fields}  # GLPI keeps the closure code in its notes
                events = events_from_history(history, state.synced_changes, own)
                seen = len(history.changes)
            else:
                events = events_from_snapshot(state, snapshot)
            for event in events:
                self.handle(state.key, event)
                applied += 1
            with store.transaction():
                if seen is not None and seen != state.synced_changes:
                    store.ticket_set_life(state.key, synced_changes=seen)
                if _settled(snapshot):
                    # the read covers at least this listing's last update, and any later change
                    # has a later time (the listing came a second after it): skip it until then
                    store.set_helpdesk_seen(name, snapshot.ticket_id, snapshot.updated_at)
            learn_from_sync(engine, state.key, fields, now)  # a solution, a KB candidate: never raises
        with store.transaction():
            store.set_cursor(self._cursor_name, isoformat(latest), now)
        if engine.halted():
            return applied  # the rest waits for the next pass (here, or on the lease's next holder)
        self.close_waited()
        self.links.run()  # problem records due, and the changes people linked (issue 13)
        if self.digest is not None:
            self.digest.run()
        return applied

    @property
    def _wait(self) -> ClosingWait | None:
        rules = self.engine.sweep_rules
        return rules.closing_wait if rules is not None else None

    def close_waited(self) -> int:
        """Close every resolved ticket whose user did not answer within the confirmation wait
        (PROCESS §11; ``connector.process.closing_wait``); returns how many were closed."""
        wait = self._wait
        if wait is None:
            return 0
        engine = self.engine
        now = engine.clock.now()
        closed = 0
        for state in engine.store.active_tickets():
            if engine.halted():
                break
            due = close_due(state, wait)
            if due is None or due > now:
                continue
            outcome = self.handle(state.key, Event(EventKind.AUTO_CLOSE, now))
            closed += outcome is not None and outcome.status is TicketStatus.CLOSED
        return closed

    def _first_since(self, now: datetime) -> datetime:
        active = self.engine.store.active_tickets()
        oldest = min((s.created_at for s in active), default=now)
        return min(oldest, now - self.first_lookback)

    def handle(self, key: str, event: Event) -> Outcome | None:
        """Apply one event to the ticket ``key``: ledger, writes and notices in one transaction."""
        engine = self.engine
        store = engine.store
        # read and written under the decide lock: a daemon deciding an alert of this ticket at
        # the same time (on another thread or host) is serialised with it (docs/several-daemons.md)
        with store.transaction():
            store.take_lock(DECIDE_LOCK)
            state = store.get(key)
            if state is None:
                return None
            outcome = apply_event(
                state,
                event,
                self.roster,
                lifecycle=self.lifecycle,
                priority=engine.pipeline.rules.priority,
                wait=self._wait,
                changes=links.changes if (links := engine.pipeline.rules.links) is not None else None,
            )
            now = engine.clock.now()
            cascaded = record_outcome(store, state, outcome, event.at)
            after = store.get(key) or state
            self._queue_writes(after, outcome, cascaded, event, now)
            self._queue_notices(after, outcome, event, now)
            self.links.after_outcome(after, outcome)
        if outcome.notes:
            log.info("%s → %s by %s: %s", key, event.kind.value, event.actor or "?", " / ".join(outcome.notes))
        return outcome

    def _queue_writes(
        self, state: TicketState, outcome: Outcome, cascaded: tuple[str, ...], event: Event, now: datetime
    ) -> None:
        store = self.engine.store
        changes = dict(outcome.changes)
        if outcome.revert_to is not None:
            changes["status"] = outcome.revert_to
        elif (changes or outcome.notes) and state.status.is_done and state.sla_due is not None:
            # resolved or closed: nothing runs, so the SLA target goes in the same write rather
            # than in one of its own from the next sweep
            changes["sla_due"] = None
            store.ticket_set_life(state.key, sla_due=None)
        if changes or outcome.notes:
            store.enqueue(BACKEND, "update", state.key, {"changes": jsonable(changes), "note": outcome.note}, now)
        backend = self.engine.backend
        for duplicate in cascaded:
            if outcome.status is TicketStatus.RESOLVED and not backend.resolves_duplicates:
                note = f"Resolved with its master {state.key} 随主事件解决 (by {event.actor or 'the desk'})."
                planned = Planned(BACKEND, OpKind.RESOLVE, duplicate, {"at": isoformat(event.at), "note": note})
                op = clear_sla_with_resolve(store, planned)
                store.enqueue(op.target, op.op, op.ticket_key, op.payload, now)
            elif outcome.status is TicketStatus.CLOSED and not self.engine.capabilities.closes_duplicates:
                note = f"Closed with its master {state.key} 随主事件关闭."
                payload = {"changes": jsonable({"status": TicketStatus.CLOSED, **_closure(outcome)}), "note": note}
                store.enqueue(BACKEND, "update", duplicate, payload, now)
        new = outcome.new_ticket
        if new is not None and store.get(new.key) is None:
            ticket = _reopened_ticket(state, new.key, new.assignee, new.group, new.reason, now)
            store.ticket_add(replace(reopened_state(state, new, now), sla_due=ticket.sla_due), backend.name)
            store.enqueue(BACKEND, "create", new.key, {"ticket": ticket.model_dump(mode="json"), "source": ""}, now)
            store.enqueue(BACKEND, "link", new.key, {"related_key": state.key, "relation": "relates"}, now)

    def _queue_notices(self, state: TicketState, outcome: Outcome, event: Event, now: datetime) -> None:
        engine = self.engine
        rules = engine.sweep_rules
        if engine.notifications is None or rules is None:
            return
        for notice in outcome_notices(state, outcome, event.at, rules):
            for channel in rules.notices.channels_for(notice.kind, notice.priority):
                engine.queue_notice(notice, channel, now)


def _settled(snapshot: TicketSnapshot) -> bool:
    """Whether the helpdesk listed the ticket at least a whole second after its last update
    (by its own clock): a change still to come cannot then carry the same update time."""
    listed = snapshot.listed_at
    return listed is not None and listed.replace(microsecond=0) > snapshot.updated_at.replace(microsecond=0)


def _closure(outcome: Outcome) -> dict[str, object]:
    code = outcome.changes.get("closure_code")
    return {"closure_code": code} if code is not None else {}


def _reopened_ticket(
    state: TicketState, key: str, assignee: str | None, group: str | None, reason: str, now: datetime
) -> Ticket:
    """The ticket a close *not completed* opens: the original's content, for its handler."""
    content = state.content
    title = str(content.get("title") or state.key)
    return Ticket(
        key=key,
        title=f"[未完成 not completed] {title}",
        description=f"{reason}\n\n--- {state.key} ---\n{content.get('description') or title}",
        category=content.get("category"),
        area=content.get("area"),
        subarea=content.get("subarea"),
        nature=content.get("nature"),
        service=content.get("service"),
        ci=content.get("ci"),
        location=content.get("location"),
        reporter=content.get("reporter"),
        contact=state.contact,
        assignee=assignee,
        assignment_group=group,
        impact=state.impact or Ticket.model_fields["impact"].default,
        urgency=state.urgency or Ticket.model_fields["urgency"].default,
        priority=state.priority or Priority.MEDIUM,
        registered_at=now,
        recurrence_of=state.key,
    )
