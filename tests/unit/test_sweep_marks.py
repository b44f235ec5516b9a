"""The sweep that reads only the tickets with something due fires exactly what the full scan fires.

``Store.sweep_due_tickets`` skips a ticket until the moment ``next_wake`` wrote on it; a wrong
moment would be an escalation that never fires. So: for random ticket histories (created with a
random priority, re-prioritised, assigned, accepted, suspended and resumed, resolved, closed,
reopened, with the clock moving by random amounts between sweeps), one state file swept by full
scans and one swept by the fast passes must hold the same fired steps (same due and fired times)
and the same field 21 and escalation level on every ticket.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pluggy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.domain.clock import FakeClock
from connector.domain.ledger import TicketState
from connector.domain.models import Impact, Priority, TicketStatus, Urgency
from connector.plugins.local import LocalBackend
from connector.process.escalation import SweepResult, SweepRules
from connector.process.pipeline import Pipeline
from connector.process.sweep import ticket_steps
from connector.rules.loading import default_rulebook
from connector.runtime.engine import Engine
from connector.runtime.sweep_pass import sweep_pass
from connector.state.store import Store

START = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
RULES = SweepRules.of(default_rulebook(), None)

_op = st.one_of(
    st.tuples(st.just("create"), st.integers(1, 4), st.integers(1, 4)),
    # the clock moves by the ladder's and the SLA's own steps as often as by odd amounts, so sweeps
    # land exactly on due moments, where a mark one minute late would show
    st.tuples(st.just("wait"), st.sampled_from([1, 5, 5, 10, 15, 30, 60, 120, 240]) | st.integers(0, 600)),
    # the clock jumps to exactly the k-th next moment a step of some ticket falls due (as the
    # reference, ``ticket_steps``, says): where a mark even a second late would show
    st.tuples(st.just("jump"), st.integers(0, 3)),
    st.tuples(st.just("sweep")),
    st.tuples(st.just("priority"), st.integers(0, 3), st.integers(1, 4)),
    st.tuples(
        st.sampled_from(["assign", "accept", "suspend", "resume", "resolve", "close", "reopen"]), st.integers(0, 3)
    ),
)


def _ignore(result: SweepResult, now: datetime) -> None:
    """Nothing is queued in this test: only what the ledger records is compared."""


def _apply(store: Store, op: tuple[object, ...], now: datetime, keys: list[str]) -> None:
    kind = op[0]
    if kind == "create":
        key = f"t{len(keys)}"
        keys.append(key)
        impact, urgency = int(op[1]), int(op[2])  # type: ignore[call-overload]
        store.ticket_add(
            TicketState(
                key=key,
                ticket_id=None,
                status=TicketStatus.OPEN,
                fingerprint=key,
                created_at=now,
                impact=Impact(impact),
                urgency=Urgency(urgency),
                priority=Priority(min(impact, urgency)),
            ),
            "local",
        )
        return
    if not keys:
        return
    key = keys[int(op[1]) % len(keys)]  # type: ignore[call-overload]
    state = store.get(key)
    assert state is not None
    if kind == "priority":
        level = int(op[2])  # type: ignore[call-overload]
        store.ticket_set_priority(key, Impact(level), Urgency(level), Priority(level))
    elif kind == "assign" and state.assigned_at is None:
        store.ticket_set_life(key, assigned_at=now)
    elif kind == "accept" and state.assigned_at is not None and state.accepted_at is None:
        store.ticket_set_life(key, accepted_at=now)
    elif kind == "suspend" and state.suspended_since is None:
        store.ticket_set_life(key, suspended_since=now)
    elif kind == "resume" and state.suspended_since is not None:
        store.ticket_set_life(key, suspended_since=None, suspensions=(*state.suspensions, (state.suspended_since, now)))
    elif kind == "resolve" and state.status is TicketStatus.OPEN:
        store.ticket_set_status(key, TicketStatus.RESOLVED, now)
    elif kind == "close" and state.status is not TicketStatus.CLOSED:
        store.ticket_set_status(key, TicketStatus.CLOSED, now)
    elif kind == "reopen" and state.status is not TicketStatus.OPEN:
        store.ticket_set_status(key, TicketStatus.OPEN, now)


def _sweep(store: Store, now: datetime, *, full: bool) -> int:
    """One pass; returns how many tickets it read."""
    return sum(1 for _ in sweep_pass(store, RULES, now, full=full, queue=_ignore))


def _step_moments(store: Store, now: datetime) -> list[datetime]:
    """The moments after ``now`` at which some step of some ticket falls due, earliest first."""
    far = now + timedelta(days=365)
    moments = {
        step.due_at
        for state in store.active_tickets()
        for step in ticket_steps(state, RULES.sla, RULES.escalation, RULES.notices, far)
        if step.due_at > now
    }
    return sorted(moments)


def _outcome(store: Store) -> tuple[object, ...]:
    tickets = [(t["key"], t["sla_due"], t["escalation_level"]) for t in store.all_tickets()]
    steps = sorted((s["key"], s["step"], s["due_at"], s["fired_at"], s["late"]) for s in store.steps())
    return tuple(tickets), tuple(steps)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_op, min_size=1, max_size=40))
def test_the_fast_sweep_fires_what_the_full_scan_fires(ops: list[tuple[object, ...]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        full, fast = Store(Path(tmp) / "full.db"), Store(Path(tmp) / "fast.db")
        clock = FakeClock(START)
        full_keys: list[str] = []
        fast_keys: list[str] = []
        try:
            for op in [*ops, ("wait", 60 * 24 * 3), ("sweep",)]:
                if op[0] == "wait":  # the daemon sweeps as the clock moves; a "sweep" op sweeps again
                    clock.advance(timedelta(minutes=int(op[1])))  # type: ignore[call-overload]
                if op[0] == "jump":
                    ahead = _step_moments(full, clock.now())
                    if ahead:
                        clock.advance(ahead[min(int(op[1]), len(ahead) - 1)] - clock.now())  # type: ignore[call-overload]
                if op[0] in ("wait", "jump", "sweep"):
                    _sweep(full, clock.now(), full=True)
                    _sweep(fast, clock.now(), full=False)
                else:
                    with full.transaction():
                        _apply(full, op, clock.now(), full_keys)
                    with fast.transaction():
                        _apply(fast, op, clock.now(), fast_keys)
                assert _outcome(fast) == _outcome(full), op
        finally:
            full.close()
            fast.close()


def test_a_pass_with_nothing_due_reads_no_ticket(tmp_path: Path) -> None:
    """The point of the marks: after a pass, the next one a minute later reads only the tickets
    with a step or deadline in that minute (here none), and a write to a ticket makes it read."""
    store = Store(tmp_path / "state.db")
    clock = FakeClock(START)
    keys: list[str] = []
    with store.transaction():
        for _ in range(5):
            _apply(store, ("create", 3, 3), clock.now(), keys)
    assert _sweep(store, clock.now(), full=False) == 5  # never swept: empty marks
    clock.advance(timedelta(minutes=1))
    assert _sweep(store, clock.now(), full=False) == 0
    store.ticket_set_priority(keys[2], Impact.SEVERE, Urgency.URGENT, Priority.HIGH)
    assert _sweep(store, clock.now(), full=False) == 1
    clock.advance(timedelta(days=30))  # every step of every ticket is due by now
    assert _sweep(store, clock.now(), full=False) == 5
    store.close()


def test_every_write_to_a_ticket_row_clears_its_mark() -> None:
    """A write the mark does not hear of is a ticket the sweep could skip wrongly: every UPDATE
    of the tickets table in the state layer (other than the mark's own) sets it back to empty."""
    root = Path(__file__).resolve().parents[2] / "connector" / "state"
    found = 0
    for path in root.glob("*.py"):
        text = path.read_text()
        for chunk in text.split("UPDATE tickets SET")[1:]:
            statement = chunk.split("WHERE", 1)[0]
            found += 1
            assert "next_sweep_at" in statement, f"{path.name}: UPDATE tickets SET{statement}"
    assert found >= 5


def test_the_first_pass_and_a_pass_after_a_reload_read_every_ticket(
    tmp_path: Path, clock: FakeClock, pm: pluggy.PluginManager
) -> None:
    """The marks were computed under the rules of their pass: after a rule-book reload (a new
    ``SweepRules``, as ``runtime.reload`` sets) the engine reads every ticket once, whatever the
    marks say; until then it trusts them (here a mark forced to "never" hides a due step)."""
    clock.set(START)
    rulebook = default_rulebook()
    store = Store(tmp_path / "state.db")
    engine = Engine(
        store=store,
        backend=LocalBackend(tmp_path / "tickets.db", clock),
        sources={},
        pipeline=Pipeline.from_manager(pm, rulebook),
        clock=clock,
        sweep_rules=SweepRules.of(rulebook, None),
    )
    with store.transaction():
        _apply(store, ("create", 1, 1), clock.now(), [])
    store.ticket_set_next_sweep("t0", None)
    assert engine.sweep() == 0  # nothing due yet; the first pass read it anyway and marked it
    assert store.all_tickets()[0]["next_sweep_at"] == (START + timedelta(minutes=5)).isoformat()
    store.ticket_set_next_sweep("t0", None)
    clock.advance(timedelta(minutes=30))
    assert engine.sweep() == 0  # trusted the (forced) mark
    engine.sweep_rules = SweepRules.of(rulebook, None)  # a reload
    assert engine.sweep() > 0
    assert {s["step"] for s in store.steps("t0")} >= {"escalation:1", "escalation:3", "notice:project_manager"}
    store.close()
