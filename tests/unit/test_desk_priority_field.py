# ruff: noqa: F811  (the fixtures of test_adoption are imported and used by name)
"""Issue 12, item 3: a person who changes the helpdesk's own *priority* field (Redmine's priority,
GLPI's) is changing the priority by hand — read from the history on the local backend and a fake
clock: the matrix is applied (the priority written back, a note saying why), a change without a
reason is reported to the incident manager at that minute, one with a reason is not."""

from __future__ import annotations

from datetime import timedelta

from connector.domain.clock import FakeClock
from connector.domain.models import Impact, Priority, Urgency
from connector.notify.people import Directory
from connector.process.roster import DirectoryRoster
from connector.runtime.engine import Engine
from connector.runtime.syncback import SyncBack
from tests.unit.test_adoption import (  # noqa: F401  (the fixtures are used by name)
    INCIDENT_MANAGER,
    T0,
    Sent,
    backend,
    cycle,
    desk_ticket,
    directory,
    engine,
    sent,
    ticket,
)


def test_a_priority_set_by_hand_against_the_matrix_is_put_back_and_a_missing_reason_reported(
    engine: Engine, clock: FakeClock, sent: Sent, directory: Directory
) -> None:
    sync = SyncBack(engine, DirectoryRoster(directory))
    cycle(engine, sync)
    tid = desk_ticket(engine, impact=Impact.GENERAL, urgency=Urgency.NORMAL)  # the matrix: P3
    clock.set(T0 + timedelta(minutes=1))
    cycle(engine, sync)
    key = f"helpdesk:{tid}"
    assert engine.store.get(key).priority is Priority.MEDIUM  # type: ignore[union-attr]
    sent.clear()

    # the desk raises Redmine's priority to P1 with no reason: the matrix stands, reported at 02:43
    clock.set(T0 + timedelta(minutes=2))
    backend(engine).update_ticket(tid, {"priority": Priority.HIGHEST}, actor="desk")
    clock.set(T0 + timedelta(minutes=3))
    cycle(engine, sync)
    state = engine.store.get(key)
    assert state is not None and state.priority is Priority.MEDIUM
    assert ticket(engine, tid)["priority"] == 3  # written back
    notes = ticket(engine, tid)["notes"]
    assert any("P1 set by desk disagrees with the matrix: impact 3 × urgency 3 gives P3" in n for n in notes)
    assert any("优先级变更无原因 priority changed P3 → P3" in n for n in notes)
    policy = [(c, a) for c, k, a, _ in sent if k == key]
    assert policy == [("email", (INCIDENT_MANAGER,))]
    sent.clear()

    # with a reason in the same change: the matrix still stands, nobody is alerted
    clock.set(T0 + timedelta(minutes=4))
    backend(engine).update_ticket(tid, {"priority": Priority.HIGH}, "VIP user", actor="desk")
    clock.set(T0 + timedelta(minutes=5))
    cycle(engine, sync)
    assert ticket(engine, tid)["priority"] == 3
    assert any(
        "优先级变更 priority changed P3 → P3 (impact 3 × urgency 3) by desk: VIP user" in n
        for n in ticket(engine, tid)["notes"]
    )
    assert [k for _, k, _, _ in sent if k == key] == []
