"""Flapping (``flapping.yaml``, issue 18 item 3): one ticket for a trigger that comes and goes.

Pure: the alert, its fingerprint, the policy and a read-only ``TicketIndex`` in; a ``Decision``
(or ``None``: not flapping) out. Every problem and recovery of a fingerprint is a *state change*
the ledger remembers (``TicketLedger.change_add``). A new problem whose fingerprint changed state
more than ``max_changes`` times within ``window`` (counting itself) is flapping: instead of a
recurrence ticket it goes onto the ticket of the last problem (resolved within the window) —
re-opened once, marked flapping (``TicketState.flapping_since``) with one note giving the count — and
while that ticket flaps every later problem is counted on it and no recovery resolves it. When
its last recovery has held ``quiet`` with nothing changing, it *settled* (``settled``): the
clock's job resolves it with the total count, and the normal rules resume.
"""

from __future__ import annotations

__all__ = ["FlapPolicy", "flap", "last_change_of", "settled"]

from dataclasses import dataclass
from datetime import datetime, timedelta

from connector.domain.decision import Action, Decision, TicketUpdate
from connector.domain.ledger import TicketIndex, TicketState
from connector.domain.models import Alert, TicketStatus


@dataclass(frozen=True)
class FlapPolicy:
    """``flapping.yaml`` ready to apply (``connector.rules.build.build_dedup``)."""

    max_changes: int
    window: timedelta
    quiet: timedelta


def _minutes(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 60:g} min"


def flap(alert: Alert, fingerprint: str, policy: FlapPolicy, index: TicketIndex) -> Decision | None:
    """A new problem (not a recovery, not a repeat of a ticketed event) on a flapping trigger,
    or ``None`` when its fingerprint is not flapping."""
    current = index.flapping_ticket(fingerprint)
    if current is not None:
        # the changes after its first problem, the first problem itself, and this one
        count = index.state_changes(fingerprint, current.flapping_since or current.started_at) + 2
        return Decision(
            Action.FLAPPING,
            alert,
            current.key,
            "flapping",
            f"flapping: state change #{count} of this trigger, counted on {current.key}",
            related_key=current.key,
            fingerprint=fingerprint,
        )
    since = alert.occurred_at - policy.window
    changes = index.state_changes(fingerprint, since) + 1
    if changes <= policy.max_changes:
        return None
    if index.open_master(fingerprint) is not None:  # still open: a repeat (dedup.yaml), not a flap
        return None
    last = index.last_done(fingerprint, "resolved")
    done_at = last.done_at() if last is not None else None
    if last is None or last.status is TicketStatus.CLOSED or done_at is None or done_at < since:
        return None
    note = (
        f"抖动 flapping: this trigger changed state {changes} times within {_minutes(policy.window)} "
        f"(more than {policy.max_changes}): it keeps this one ticket — no recurrence tickets — and its "
        f"recoveries do not resolve it until one has held {_minutes(policy.quiet)}"
    )
    reopen = {"status": TicketStatus.IN_PROGRESS.value}
    return Decision(
        Action.FLAPPING,
        alert,
        last.key,
        "flapping.start",
        f"flapping: {changes} state changes within {_minutes(policy.window)}; kept on {last.key} (re-opened)",
        related_key=last.key,
        fingerprint=fingerprint,
        updates=(TicketUpdate(last.key, reopen, note),),
    )


def settled(state: TicketState, policy: FlapPolicy, index: TicketIndex, now: datetime) -> str | None:
    """Why the flapping ticket ``state`` is over at ``now`` (the resolution note), or ``None``
    while it is not: a problem it holds is still active, or its last recovery is younger than
    ``quiet``."""
    if state.flapping_since is None or state.status.is_done or state.fingerprint is None:
        return None
    if state.problem_recovered_at is None or index.open_repeats(state.key):
        return None
    last = index.last_change(state.fingerprint)
    if last is None or now - last < policy.quiet:
        return None
    count = index.state_changes(state.fingerprint, state.flapping_since) + 1  # and the first problem
    return (
        f"抖动结束 flapping settled: {count} state changes from {state.flapping_since.isoformat()} to "
        f"{last.isoformat()}; nothing changed for {_minutes(policy.quiet)} after the last recovery: resolved"
    )


def last_change_of(state: TicketState, index: TicketIndex) -> datetime | None:
    """When the trigger of a flapping ticket last changed state (its resolution time)."""
    return index.last_change(state.fingerprint) if state.fingerprint is not None else None
