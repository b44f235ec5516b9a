"""The pipeline's hand-made constructors (issue 15's speed): ``Ticket.from_checked``, the draft
made without validating, is the ticket the validating constructor makes from the same values, and
a field its shared template cannot hold is refused loudly; ``Decision.__init__``, written out,
takes every field of the dataclass in its order (a field added to one and not the other fails)."""

from __future__ import annotations

import dataclasses
import inspect
from datetime import UTC, datetime

import pytest
from pydantic import Field

from connector.domain.decision import Decision
from connector.domain.models import Impact, Ticket, TicketSource, Urgency


def test_a_draft_from_checked_values_is_the_ticket_the_constructor_makes() -> None:
    values = {
        "key": "zabbix:1",
        "title": "Disk full on web1",
        "description": "Disk full on web1",
        "source": TicketSource.MONITORING,
        "impact": Impact.SEVERE,
        "urgency": Urgency.URGENT,
        "outage_start": datetime(2026, 12, 6, 3, 0, tzinfo=UTC),
    }
    draft, made = Ticket.from_checked(values), Ticket(**values)
    assert draft == made and draft.model_dump() == made.model_dump()
    assert draft.model_fields_set == made.model_fields_set == set(values)


def test_a_field_with_a_default_factory_cannot_be_drafted_from_the_shared_template() -> None:
    class Tagged(Ticket):
        tags: list[str] = Field(default_factory=list)

    with pytest.raises(TypeError, match="tags's default_factory"):
        Tagged.from_checked({"key": "k", "title": "t", "description": "d"})


def test_decisions_written_out_constructor_takes_every_field_in_order() -> None:
    fields = [f.name for f in dataclasses.fields(Decision)]
    parameters = list(inspect.signature(Decision.__init__).parameters)[1:]
    assert parameters == fields
    defaults = {f.name: f.default for f in dataclasses.fields(Decision) if f.default is not dataclasses.MISSING}
    signature = inspect.signature(Decision.__init__).parameters
    assert {name: signature[name].default for name in defaults} == defaults
