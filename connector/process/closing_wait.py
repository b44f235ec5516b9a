"""The wait for a user's confirmation, and the close that ends it (PROCESS §11, IM 5.1–5.2;
issue 12, item 4): pure.

When a ticket is resolved its user is asked to confirm. A rejection sends it back to
investigation; a confirmation lets the 1st line close it. A user who answers neither must not
keep a ticket open for ever: once ``lifecycle.yaml``'s ``confirmation.wait_working_days`` working
days (its ``calendar``) have passed since the resolution, the connector closes the ticket itself
— once, with the configured closure code, a note naming the wait, and the ``closed`` notice to
the user (``auto_close_note``; ``connector.process.lifecycle`` applies it as the event
``auto_close``). A confirmed ticket is left to the 1st line, as the seed has it.

A 1st-line close before the wait is over, of a ticket the user has not confirmed, stands (the
desk may know what the connector does not: a phone call), but it is noted as *closed before the
user confirmed* and counted in the ledger (``closed_unconfirmed``; ``early_close_note``).
"""

from __future__ import annotations

__all__ = ["auto_close_note", "close_due", "early_close_note"]

from datetime import datetime

from connector.domain.ledger import TicketState
from connector.domain.models import TicketStatus
from connector.rules.calendar import ClosingWait


def close_due(state: TicketState, wait: ClosingWait) -> datetime | None:
    """When the connector closes ``state`` for want of an answer: the end of the wait after its
    resolution; ``None`` when it does not (not resolved, a duplicate — its master closes it —,
    or confirmed by its user: the 1st line closes that one)."""
    if state.status is not TicketStatus.RESOLVED or state.resolved_at is None or state.master_key is not None:
        return None
    if state.confirmed:
        return None
    return wait.ends(state.resolved_at)


def auto_close_note(state: TicketState, wait: ClosingWait) -> str:
    """The note of the connector's close of ``state`` for want of an answer: it names the wait."""
    resolved = state.resolved_at.isoformat() if state.resolved_at is not None else "-"
    return (
        f"自动关闭 closed by the connector: resolved {resolved}, the user neither confirmed nor rejected the "
        f"resolution within {wait.describe()} (lifecycle.yaml confirmation.wait_working_days); closure code "
        f"{wait.closure_code.value}"
    )


def early_close_note(state: TicketState, wait: ClosingWait, at: datetime) -> tuple[str | None, bool]:
    """What a person's close of the resolved ``state`` at ``at`` says about the user's answer,
    and whether it counts as *closed before the user confirmed*: ``(None, False)`` when the user
    confirmed; a note naming the wait when it was over; else the early-close note, counted."""
    if state.status is not TicketStatus.RESOLVED or state.resolved_at is None or state.confirmed:
        return None, False
    ends = wait.ends(state.resolved_at)
    if at >= ends:
        note = (
            f"用户未答复 closed without the user's answer after the wait of {wait.describe()} "
            f"(resolved {state.resolved_at.isoformat()}, the wait ended {ends.isoformat()})"
        )
        return note, False
    note = (
        f"用户确认前关闭 closed before the user confirmed: resolved {state.resolved_at.isoformat()}, the wait of "
        f"{wait.describe()} for the user's answer ends {ends.isoformat()} (counted)"
    )
    return note, True
