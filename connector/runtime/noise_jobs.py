"""The clock's alert-noise jobs (issue 18): flapping tickets that settled, problems held
through a maintenance window that ended.

Both run in the sweep (``Engine.sweep``, every minute in the daemon, and in ``once``) and, by
each alert's own time, just before that alert is decided (``Engine.process_pending``), so a
backlog is decided as it would have been live — and as ``simulate`` decides it. Their
decisions have no journal entry of their own; ``Engine.commit_decision`` records each with its
operations and notices in one transaction.
"""

from __future__ import annotations

__all__ = ["release_holds", "settle_flapping"]

import logging
from dataclasses import replace
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from connector.domain.decision import Action, Decision
from connector.domain.errors import RuleError
from connector.domain.ledger import TicketIndex
from connector.domain.models import Alert
from connector.rules.flapping import last_change_of, settled

if TYPE_CHECKING:
    from connector.runtime.engine import Engine

log = logging.getLogger("connector")


def settle_flapping(engine: Engine, at: datetime | None = None) -> list[Decision]:
    """Resolve every flapping ticket whose trigger has been quiet long enough by ``at``
    (``flapping.yaml``: ``quiet_minutes`` after its last recovery; default: now). The
    resolution is dated at that last recovery, and a note says how many changes it counted."""
    policy = engine.pipeline.rules.dedup.flapping
    if policy is None:
        return []
    store = engine.store
    now = engine.clock.now()
    decisions = []
    when = at or now
    for state in store.flapping_quiet_since(when - policy.quiet):
        reason = settled(state, policy, store, when)
        last = last_change_of(state, store) if reason is not None else None
        if reason is None or last is None:
            continue
        alert = Alert(
            source=state.source or "flapping",
            external_id=state.external_id or state.key,
            title=str(state.content.get("title") or state.key),
            occurred_at=state.started_at,
            recovered_at=max(last, state.started_at),
        )
        decision = Decision(Action.RESOLVE, alert, state.key, "flapping.settled", reason)
        key = state.key
        engine.commit_decision(
            decision, now, note=f"{reason} (rule flapping.settled)", also=partial(store.ticket_set_flapping, key, None)
        )
        decisions.append(decision)
    return decisions


def release_holds(engine: Engine, at: datetime | None = None) -> list[Decision]:
    """Open the problems held during maintenance whose window ended by ``at`` (default: now)
    and that did not recover: each is decided again without its maintenance flag, so its ticket
    carries the original occurrence time (``maintenance.yaml``). A rule that fails on it
    dead-letters it, as for any alert."""
    store = engine.store
    now = engine.clock.now()
    decisions = []
    for held in store.holds_due(at or now):
        alert = held.model_copy(update={"maintenance": False, "maintenance_until": None})
        key = held.key
        try:
            decision = engine.pipeline.decide(alert, _Released(store, key), now)
        except RuleError as exc:
            with store.transaction():
                store.hold_release(key)
                store.dead_letter("rule", alert.source, alert.key, str(exc), alert.model_dump_json(), now)
            log.error("%s → dead letter: %s", alert.key, exc)
            continue
        decision = replace(decision, reason=f"still active when its maintenance ended: {decision.reason}")
        engine.commit_decision(decision, now, also=partial(store.hold_release, key))
        decisions.append(decision)
    return decisions


class _Released:
    """The store as correlation sees it once ``key`` is no longer held (the release and the
    decision are committed together, after it is decided)."""

    def __init__(self, index: TicketIndex, key: str) -> None:
        self._index = index
        self._key = key

    def __getattr__(self, name: str) -> Any:
        return getattr(self._index, name)

    def is_held(self, key: str) -> bool:
        return key != self._key and self._index.is_held(key)
