"""Tickets people open in the helpdesk, taken into the process (issue 12; seed §3.1.3.2: *all*
incidents): pure.

A desk engineer who takes a phone call opens the ticket in Redmine or GLPI; the connector did not
make it, yet the process covers it. The sync-back (and ``simulate``'s ``open`` line) hands such a
ticket here as a ``DeskTicket``:

* ``skip_reason`` — whether the site leaves it alone (``lifecycle.yaml``'s ``adoption``: a tracker,
  category or GLPI entity — with the entities below it — to skip, created before the adoption
  start);
* ``desk_alert`` — the ticket as an ``Alert`` of the source ``helpdesk`` (key ``helpdesk:<id>``, the
  key a reply to it already uses), so the same pipeline classifies it, applies the matrix to the
  desk's impact × urgency (``Pipeline.decide(assessed=True)``: a person's assessment is not
  overridden by a classification rule), correlates it (a duplicate of an alert-made ticket, a
  recurrence) and dates its SLA;
* ``adopted_ticket`` — the pipeline's ticket with what the desk wrote kept (the desk's category,
  group, CI win over the rules');
* ``adoption_writes`` — what to write back: the fields the desk left empty, the matrix priority
  (with a note when the desk's own priority disagreed), the SLA date, one note that says so.
"""

from __future__ import annotations

__all__ = ["HELPDESK_SOURCE", "DeskTicket", "adopted_ticket", "adoption_writes", "desk_alert", "skip_reason"]

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from connector.domain.models import Alert, Impact, Priority, Ticket, TicketSource, Urgency, ticket_changes
from connector.rules.people_files import AdoptionModel

#: the source name of an adopted ticket's alert: its key is ``helpdesk:<ticket id>``
HELPDESK_SOURCE = "helpdesk"

#: the fields the desk may have filled in, and the pipeline fills where it did not
FILLED = (
    "category",
    "area",
    "subarea",
    "nature",
    "service",
    "ci",
    "assignment_group",
    "location",
    "contact",
    "source",
    "impact",
    "urgency",
    "outage_start",
)


@dataclass(frozen=True)
class DeskTicket:
    """A ticket a person made in the helpdesk, as the helpdesk shows it: its decoded ``Ticket``
    fields (``fields``: only what someone filled in), its title and text, when and by whom."""

    ticket_id: str
    title: str
    created_at: datetime
    description: str = ""
    tracker: str | None = None
    author: str | None = None
    entity: str | None = None  # GLPI: the entity's complete name
    fields: Mapping[str, Any] = field(default_factory=dict)

    def given(self, name: str) -> Any:
        """The desk's value of a field, ``None`` when it left it empty."""
        value = self.fields.get(name)
        return None if value == "" else value


def skip_reason(desk: DeskTicket, rules: AdoptionModel, since: datetime | None) -> str | None:
    """Why the site leaves this ticket alone, or ``None`` to adopt it."""
    if not rules.enabled:
        return "adoption is off (lifecycle.yaml adoption.enabled)"
    if desk.tracker is not None and desk.tracker in rules.skip_trackers:
        return f"tracker {desk.tracker!r} is left alone (adoption.skip_trackers)"
    if desk.entity is not None and _within(desk.entity, rules.skip_entities):
        return f"entity {desk.entity!r} is left alone (adoption.skip_entities)"
    category = desk.given("category")
    if category is not None and category in rules.skip_categories:
        return f"category {category!r} is left alone (adoption.skip_categories)"
    if since is not None and desk.created_at < since:
        return f"created {desk.created_at.isoformat()}, before the adoption start {since.isoformat()}"
    return None


def _within(entity: str, skipped: list[str]) -> bool:
    """Whether ``entity`` is one of ``skipped`` or below one (GLPI's complete names: ``A > B``)."""
    return any(entity == name or entity.startswith(f"{name} > ") for name in skipped)


def desk_alert(desk: DeskTicket, rules: AdoptionModel) -> Alert:
    """The ticket as the pipeline's input: what the desk wrote, its source *user report* unless
    the desk chose another (``adoption.source``), its fault beginning at its outage start or
    its registration."""
    origin = desk.given("source") or rules.source
    return Alert(
        source=HELPDESK_SOURCE,
        external_id=desk.ticket_id,
        title=desk.title,
        description=desk.description,
        ci=desk.given("ci"),
        service=desk.given("service"),
        impact=_scale(Impact, desk.given("impact")),
        urgency=_scale(Urgency, desk.given("urgency")),
        reporter=desk.given("reporter") or desk.given("contact"),
        location=desk.given("location"),
        origin=TicketSource(origin),
        occurred_at=desk.given("outage_start") or desk.created_at,
    )


def adopted_ticket(ticket: Ticket, desk: DeskTicket) -> Ticket:
    """The pipeline's ticket with the desk's own values kept: a person's choice of category,
    group or CI is not overridden by a rule (the rules fill what they left empty)."""
    kept = {name: desk.given(name) for name in FILLED if desk.given(name) is not None}
    kept.pop("impact", None)  # impact and urgency went through the pipeline (assessed)
    kept.pop("urgency", None)
    return ticket.model_copy(update={**ticket_changes(kept), "ticket_id": desk.ticket_id})


def adoption_writes(ticket: Ticket, desk: DeskTicket, why: str) -> tuple[dict[str, Any], str]:
    """The changes to write to the adopted ticket and the note that says what was done: the
    empty fields filled, the matrix priority, the SLA date. ``why`` is the pipeline's reason
    (new, duplicate of …, recurrence of …)."""
    changes: dict[str, Any] = {
        name: getattr(ticket, name) for name in FILLED if desk.given(name) is None and getattr(ticket, name) is not None
    }
    changes.update(priority=ticket.priority, sla_due=ticket.sla_due, priority_reason=ticket.priority_reason)
    for name in ("duplicate_of", "recurrence_of"):
        if getattr(ticket, name) is not None:
            changes[name] = getattr(ticket, name)
    lines = [
        f"接管 adopted into the incident process: P{int(ticket.priority)} ({ticket.priority_reason or 'matrix'}); {why}"
    ]
    own = desk.given("priority")
    if own is not None and Priority(own) is not ticket.priority:
        lines.append(
            f"优先级按矩阵 the desk set P{int(own)}, but impact {int(ticket.impact)} × urgency "
            f"{int(ticket.urgency)} gives P{int(ticket.priority)}: the priority is the matrix's (PROCESS §4)"
        )
    filled = sorted(set(changes) - {"priority", "sla_due", "priority_reason"})
    if filled:
        lines.append("filled in: " + ", ".join(filled))
    return changes, "\n".join(lines)


def _scale(kind: type[Impact] | type[Urgency], value: Any) -> Any:
    try:
        return kind(int(value)) if value is not None else None
    except ValueError:
        return None
