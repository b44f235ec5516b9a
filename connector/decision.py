"""What the pipeline decided to do with one alert; the outbox turns it into backend operations."""

from __future__ import annotations

__all__ = ["Action", "Decision"]

from dataclasses import dataclass
from enum import StrEnum

from connector.models import Alert, Ticket


class Action(StrEnum):
    """The outcome of one alert."""

    CREATE = "create"  # a new ticket
    DUPLICATE = "duplicate"  # a new ticket marked duplicate, linked to its master
    RECURRENCE = "recurrence"  # a new ticket marked recurrence, related to the closed original
    APPEND = "append"  # a counted note on the master instead of a new ticket (storm guard)
    RESOLVE = "resolve"  # the source says the problem is over
    IGNORED = "ignored"  # seen before, or nothing to do
    DEAD_LETTER = "dead_letter"  # could not be processed; kept with the reason

    @property
    def creates_ticket(self) -> bool:
        """Whether this outcome makes a new ticket."""
        return self in (Action.CREATE, Action.DUPLICATE, Action.RECURRENCE)


@dataclass(frozen=True)
class Decision:
    """One alert's outcome, with the rule that made it and why (both are written to the ticket).

    ``ticket_key`` is the ticket acted on (the new one for create/duplicate/recurrence, the
    master for append, the existing one for resolve); ``related_key`` is the master or original.
    """

    action: Action
    alert: Alert
    ticket_key: str | None
    rule: str
    reason: str
    ticket: Ticket | None = None
    related_key: str | None = None

    @property
    def new_ticket(self) -> Ticket | None:
        """The ticket to create, when the outcome makes one."""
        return self.ticket if self.action.creates_ticket else None
