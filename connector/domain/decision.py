"""What the pipeline decided to do with one alert; the outbox turns it into backend operations."""

from __future__ import annotations

__all__ = ["HELPDESK_KEY_PREFIX", "Action", "Cause", "Decision", "TicketUpdate", "helpdesk_key"]

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from connector.domain.models import Alert, Ticket

#: a ticket the connector did not make, named by its helpdesk id (a reply to a desk's ticket)
HELPDESK_KEY_PREFIX = "helpdesk:"


def helpdesk_key(ticket_id: str) -> str:
    """The key naming the helpdesk ticket ``ticket_id`` when the connector has no key for it."""
    return HELPDESK_KEY_PREFIX + ticket_id


class Action(StrEnum):
    """The outcome of one alert."""

    CREATE = "create"  # a new ticket
    DUPLICATE = "duplicate"  # a new ticket marked duplicate, linked to its master
    RECURRENCE = "recurrence"  # a new ticket marked recurrence, related to the closed original
    APPEND = "append"  # a counted note on the master instead of a new ticket (storm guard), or a reply
    RESOLVE = "resolve"  # the source says the problem is over
    WAIT = "wait"  # the ticket's own problem is over, but other problems it holds are still active
    FLAPPING = "flapping"  # a problem of a flapping trigger, kept on its one ticket (flapping.yaml)
    SUPPRESSED = "suppressed"  # in maintenance (maintenance.yaml): held, no ticket unless still active after
    CHILD = "child"  # a new ticket caused by an upstream's open incident (topology.yaml), linked under it
    STORM = "storm"  # a new ticket in an alert storm of one symptom, linked under the storm's incident
    IGNORED = "ignored"  # seen before, or nothing to do
    DEAD_LETTER = "dead_letter"  # could not be processed; kept with the reason

    # (plain attributes of each member, set below: the pipeline asks them several times per alert)
    #: whether this outcome makes a new ticket
    creates_ticket: bool
    #: whether the new ticket is counted on another (a duplicate, a child, a storm's member)
    under_parent: bool


for _action in Action:
    _action.creates_ticket = _action in (Action.CREATE, Action.DUPLICATE, Action.RECURRENCE, Action.CHILD, Action.STORM)
    _action.under_parent = _action in (Action.DUPLICATE, Action.CHILD, Action.STORM)
del _action


@dataclass(frozen=True)
class TicketUpdate:
    """A change to an existing ticket that a decision implies (e.g. the master's priority raised
    by a more severe repeat), with the note that says why; both are written to the ticket."""

    key: str
    changes: dict[str, Any]
    note: str
    confirmed: bool = False  # the user confirmed the ticket's resolution (IM 5.1): the ledger records when


@dataclass(frozen=True)
class Cause:
    """What cause correlation (``topology.yaml``) found for a new ticket: the CIs it depends on,
    its storm key (kind and symptom, whatever the CI), and the open tickets it adopts as its
    children (their upstream alarmed after them)."""

    upstreams: tuple[str, ...] = ()
    storm_key: str | None = None
    adopts: tuple[str, ...] = ()


@dataclass(frozen=True, init=False)
class Decision:
    """One alert's outcome, with the rule that made it and why (both are written to the ticket).

    ``ticket_key`` is the ticket acted on (the new one for create/duplicate/recurrence, the
    master for append, the existing one for resolve); ``related_key`` is the master or original.
    ``fingerprint`` is what correlation compared (``None``: the alert has none).
    """

    action: Action
    alert: Alert
    ticket_key: str | None
    rule: str
    reason: str
    ticket: Ticket | None = None
    related_key: str | None = None
    fingerprint: str | None = None
    updates: tuple[TicketUpdate, ...] = field(default=())
    #: a suppressed alert: when its maintenance ends (``None``: not known), when it opens if still active
    hold_until: datetime | None = None
    #: a new ticket's place in the topology (``None``: no topology applied)
    cause: Cause | None = None

    def __init__(
        self,
        action: Action,
        alert: Alert,
        ticket_key: str | None,
        rule: str,
        reason: str,
        ticket: Ticket | None = None,
        related_key: str | None = None,
        fingerprint: str | None = None,
        updates: tuple[TicketUpdate, ...] = (),
        hold_until: datetime | None = None,
        cause: Cause | None = None,
    ) -> None:
        # the dataclass's own ``__init__`` of a frozen class sets each field through
        # ``object.__setattr__``; one or two decisions per alert make that worth one call
        object.__setattr__(
            self,
            "__dict__",
            {
                "action": action,
                "alert": alert,
                "ticket_key": ticket_key,
                "rule": rule,
                "reason": reason,
                "ticket": ticket,
                "related_key": related_key,
                "fingerprint": fingerprint,
                "updates": updates,
                "hold_until": hold_until,
                "cause": cause,
            },
        )

    def with_ticket(self, ticket: Ticket) -> Decision:
        """The same decision about another version of its ticket (``dataclasses.replace``,
        spelled out: the pipeline does this for every new ticket)."""
        return Decision(
            self.action,
            self.alert,
            self.ticket_key,
            self.rule,
            self.reason,
            ticket,
            self.related_key,
            self.fingerprint,
            self.updates,
            self.hold_until,
            self.cause,
        )

    @property
    def new_ticket(self) -> Ticket | None:
        """The ticket to create, when the outcome makes one."""
        return self.ticket if self.action.creates_ticket else None

    @property
    def is_reply(self) -> bool:
        """A reply to an existing ticket (a note there), not a report of a problem."""
        return self.action is Action.APPEND and self.alert.reply_to is not None
