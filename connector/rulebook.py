"""The rules the pipeline applies, as plain data (loaded from ``rules/*.yaml``).

The pipeline's rule hooks receive a ``RuleBook``; they never read files themselves, so one
loaded, validated book is what every alert sees.
"""

from __future__ import annotations

__all__ = ["RuleBook", "TicketIndex", "TicketState"]

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from connector.models import Impact, TicketSource, TicketStatus, Urgency
from connector.priority import DEFAULT_MATRIX, DEFAULT_SEVERITY_MAP


@dataclass(frozen=True)
class RuleBook:
    """Every table the process needs; the defaults are the seed's."""

    priority_matrix: Sequence[Sequence[int]] = DEFAULT_MATRIX
    severity_map: Mapping[int, tuple[Impact, Urgency]] = field(default_factory=lambda: dict(DEFAULT_SEVERITY_MAP))
    default_impact: Impact = Impact.GENERAL
    default_urgency: Urgency = Urgency.NORMAL
    #: which kind of source each source name is (anything else: monitoring)
    source_kinds: Mapping[str, TicketSource] = field(
        default_factory=lambda: {"email": TicketSource.USER_REPORT, "inspection": TicketSource.INSPECTION}
    )


@dataclass(frozen=True)
class TicketState:
    """What the connector's store knows about a ticket it made."""

    key: str
    ticket_id: str | None
    status: TicketStatus
    fingerprint: str | None
    created_at: datetime
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    master_key: str | None = None


class TicketIndex(Protocol):
    """Read-only view of the tickets the connector made, for correlation rules."""

    def get(self, key: str) -> TicketState | None:
        """The ticket with this connector key, if any."""
        ...
