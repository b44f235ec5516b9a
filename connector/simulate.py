"""``itsm-connector simulate``: the pipeline's decisions for a file of alerts, without a helpdesk.

Each input line (an ``Alert`` as JSON, or a control line; see ``connector.replay``) runs
through the same pipeline as the daemon — the same hooks, the same rule book, the same
``apply_decision`` — against an in-memory ledger instead of the state file, and one JSON
object per input line is printed. The clock follows the input: a line is processed at its own
time (``occurred_at``, a recovery's ``recovered_at``, a control line's ``at``), never earlier
than the line before it, so the output is the same on every run.

Tickets are numbered 1, 2, … in the order they are made, as the local backend numbers them,
so a line with ``reply_to: "3"`` is a reply to the third ticket.
"""

from __future__ import annotations

__all__ = ["Simulator", "simulate"]

import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, TextIO

from connector.clock import FakeClock, isoformat
from connector.decision import Action, Decision
from connector.errors import RuleError
from connector.interfaces import Rejected
from connector.ledger import MemoryLedger, TicketState, apply_decision, record_status
from connector.models import Alert, TicketStatus
from connector.pipeline import Pipeline
from connector.replay import Control, parse_line

#: the fields of every output line, in order (the issue's list, then where and why)
FIELDS = (
    "line",
    "external_id",
    "source",
    "action",
    "fingerprint",
    "category",
    "area",
    "subarea",
    "nature",
    "service",
    "ci",
    "assignment_group",
    "impact",
    "urgency",
    "priority",
    "sla_due",
    "duplicate_of",
    "recurrence_of",
    "ticket",
    "ticket_id",
    "rule",
    "reason",
    "at",
)
_TICKET_FIELDS = ("category", "area", "subarea", "nature", "service", "ci", "assignment_group")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Simulator:
    """Feeds parsed lines through a pipeline one at a time, remembering what it made."""

    def __init__(self, pipeline: Pipeline, start: datetime | None = None) -> None:
        self.pipeline = pipeline
        self.ledger = MemoryLedger()
        self.clock = FakeClock(start or _EPOCH)
        self._seen: dict[tuple[str, str], int] = {}
        self._ticket_for: dict[str, str] = {}  # external id -> the newest ticket made for it
        self._numbers = 0

    def feed(self, lineno: int, item: Alert | Control | Rejected) -> dict[str, Any]:
        """The output line for one input line."""
        if isinstance(item, Rejected):
            return _line(lineno, item.external_id, item.source, Action.DEAD_LETTER.value, reason=item.reason)
        if isinstance(item, Control):
            return self._control(lineno, item)
        self.clock.set(item.recovered_at or item.occurred_at)
        now = self.clock.now()
        seen = self._seen.get((item.source, item.event_key))
        if seen is not None:
            reason = f"exact repeat of line {seen}: this event was already received (idempotency)"
            return _line(lineno, item.external_id, item.source, Action.IGNORED.value, reason=reason, at=isoformat(now))
        self._seen[(item.source, item.event_key)] = lineno
        try:
            decision = self.pipeline.decide(item, self.ledger, now)
        except RuleError as exc:
            return _line(
                lineno, item.external_id, item.source, Action.DEAD_LETTER.value, reason=str(exc), at=isoformat(now)
            )
        apply_decision(self.ledger, decision, now, "simulate")
        if decision.new_ticket is not None and decision.ticket_key is not None:
            self._numbers += 1
            self.ledger.set_ticket_id(decision.ticket_key, str(self._numbers))
            self._ticket_for[item.external_id] = decision.ticket_key
        return self._describe(lineno, decision, now)

    def _control(self, lineno: int, item: Control) -> dict[str, Any]:
        self.clock.set(item.at)
        now = self.clock.now()
        key = self._ticket_for.get(item.external_id)
        if item.type != "close":
            reason = f"line {lineno}: unknown control type {item.type!r} (known: close)"
            return _line(lineno, item.external_id, None, Action.DEAD_LETTER.value, reason=reason, at=isoformat(now))
        if key is None:
            reason = f"line {lineno}: no ticket was made for {item.external_id!r}, so there is nothing to close"
            return _line(lineno, item.external_id, None, Action.DEAD_LETTER.value, reason=reason, at=isoformat(now))
        state = self.ledger.get(key)
        assert state is not None
        record_status(self.ledger, key, TicketStatus.CLOSED, now)
        out = _line(
            lineno, item.external_id, state.source, "close", reason="closed as the helpdesk would", at=isoformat(now)
        )
        out.update(ticket=key, ticket_id=state.ticket_id, type="close")
        return out

    def _describe(self, lineno: int, decision: Decision, now: datetime) -> dict[str, Any]:
        alert = decision.alert
        out = _line(
            lineno, alert.external_id, alert.source, decision.action.value, reason=decision.reason, at=isoformat(now)
        )
        out["fingerprint"] = decision.fingerprint
        out["rule"] = decision.rule
        out["ticket"] = decision.ticket_key
        ticket = decision.new_ticket
        if ticket is not None:
            for name in _TICKET_FIELDS:
                out[name] = getattr(ticket, name)
            out.update(impact=int(ticket.impact), urgency=int(ticket.urgency), priority=int(ticket.priority))
            out["sla_due"] = isoformat(ticket.sla_due)
            out["rule"] = f"{decision.rule}; classified by {ticket.rule}" if ticket.rule else decision.rule
        else:
            state = self.ledger.get(decision.ticket_key) if decision.ticket_key else None
            if state is not None:
                _from_state(out, state)
        if decision.ticket_key:
            state = self.ledger.get(decision.ticket_key)
            out["ticket_id"] = state.ticket_id if state is not None else None
        related = self.ledger.get(decision.related_key) if decision.related_key else None
        if related is not None:
            if decision.action in (Action.DUPLICATE, Action.APPEND) and not decision.is_reply:
                out["duplicate_of"] = related.external_id
            elif decision.action is Action.RECURRENCE:
                out["recurrence_of"] = related.external_id
        return out


def _from_state(out: dict[str, Any], state: TicketState) -> None:
    for name in _TICKET_FIELDS:
        out[name] = state.content.get(name)
    out.update(
        impact=None if state.impact is None else int(state.impact),
        urgency=None if state.urgency is None else int(state.urgency),
        priority=None if state.priority is None else int(state.priority),
    )


def _line(
    lineno: int, external_id: str | None, source: str | None, action: str, *, reason: str, at: str | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = dict.fromkeys(FIELDS)
    out.update(line=lineno, external_id=external_id, source=source, action=action, reason=reason, at=at)
    return out


def run_lines(lines: Iterable[str], simulator: Simulator, default_source: str = "replay") -> Iterator[dict[str, Any]]:
    """The output line for each input line that is not blank or a comment."""
    for lineno, text in enumerate(lines, start=1):
        item = parse_line(text, lineno, default_source)
        if item is not None:
            yield simulator.feed(lineno, item)


def simulate(lines: Iterable[str], pipeline: Pipeline, out: TextIO, start: datetime | None = None) -> dict[str, int]:
    """Print one JSON object per input line; returns how many lines had each action."""
    counts: dict[str, int] = {}
    simulator = Simulator(pipeline, start)
    for result in run_lines(lines, simulator):
        counts[result["action"]] = counts.get(result["action"], 0) + 1
        out.write(json.dumps(result, ensure_ascii=False) + "\n")
    return counts
