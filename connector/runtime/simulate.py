"""``itsm-connector simulate``: the pipeline's decisions for a file of alerts, without a helpdesk.

Each input line (an ``Alert`` as JSON, or a control line; see ``connector.integrations.replay``) runs
through the same pipeline as the daemon — the same hooks, the same rule book, the same
``apply_decision`` — against an in-memory ledger instead of the state file, and one JSON
object per input line is printed. The clock follows the input: a line is processed at its own
time (``occurred_at``, a recovery's ``recovered_at``, a control line's ``at``), never earlier
than the line before it, so the output is the same on every run.

Tickets are numbered 1, 2, … in the order they are made, as the local backend numbers them,
so a line with ``reply_to: "3"`` is a reply to the third ticket.

Every rule comes from the pipeline's rule book (``Pipeline.rules``) and the ``SweepRules`` built
from it: a site's rules directory changes the decisions, the ladder, the notices and the
lifecycle (reassignment limit, closing right) exactly as it would in the daemon.

Why this module is long: ``Simulator`` is the daemon's whole life on one simulated clock — an
alert, each kind of control line through the lifecycle, the sweep's steps, the confirmation
wait, the held and flapping alerts settled in time — so the order of what happens at one moment
is written once, here, and each of its methods is one kind of input line. The line shapes and the pure helpers
are already apart (``connector.runtime.simulate_lines``); splitting the class itself would
scatter one ledger's state over modules that must change together.
"""

from __future__ import annotations

__all__ = ["FIELDS", "Simulator", "simulate"]

import json
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, TextIO

from connector.contracts.adapters import Rejected
from connector.domain.clock import FakeClock, isoformat
from connector.domain.decision import Action, Decision
from connector.domain.errors import RuleError
from connector.domain.ledger import MemoryLedger, TicketState, apply_decision, record_status
from connector.domain.models import Alert, ClosureCode, Impact, Priority, TicketSource, TicketStatus, Urgency
from connector.domain.notice import Notice
from connector.integrations.replay import Control, parse_line
from connector.notify.settings import Notifications
from connector.process.adoption import DeskTicket, adopted_ticket, adoption_writes, desk_alert
from connector.process.closing_wait import close_due
from connector.process.escalation import Fired, SweepRules, decision_notices, outcome_notices, sweep_ticket
from connector.process.lifecycle import Event, EventKind, NewTicket, Roster, apply_event, record_outcome, reopened_state
from connector.process.pipeline import Pipeline
from connector.process.sweep import due_steps
from connector.rules.calendar import ClosingWait
from connector.rules.flapping import last_change_of, settled
from connector.runtime.simulate_knowledge import KB_USED, SimKnowledge
from connector.runtime.simulate_lines import (
    FIELDS,
    TICKET_FIELDS,
    auto_close_line,
    first_error,
    from_state,
    level,
    new_line,
)
from connector.runtime.simulate_links import SimulatedLinks
from connector.runtime.simulate_memory import SeenEvents, forget_horizon

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


#: control lines (as the helpdesk would act) → lifecycle events
CONTROLS = {
    "assign": EventKind.ASSIGN,
    "reassign": EventKind.ASSIGN,
    "accept": EventKind.ACCEPT,
    "suspend": EventKind.SUSPEND,
    "resume": EventKind.RESUME,
    "resolve": EventKind.RESOLVE,
    "reopen": EventKind.REOPEN,
    "third_party": EventKind.THIRD_PARTY,
    "close": EventKind.CLOSE,
    "reject": EventKind.REJECT,
    "priority": EventKind.PRIORITY,
    "verify": EventKind.VERIFY,
    "link_change": EventKind.LINK_CHANGE,  # a person linked a change (``ref``): pending change
}
#: a change closed (``ref``): every incident waiting for it alone is back in progress
CHANGE_CLOSED = "change_closed"
#: a ticket a person opened in the helpdesk: adopted (not a lifecycle event)
OPEN = "open"


class Simulator:
    """Feeds parsed lines through a pipeline one at a time, remembering what it made.

    With ``sweep`` (``simulate --until``) the escalation/SLA sweep runs on the simulated clock
    too: before each line, every step due by that line's time fires at its own moment; each
    notice (of a step, of a decision, of a control line) becomes an event line.
    """

    def __init__(
        self,
        pipeline: Pipeline,
        start: datetime | None = None,
        *,
        sweep: SweepRules | None = None,
        notifications: Notifications | None = None,
        roster: Roster | None = None,
        forget: bool = False,
    ) -> None:
        self.pipeline = pipeline
        self.ledger = MemoryLedger()
        self.clock = FakeClock(start or _EPOCH)
        self.sweep = sweep
        self.notifications = notifications
        self.roster = roster
        self._seen = SeenEvents()
        self._ticket_for: dict[str, str] = {}  # external id -> the newest ticket made for it
        self._external_for: dict[str, str] = {}  # an adopted ticket's key -> the open line's external id
        self._numbers = 0
        self.knowledge = SimKnowledge(pipeline.rules.knowledge)  # similar / kb_candidate lines (issue 13)
        self.links = SimulatedLinks(pipeline.rules.links)  # problem records and changes (issue 13)
        # a long stream holds a bounded state: the finished tickets no rule reads any more are
        # forgotten, event keys compacted (issue 15; connector.runtime.simulate_memory)
        self.horizon = forget_horizon(pipeline.rules) if forget else None
        self._next_forget: datetime | None = None

    def feed(self, lineno: int, item: Alert | Control | Rejected) -> list[dict[str, Any]]:
        """The output lines for one input line: steps that fell due before it, its own line,
        then the notices it caused."""
        if isinstance(item, Rejected):
            return [new_line(lineno, item.external_id, item.source, Action.DEAD_LETTER.value, reason=item.reason)]
        when = item.at if isinstance(item, Control) else (item.recovered_at or item.occurred_at)
        out = self.run_until(when)
        self.clock.set(when)
        self._forget(self.clock.now())
        if isinstance(item, Control):
            out.extend(self._control(lineno, item))
        else:
            out.extend(self._alert(lineno, item))
        return out

    def _forget(self, now: datetime) -> None:
        """Each time the clock passed the horizon: forget the finished tickets no line can name
        any more (``MemoryLedger.forget``; with the sweep, resolved ones stay until closed). Nothing
        printed changes (tests/unit/test_simulate_memory.py compares a long stream's output
        with and without it)."""
        if self.horizon is None:
            return
        if self._next_forget is None:
            self._next_forget = now + self.horizon
        if now < self._next_forget:
            return
        self._next_forget = now + self.horizon
        self.ledger.forget(now, self.horizon, keep_resolved=self.sweep is not None)
        self._ticket_for = {ext: key for ext, key in self._ticket_for.items() if self.ledger.get(key) is not None}
        self._external_for = {key: ext for key, ext in self._external_for.items() if self.ledger.get(key) is not None}

    def run_until(self, until: datetime) -> list[dict[str, Any]]:
        """Fire every step due by ``until``, each at its own moment; the event lines."""
        if self.sweep is None:
            return []
        events: list[dict[str, Any]] = []
        while True:
            moment = self._next_step(until)
            if moment is None:
                return events
            # a step that fell due in the past (a priority raised to P1 brings the P1 ladder's
            # earlier steps) fires now, late, as the daemon's sweep would fire it
            moment = max(moment, self.clock.now())
            self.clock.set(moment)
            for state in self.ledger.sweep_tickets(moment - self.sweep.resolved_horizon):
                result = sweep_ticket(self.ledger, state, self.sweep, moment)
                for fired in result.fired:
                    events.extend(self._events(fired.notice, state, step=fired))
            events.extend(self._close_waited(moment))

    def _close_waited(self, moment: datetime) -> list[dict[str, Any]]:
        """The connector's closes of resolved tickets their users did not answer within the
        confirmation wait (``lifecycle.yaml``'s ``confirmation``): an ``auto_close`` event line
        each, then its ``closed`` notice lines."""
        assert self.sweep is not None
        wait = self.sweep.closing_wait
        if wait is None:
            return []
        events: list[dict[str, Any]] = []
        for state in self.ledger.active_tickets():
            due = close_due(state, wait)
            if due is None or due > moment:
                continue
            event = Event(EventKind.AUTO_CLOSE, moment)
            outcome = apply_event(state, event, self.roster, lifecycle=self.pipeline.rules.lifecycle, wait=wait)
            if outcome.status is None:
                continue
            record_outcome(self.ledger, state, outcome, moment)
            after = self.ledger.get(state.key) or state
            external_id = self._external_for.get(state.key, state.external_id)
            events.append(auto_close_line(after, external_id, moment, due, outcome.note, wait.closure_code))
            for notice in outcome_notices(after, outcome, moment, self.sweep):
                events.extend(self._events(notice, after))
        return events

    def _next_step(self, until: datetime) -> datetime | None:
        assert self.sweep is not None
        rules = self.sweep
        wait = rules.closing_wait
        closes = [
            due
            for state in (self.ledger.active_tickets() if wait is not None else ())
            if wait is not None and (due := close_due(state, wait)) is not None and due <= until
        ]
        moments = closes + [
            step.due_at
            for state in self.ledger.sweep_tickets(until - rules.resolved_horizon)
            for step in due_steps(
                state, self.ledger.fired_steps(state.key), rules.sla, rules.escalation, rules.notices, until
            )
        ]
        return min(moments) if moments else None

    def _alert(self, lineno: int, item: Alert) -> list[dict[str, Any]]:
        now = self.clock.now()
        seen = self._seen.first_line(item.source, item.event_key)
        if seen is not None:
            reason = f"exact repeat of line {seen}: this event was already received (idempotency)"
            return [
                new_line(lineno, item.external_id, item.source, Action.IGNORED.value, reason=reason, at=isoformat(now))
            ]
        self._seen.add(item.source, item.event_key, lineno)
        opened: list[dict[str, Any]] = []
        if item.reply_to is None:
            self._settle_flapping(now)
            opened = self._release_holds(lineno, now)
        try:
            decision = self.pipeline.decide(item, self.ledger, now)
        except RuleError as exc:
            return [
                new_line(
                    lineno, item.external_id, item.source, Action.DEAD_LETTER.value, reason=str(exc), at=isoformat(now)
                )
            ]
        apply_decision(self.ledger, decision, now, "simulate")
        if decision.new_ticket is not None and decision.ticket_key is not None:
            self._number(decision.ticket_key)
            self._ticket_for[item.external_id] = decision.ticket_key
        out = [*opened, self._describe(lineno, decision, now)]
        state = self.ledger.get(decision.ticket_key) if decision.ticket_key else None
        if decision.new_ticket is not None:
            out.extend(self.knowledge.after_create(lineno, state, item.external_id, now))
        if self.sweep is not None and state is not None:
            out.extend(self.links.problems(item.external_id, state, now))
            for notice in decision_notices(decision, state, self.sweep, now):
                out.extend(self._events(notice, state))
        return out

    def _settle_flapping(self, now: datetime) -> None:
        """Resolve the flapping tickets that settled before ``now``, as the daemon's clock job
        does (``Engine.settle_flapping``), so the line's decision sees them resolved."""
        policy = self.pipeline.rules.dedup.flapping
        if policy is None:
            return
        for state in self.ledger.flapping_quiet_since(now - policy.quiet):
            last = last_change_of(state, self.ledger)
            if last is not None and settled(state, policy, self.ledger, now) is not None:
                record_status(self.ledger, state.key, TicketStatus.RESOLVED, last)
                self.ledger.ticket_set_flapping(state.key, None)

    def _release_holds(self, lineno: int, now: datetime) -> list[dict[str, Any]]:
        """Open the problems held during maintenance whose window ended before ``now`` and that
        are still active, as the daemon does (``Engine.release_holds``): one output line each,
        numbered as the line that made the clock pass the window's end."""
        out = []
        for held in self.ledger.holds_due(now):
            self.ledger.hold_release(held.key)
            alert = held.model_copy(update={"maintenance": False, "maintenance_until": None})
            try:
                decision = self.pipeline.decide(alert, self.ledger, now)
            except RuleError as exc:
                out.append(new_line(lineno, alert.external_id, alert.source, Action.DEAD_LETTER.value, reason=str(exc)))
                continue
            decision = replace(decision, reason=f"still active when its maintenance ended: {decision.reason}")
            apply_decision(self.ledger, decision, now, "simulate")
            if decision.new_ticket is not None and decision.ticket_key is not None:
                self._number(decision.ticket_key)
                self._ticket_for[alert.external_id] = decision.ticket_key
            out.append(self._describe(lineno, decision, now))
        return out

    def _number(self, key: str) -> None:
        self._numbers += 1
        self.ledger.set_ticket_id(key, str(self._numbers))

    def _open(self, lineno: int, item: Control) -> list[dict[str, Any]]:
        """A ticket the desk made in the helpdesk (``open``): adopted as the sync-back adopts one
        — the same pipeline on the desk's fields, its impact × urgency kept — numbered as the
        next helpdesk ticket; its line is an ``adopt`` line with the fields of a ``create``."""
        now = self.clock.now()
        data = item.data
        self._numbers += 1
        number = str(self._numbers)
        fields = {
            name: data[name]
            for name in ("ci", "service", "location", "category", "assignment_group", "impact", "urgency", "priority")
            if data.get(name) not in (None, "")
        }
        if data.get("reporter"):
            fields["contact"] = data["reporter"]
        try:
            if data.get("source"):
                fields["source"] = TicketSource(str(data["source"]))
            desk = DeskTicket(
                number, str(data.get("title") or ""), now, str(data.get("description") or ""), author=data.get("by")
            )
            desk = replace(desk, fields=fields)
            alert = desk_alert(desk, self.pipeline.rules.lifecycle.adoption)
            decision = self.pipeline.decide(alert, self.ledger, now, assessed=True)
        except (ValueError, RuleError) as exc:
            self._numbers -= 1
            reason = f"line {lineno}: cannot adopt {item.external_id!r}: {first_error(exc)}"
            return [
                new_line(lineno, item.external_id, None, Action.DEAD_LETTER.value, reason=reason, at=isoformat(now))
            ]
        if decision.new_ticket is None or decision.ticket_key is None:
            self._numbers -= 1
            reason = f"line {lineno}: not adopted: {decision.reason}"
            return [new_line(lineno, item.external_id, None, Action.IGNORED.value, reason=reason, at=isoformat(now))]
        key = decision.ticket_key
        ticket = adopted_ticket(decision.new_ticket, desk)
        decision = decision.with_ticket(ticket)
        apply_decision(self.ledger, decision, now, "simulate")
        self.ledger.set_ticket_id(key, number)
        self._ticket_for[item.external_id] = key
        self._external_for[key] = item.external_id
        _, note = adoption_writes(ticket, desk, decision.reason)
        out = self._describe(lineno, decision, now)
        out.update(action="adopt", external_id=item.external_id, reason=note)
        lines = [out]
        state = self.ledger.get(key)
        lines.extend(self.knowledge.after_create(lineno, state, item.external_id, now))
        if self.sweep is not None and state is not None:
            for notice in decision_notices(decision, state, self.sweep, now):
                lines.extend(self._events(notice, state))
        return lines

    def _control(self, lineno: int, item: Control) -> list[dict[str, Any]]:
        now = self.clock.now()
        if item.type == OPEN:
            return self._open(lineno, item)
        if item.type == CHANGE_CLOSED:
            return self._change_closed(lineno, item)
        kind = CONTROLS.get(item.type)
        if item.type == KB_USED:
            marked = self._state_of(item.external_id)
            if marked is not None:
                return [self.knowledge.kb_used(lineno, marked, item.data, item.external_id, now)]
            reason = f"line {lineno}: no ticket was made for {item.external_id!r}, so there is nothing to mark"
            return [_dead(lineno, item.external_id, reason, now)]
        if kind is None:
            known = ", ".join((*CONTROLS, OPEN, KB_USED, CHANGE_CLOSED))
            reason = f"line {lineno}: unknown control type {item.type!r} (known: {known})"
            return [
                new_line(lineno, item.external_id, None, Action.DEAD_LETTER.value, reason=reason, at=isoformat(now))
            ]
        key = self._ticket_for.get(item.external_id)
        state = self.ledger.get(key) if key is not None else None
        if key is None or state is None:
            reason = f"line {lineno}: no ticket was made for {item.external_id!r}, so there is nothing to {item.type}"
            return [
                new_line(lineno, item.external_id, None, Action.DEAD_LETTER.value, reason=reason, at=isoformat(now))
            ]
        data = item.data
        if kind is EventKind.LINK_CHANGE:
            ref = str(data.get("ref") or "")
            if not ref:
                reason = f"line {lineno}: a link_change line needs the change's ref"
                return [_dead(lineno, item.external_id, reason, now)]
            if not self.links.link(key, ref, now):
                reason = f"line {lineno}: change {ref!r} is linked to {item.external_id!r} already"
                return [
                    new_line(lineno, item.external_id, None, Action.IGNORED.value, reason=reason, at=isoformat(now))
                ]
        try:
            code = data.get("closure_code", "success" if kind is EventKind.CLOSE else None)
            closure = ClosureCode(code) if code else None
        except ValueError:
            known = ", ".join(c.value for c in ClosureCode)
            reason = f"line {lineno}: closure_code {data.get('closure_code')!r} is not one of {known}"
            return [
                new_line(lineno, item.external_id, None, Action.DEAD_LETTER.value, reason=reason, at=isoformat(now))
            ]
        try:
            scales = {
                "impact": level(Impact, data.get("impact")),
                "urgency": level(Urgency, data.get("urgency")),
                "priority": level(Priority, data.get("priority")),
            }
        except ValueError as exc:
            reason = f"line {lineno}: {exc}"
            return [
                new_line(lineno, item.external_id, None, Action.DEAD_LETTER.value, reason=reason, at=isoformat(now))
            ]
        event = Event(
            kind,
            now,
            actor=data.get("by"),
            assignee=data.get("assignee"),
            group=data.get("group"),
            closure_code=closure,
            detail=str(data.get("ref") if kind is EventKind.LINK_CHANGE else data.get("reason") or ""),
            impact=scales["impact"],
            urgency=scales["urgency"],
            priority=scales["priority"],
            reopen=data.get("verdict") == "reopen",
        )
        rules = self.pipeline.rules
        outcome = apply_event(
            state,
            event,
            self.roster,
            lifecycle=rules.lifecycle,
            priority=rules.priority,
            wait=self._wait,
            changes=rules.links.changes if rules.links is not None else None,
        )
        record_outcome(self.ledger, state, outcome, now)
        if outcome.new_ticket is not None and self.ledger.get(outcome.new_ticket.key) is None:
            self._open_not_completed(state, outcome.new_ticket, now)
        after = self.ledger.get(key) or state
        what = outcome.note or "recorded"
        if outcome.revert_to is not None:
            what += f" (reverted to {outcome.revert_to.value})"
        out = new_line(lineno, item.external_id, state.source, item.type, reason=what, at=isoformat(now))
        out.update(ticket=key, ticket_id=state.ticket_id, type=item.type)
        from_state(out, after)
        if outcome.refused is not None:
            out["refused"] = outcome.refused
        if kind is EventKind.LINK_CHANGE:
            out.update(action="change", change=event.detail, status=after.status.value)
        lines = [out]
        lines.extend(self.knowledge.after_control(lineno, after, data, item.external_id, now))
        if self.sweep is not None:
            closed_with = outcome.changes.get("closure_code") if outcome.status is TicketStatus.CLOSED else None
            code = closed_with if isinstance(closed_with, ClosureCode) else None
            lines.extend(self.links.problems(item.external_id, after, now, code))
            for notice in outcome_notices(after, outcome, now, self.sweep):
                lines.extend(self._events(notice, after))
        return lines

    def _state_of(self, external_id: str) -> TicketState | None:
        key = self._ticket_for.get(external_id)
        return self.ledger.get(key) if key is not None else None

    def _change_closed(self, lineno: int, item: Control) -> list[dict[str, Any]]:
        """A change closed (``ref``): each incident that waited for it alone is back in progress.
        One ``change`` line answers (``ticket`` the first incident, ``tickets`` all of them),
        then the notices; an ``ignored`` line when no incident waited for it."""
        now = self.clock.now()
        ref = str(item.data.get("ref") or item.external_id)
        keys = [key for key in self.links.close(ref, now) if self.ledger.get(key) is not None]
        if not keys:
            reason = f"line {lineno}: no incident waits for change {ref!r}"
            return [new_line(lineno, None, None, Action.IGNORED.value, reason=reason, at=isoformat(now))]
        rules = self.pipeline.rules
        changes = rules.links.changes if rules.links is not None else None
        notes: list[str] = []
        notices: list[dict[str, Any]] = []
        afters: list[TicketState] = []
        for key in keys:
            state = self.ledger.get(key)
            assert state is not None
            event = Event(EventKind.CHANGE_CLOSED, now, detail=ref)
            outcome = apply_event(state, event, self.roster, lifecycle=rules.lifecycle, changes=changes)
            record_outcome(self.ledger, state, outcome, now)
            after = self.ledger.get(key) or state
            afters.append(after)
            notes.append(f"{key}: {outcome.note or 'recorded'}")
            if self.sweep is not None:
                for notice in outcome_notices(after, outcome, now, self.sweep):
                    notices.extend(self._events(notice, after))
        first = afters[0]
        external_id = self._external_for.get(first.key, first.external_id)
        out = new_line(lineno, external_id, first.source, "change", reason="; ".join(notes), at=isoformat(now))
        out.update(ticket=first.key, ticket_id=first.ticket_id, type=CHANGE_CLOSED, change=ref)
        from_state(out, first)
        out.update(status=first.status.value, tickets=keys)
        return [out, *notices]

    @property
    def _wait(self) -> ClosingWait | None:
        """The confirmation wait, with the sweep (``--until``) only: without the clock running,
        nothing waits."""
        return self.sweep.closing_wait if self.sweep is not None else None

    def _open_not_completed(self, state: TicketState, new: NewTicket, now: datetime) -> None:
        self.ledger.ticket_add(reopened_state(state, new, now), "simulate")
        self._number(new.key)
        if state.external_id is not None:  # later lines about this report act on the open ticket
            self._ticket_for[state.external_id] = new.key

    def _events(self, notice: Notice, state: TicketState, step: Fired | None = None) -> list[dict[str, Any]]:
        """One event line per channel the notice goes out on, with its recipients."""
        assert self.sweep is not None
        if self.notifications is not None:
            plans = [(d.channel, [r.address for r in d.recipients]) for d in self.notifications.plan(notice)]
        else:
            plans = [(c, []) for c in self.sweep.notices.channels_for(notice.kind, notice.priority)]
        base: dict[str, Any] = {
            "type": notice.kind.value,
            "external_id": self._external_for.get(state.key, state.external_id),
            "ticket": state.key,
            "ticket_id": state.ticket_id,
            "at": isoformat(self.clock.now()),
            "due": isoformat(notice.due_at),
            "late": notice.late,
            "priority": int(notice.priority),
            "level": notice.level,
            "role": ",".join(notice.roles),
            "stage": notice.stage.value if notice.stage is not None else None,
            "status": notice.status.value if notice.status is not None else None,
            "detail": notice.detail or None,
        }
        return [{**base, "channel": channel, "recipients": recipients} for channel, recipients in plans]

    def _describe(self, lineno: int, decision: Decision, now: datetime) -> dict[str, Any]:
        alert = decision.alert
        out = new_line(
            lineno, alert.external_id, alert.source, decision.action.value, reason=decision.reason, at=isoformat(now)
        )
        out["fingerprint"] = decision.fingerprint
        out["rule"] = decision.rule
        out["ticket"] = decision.ticket_key
        ticket = decision.new_ticket
        if ticket is not None:
            for name in TICKET_FIELDS:
                out[name] = getattr(ticket, name)
            out.update(impact=int(ticket.impact), urgency=int(ticket.urgency), priority=int(ticket.priority))
            out["sla_due"] = isoformat(ticket.sla_due)
            out["rule"] = f"{decision.rule}; classified by {ticket.rule}" if ticket.rule else decision.rule
        else:
            state = self.ledger.get(decision.ticket_key) if decision.ticket_key else None
            if state is not None:
                from_state(out, state)
        if decision.ticket_key:
            state = self.ledger.get(decision.ticket_key)
            out["ticket_id"] = state.ticket_id if state is not None else None
        related = self.ledger.get(decision.related_key) if decision.related_key else None
        if related is not None:
            if decision.action in (Action.DUPLICATE, Action.APPEND) and not decision.is_reply:
                out["duplicate_of"] = related.external_id
            elif decision.action is Action.RECURRENCE:
                out["recurrence_of"] = related.external_id
        if decision.action in (Action.FLAPPING, Action.CHILD, Action.STORM):  # the alert-noise actions name
            out["parent"] = decision.related_key  # their incident
        elif decision.cause is not None and decision.cause.adopts:
            out["children"] = list(decision.cause.adopts)
        return out


def _dead(lineno: int, external_id: str, reason: str, now: datetime) -> dict[str, Any]:
    """The line of an input line that could not be applied (``dead_letter``, with the reason)."""
    return new_line(lineno, external_id, None, Action.DEAD_LETTER.value, reason=reason, at=isoformat(now))


def run_lines(lines: Iterable[str], simulator: Simulator, default_source: str = "replay") -> Iterator[dict[str, Any]]:
    """The output lines for each input line that is not blank or a comment."""
    for lineno, text in enumerate(lines, start=1):
        item = parse_line(text, lineno, default_source)
        if item is not None:
            yield from simulator.feed(lineno, item)


def simulate(
    lines: Iterable[str],
    pipeline: Pipeline,
    out: TextIO,
    start: datetime | None = None,
    *,
    until: datetime | None = None,
    sweep: SweepRules | None = None,
    notifications: Notifications | None = None,
    roster: Roster | None = None,
    forget: bool = False,
) -> dict[str, int]:
    """Print one JSON object per input line (and, with ``until``, per event the clock causes);
    returns how many lines had each action or event type. ``forget`` (``--forget-finished``):
    bounded memory for long streams — finished tickets past every rule window are forgotten, so a
    later control line that names one finds no ticket; off by default, the output is then the
    same as ever."""
    counts: dict[str, int] = {}
    simulator = Simulator(
        pipeline,
        start,
        sweep=sweep if until is not None else None,
        notifications=notifications,
        roster=roster,
        forget=forget,
    )

    def emit(result: dict[str, Any]) -> None:
        name = result.get("action") or result["type"]
        counts[name] = counts.get(name, 0) + 1
        out.write(json.dumps(result, ensure_ascii=False) + "\n")

    for result in run_lines(lines, simulator):
        emit(result)
    if until is not None:
        for result in simulator.run_until(until):
            emit(result)
    return counts
