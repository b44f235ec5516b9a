"""The sync-back's links to problem and change management (PROCESS §12; issue 13, items 1–2).

Three duties, each run from the sync-back (``connector.runtime.syncback``), each writing the
ledger and queueing the helpdesk's writes in one transaction, so a crash between two leaves
nothing half done and a repeat finds the work recorded:

* ``raise_problems`` — every ticket not closed that ``itil_links.yaml`` says raises a problem (a
  major incident: made P1, or raised to P1 since) and has joined none: the problem opened or
  joined (``connector.process.problems``), a ``problem`` operation (the record, created once
  under its key, the ``relates`` link, a note on the problem for a later incident) and a note
  on the incident;
* ``after_outcome`` — the same for a close the closure code of which raises one ("success but
  with a problem"), inside the transaction of that close;
* ``follow_changes`` — the changes people linked to incidents, read from the backend
  (``ChangeTracker``, two reads a pass whatever the number of tickets: the open changes with
  their links, and whether the changes incidents wait for are closed), each new link a
  ``link_change`` event and the closing of an incident's last open change a ``change_closed``
  event, through the sync-back's own ``handle`` (``connector.process.changes``).

A backend without the capability gets no problem operation, and its changes are not read.
"""

from __future__ import annotations

__all__ = ["LinksJob"]

import logging
from collections.abc import Callable
from dataclasses import asdict

from connector.domain.ledger import TicketState
from connector.domain.models import ClosureCode, TicketStatus
from connector.process.events import Event, EventKind
from connector.process.lifecycle import Outcome
from connector.process.problems import ProblemStep, problem_step, record_problem
from connector.rules.links import LinksFile
from connector.runtime.engine import BACKEND, Engine
from connector.runtime.outbox_ops import OpKind

log = logging.getLogger("connector.runtime.links")


class LinksJob:
    """Problem records and changes for one engine; ``handle`` applies one lifecycle event (the
    sync-back's ``SyncBack.handle``)."""

    def __init__(self, engine: Engine, rules: LinksFile | None, handle: Callable[[str, Event], Outcome | None]) -> None:
        self.engine = engine
        self.rules = rules
        self.handle = handle

    def run(self) -> None:
        """One pass: problems due, then the changes."""
        self.raise_problems()
        self.follow_changes()

    # --- problems --------------------------------------------------------------------------------

    def raise_problems(self) -> int:
        """Raise or join a problem for every ticket not closed that is due one; returns how many."""
        if self.rules is None or self.engine.capabilities.problems is None:
            return 0
        store = self.engine.store
        raised = 0
        for state in store.active_tickets():
            if self.engine.stopping.is_set():
                break
            if self.rules.raises_problem(state.priority) and store.problem_of(state.key) is None:
                with store.transaction():
                    raised += self._raise(state)
        return raised

    def after_outcome(self, state: TicketState, outcome: Outcome) -> None:
        """Inside the transaction of a lifecycle outcome: a close whose code raises a problem."""
        code = outcome.changes.get("closure_code")
        if self.rules is None or outcome.status is not TicketStatus.CLOSED or not isinstance(code, ClosureCode):
            return
        if self.engine.capabilities.problems is not None:
            self._raise(state, code)

    def _raise(self, state: TicketState, code: ClosureCode | None = None) -> int:
        assert self.rules is not None
        engine, store = self.engine, self.engine.store
        now = engine.clock.now()
        step = problem_step(state, store, self.rules, now, closure_code=code)
        if step is None or not record_problem(store, step, now):
            return 0
        store.enqueue(BACKEND, OpKind.PROBLEM.value, state.key, _payload(step), now)
        store.enqueue(BACKEND, OpKind.NOTE.value, state.key, {"text": step.incident_note}, now)
        log.info("%s → %s", state.key, step.incident_note)
        return 1

    # --- changes ---------------------------------------------------------------------------------

    def follow_changes(self) -> int:
        """Read the changes linked to incidents and apply their links and closings; returns how
        many events were applied."""
        tracker = self.engine.capabilities.changes
        if tracker is None:
            return 0
        store = self.engine.store
        now = self.engine.clock.now()
        by_id = {s.ticket_id: s.key for s in store.active_tickets() if s.ticket_id and not s.status.is_done}
        applied = 0
        if by_id:
            for link in tracker.linked_changes(sorted(by_id)):
                key = by_id.get(link.ticket_id)
                if key is None or link.closed:
                    continue
                with store.transaction():
                    if store.change_link_add(key, link.change_id, now):
                        what = f"#{link.change_id} {link.title}".strip()
                        self.handle(key, Event(EventKind.LINK_CHANGE, now, detail=what))
                        applied += 1
        waiting = store.open_change_links()
        if not waiting:
            return applied
        closed = tracker.closed_changes(sorted({change for _, change in waiting}))
        for key, change in waiting:
            if change not in closed:
                continue
            still_open = [c for k, c in waiting if k == key and c not in closed]
            with store.transaction():
                store.change_link_close(key, change, now)
                if not still_open and _last_of(key, change, waiting, closed):
                    self.handle(key, Event(EventKind.CHANGE_CLOSED, now, detail=f"#{change}"))
                    applied += 1
        return applied


def _last_of(key: str, change: str, waiting: list[tuple[str, str]], closed: set[str]) -> bool:
    """Whether ``change`` is the last of ``key``'s closed changes in this pass (one event for
    several changes that closed together)."""
    mine = [c for k, c in waiting if k == key and c in closed]
    return mine[-1] == change


def _payload(step: ProblemStep) -> dict[str, object]:
    return {
        "problem_key": step.problem_key,
        "record": asdict(step.record) if step.record is not None else None,
        "note": step.problem_note,
    }
