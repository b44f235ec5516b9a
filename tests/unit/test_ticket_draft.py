"""``Ticket.from_checked``: the pipeline's draft made without validating (issue 15's speed), the
same ticket the validating constructor makes from the same values, and a field its shared
template cannot hold refused loudly."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import Field

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
