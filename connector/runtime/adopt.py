"""Adoption: the sync-back takes over a ticket people made in the helpdesk (issue 12).

The pure part (``connector.process.adoption``) says what the ticket is to the process; this
shell runs it against the engine: the pipeline decides (classification, the matrix on the desk's
impact × urgency, duplicate or recurrence of any ticket the connector knows, the SLA date), the
ledger records the ticket under ``helpdesk:<id>`` with its helpdesk id at once (there is nothing
to create), and the outbox gets, in the same transaction, one update — the fields the desk left
empty, the matrix priority and its reason, the SLA date, a note saying so — the link to a master
or original, and the opening notices. From then on the ticket is the ledger's like any other:
the sweep runs its ladder and notices, the sync-back its lifecycle, the reports count it.

Once only: the ledger knows the ticket's helpdesk id after the first pass, so a second pass (or
a restart) finds it and adopts nothing. Where to start is ``lifecycle.yaml``'s
``adoption.since``; without one, the moment of the first pass, kept in the state file, so the
years of tickets a helpdesk already holds are not adopted on the first run.
"""

from __future__ import annotations

__all__ = ["Adopter"]

import logging
from datetime import datetime

from connector.contracts.adapters import TicketSnapshot
from connector.domain.clock import isoformat, parse_time
from connector.domain.decision import Decision
from connector.domain.errors import RuleError
from connector.domain.ledger import TicketState, apply_decision
from connector.domain.models import jsonable
from connector.process.adoption import DeskTicket, adopted_ticket, adoption_writes, desk_alert, skip_reason
from connector.process.escalation import decision_notices
from connector.rules.people_files import AdoptionModel
from connector.runtime.engine import BACKEND, Engine
from connector.runtime.outbox_ops import OpKind
from connector.runtime.plan import plan_operations

log = logging.getLogger("connector.runtime.adopt")


class Adopter:
    """Takes over the tickets of one engine's helpdesk that the connector did not make."""

    def __init__(self, engine: Engine, rules: AdoptionModel) -> None:
        self.engine = engine
        self.rules = rules

    @property
    def _since_cursor(self) -> str:
        return f"adopt-since:{self.engine.backend.name}"

    def since(self) -> datetime | None:
        """Tickets created before this are left alone: the rule's date, else the first pass's
        moment, to the second (remembered, so a restart does not move it)."""
        if self.rules.since is not None:
            return self.rules.since
        store = self.engine.store
        kept = store.get_cursor(self._since_cursor)
        if kept:
            return parse_time(kept)
        now = self.engine.clock.now()
        # whole seconds: a helpdesk stamps a ticket's creation in seconds (Redmine), so a ticket
        # made in the same second as this first pass, after it, reads as made before it
        start = now.replace(microsecond=0)
        with store.transaction():
            store.set_cursor(self._since_cursor, isoformat(start), now)
        return start

    def start(self) -> None:
        """Called by every sync-back pass: the first one fixes where adoption starts."""
        if self.rules.enabled:
            self.since()

    def adopt(self, snapshot: TicketSnapshot) -> TicketState | None:
        """Adopt one ticket (its snapshot from ``changed_since``); the ledger's state of it, or
        ``None`` when it is left alone."""
        engine = self.engine
        store = engine.store
        desk = DeskTicket(
            ticket_id=snapshot.ticket_id,
            title=snapshot.title or f"#{snapshot.ticket_id}",
            created_at=snapshot.created_at or snapshot.updated_at,
            description=snapshot.description or "",
            tracker=snapshot.tracker,
            entity=snapshot.entity,
            fields={k: v for k, v in snapshot.fields.items() if v is not None},
        )
        why_not = skip_reason(desk, self.rules, self.since())
        if why_not is not None:
            log.debug("%s #%s not adopted: %s", engine.backend.name, snapshot.ticket_id, why_not)
            return None
        registered = desk.created_at
        try:
            alert = desk_alert(desk, self.rules)
            decision = engine.pipeline.decide(alert, store, registered, assessed=True)
        except (ValueError, RuleError) as exc:
            log.error("%s #%s cannot be adopted: %s", engine.backend.name, snapshot.ticket_id, exc)
            return None
        if decision.new_ticket is None or decision.ticket_key is None:
            # e.g. a storm guard's counted repeat: the ticket stays the desk's, the master counts it
            log.warning("%s #%s not adopted: %s", engine.backend.name, snapshot.ticket_id, decision.reason)
            return None
        key = decision.ticket_key
        ticket = adopted_ticket(decision.new_ticket, desk)
        decision = decision.with_ticket(ticket)
        changes, note = adoption_writes(ticket, desk, decision.reason)
        now = engine.clock.now()
        with store.transaction():
            apply_decision(store, decision, registered, engine.backend.name)
            store.ticket_set_ref(key, snapshot.ticket_id, "")
            store.ticket_set_life(key, sla_due=ticket.sla_due, contact=ticket.contact)
            store.enqueue(BACKEND, OpKind.UPDATE, key, {"changes": jsonable(changes), "note": note}, now)
            for op in plan_operations(decision):
                # the ticket exists, and the adoption note already gives the decision's reason
                if op.op not in (OpKind.CREATE, OpKind.NOTE):
                    store.enqueue(op.target, op.op, op.ticket_key, op.payload, now)
            self._notices(key, decision, now)
        log.info("%s #%s adopted as %s: %s", engine.backend.name, snapshot.ticket_id, key, decision.reason)
        return store.get(key)

    def _notices(self, key: str, decision: Decision, now: datetime) -> None:
        """The opening notices, as for an alert's new ticket (a P1/P2 interrupts a service)."""
        engine = self.engine
        rules = engine.sweep_rules
        state = engine.store.get(key)
        if engine.notifications is None or rules is None or state is None:
            return
        for notice in decision_notices(decision, state, rules, now):
            for channel in rules.notices.channels_for(notice.kind, notice.priority):
                engine.queue_notice(notice, channel, now)
