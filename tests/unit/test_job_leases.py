"""Two daemons on one state, on a fake clock: the sweep runs on the one that holds its lease; when
that daemon dies in the middle of a sweep (its lease neither renewed nor released), the other
takes the sweep over within the lease time and no escalation/notice/SLA step fires twice. A
daemon that cannot renew stops its leased job before the lease can expire; a job's exception is
counted and the job goes on; decisions and outbox operations are shared without doubles.

The job runner's threads are not started: each test turns the runner's ``tick`` (what a job
thread does each time) and the keeper's ``renew_all`` (what the keeper thread does) by hand."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pluggy
import pytest

import connector.runtime.sweep_pass as sweep_pass_module
from connector.domain.clock import FakeClock
from connector.domain.errors import StoreError
from connector.domain.models import Alert
from connector.notify.dispatch import Channel
from connector.notify.people import Directory, load_people
from connector.notify.render import Renderer
from connector.notify.settings import Notifications
from connector.plugins.local import LocalBackend
from connector.process.escalation import SweepRules
from connector.process.pipeline import Pipeline
from connector.rules.ladder import load_escalation, load_notification_rules
from connector.rules.loading import default_rulebook
from connector.runtime.engine import Engine
from connector.runtime.jobs import Job, JobRunner, LeaseKeeper, lease_lost
from connector.runtime.metrics import Metrics
from connector.state.store import Store
from tests.unit.test_escalation_day import ROOT, SEVERITY, Recorder, expected_steps

T0 = datetime(2026, 11, 26, 2, 40, tzinfo=UTC)
LEASE, RENEW, TICK = 30.0, 10.0, 10  # seconds; the job threads' turn is every TICK seconds


class Killed(BaseException):
    """The process died here (a BaseException: nothing in the engine catches it)."""


class Node:
    """One daemon: its engine (own connections to the shared state and helpdesk files), its
    lease keeper and its job runner with a sweep job."""

    def __init__(self, tmp_path: Path, clock: FakeClock, pm: pluggy.PluginManager, sent: list[Any]) -> None:
        directory = Directory(load_people(ROOT / "config" / "people.example.yaml"))
        escalation, rules = load_escalation(), load_notification_rules()
        renderer = Renderer(service_desk="desk", directory=directory, language="en", timezone="Asia/Shanghai")
        channels = {
            name: Channel(name, address, Recorder(name, sent))  # type: ignore[arg-type]
            for name, address in (("email", "email"), ("phone", "phone"))
        }
        rulebook = default_rulebook()
        self.engine = Engine(
            store=Store(tmp_path / "state.db"),
            backend=LocalBackend(tmp_path / "tickets.db", clock),
            sources={},
            pipeline=Pipeline.from_manager(pm, rulebook),
            clock=clock,
            sweep_rules=SweepRules(rulebook.sla, escalation, rules),
            notifications=Notifications(directory, escalation, rules, renderer, channels),
        )
        self.keeper = LeaseKeeper(
            self.engine.store,
            clock,
            self.engine.holder,
            lease_seconds=LEASE,
            renew_seconds=RENEW,
            also=self.engine.renew_claims,
        )
        self.metrics = Metrics()
        self.sweep = Job("sweep", TICK, self.engine.sweep)
        self.runner = JobRunner([self.sweep], self.keeper, stopping=self.engine.stopping, metrics=self.metrics)
        self.alive = True

    def turn(self) -> bool:
        """What this daemon's threads do in one TICK: renew, then the sweep's turn; then deliver."""
        self.keeper.renew_all()
        ran = self.runner.tick(self.sweep)
        self.engine.drain_outbox()
        return ran


@pytest.fixture
def sent() -> list[Any]:
    return []


@pytest.fixture
def nodes(tmp_path: Path, clock: FakeClock, pm: pluggy.PluginManager, sent: list[Any]) -> Iterator[list[Node]]:
    clock.set(T0)
    made = [Node(tmp_path, clock, pm, sent) for _ in range(2)]
    yield made
    for node in made:
        node.engine.store.close()


def open_one_of_each(engine: Engine) -> None:
    for priority, severity in SEVERITY.items():
        alert = Alert(
            source="zabbix",
            external_id=f"p{priority}",
            title=f"Service heartbeat lost (P{priority} test)",
            ci=f"host-p{priority}",
            host_groups=("Metro/Operations",),
            severity=severity,
            occurred_at=T0,
        )
        engine.ingest("zabbix", [alert])


def step_notices(sent: list[Any]) -> Counter[tuple[str, str, str]]:
    """(channel, ticket, step) of every step notice sent."""
    kinds = {"escalation", "notice", "sla_warning", "sla_breach"}
    return Counter(
        (channel, m.ticket_key, f"{m.data['kind']}:{m.data['level']}:{m.data['stage']}:{m.data['roles']}")
        for channel, m in sent
        if m.data["kind"] in kinds
    )


def test_the_sweep_holder_killed_mid_run_is_taken_over_within_the_lease_and_nothing_fires_twice(
    nodes: list[Node], clock: FakeClock, sent: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = nodes
    open_one_of_each(a.engine)
    a.engine.process_pending()
    b.engine.process_pending()  # both decide; each entry is decided once (the decide lock)
    assert a.engine.store.journal_counts() == {"done": 4}
    kill_at = 15 * 60  # seconds after T0: during the sweep that fires every ticket's 15-minute steps
    real = sweep_pass_module.sweep_ticket
    calls = {"n": 0}

    def dies_on_the_third_ticket(store: Any, *args: Any) -> Any:
        if a.alive and store is a.engine.store and clock.now() >= T0 + timedelta(seconds=kill_at):
            calls["n"] += 1
            if calls["n"] == 3:
                a.alive = False
                raise Killed
        return real(store, *args)

    monkeypatch.setattr(sweep_pass_module, "sweep_ticket", dies_on_the_third_ticket)
    taken_over_at = None
    for second in range(TICK, 3 * 3600 + 1, TICK):
        clock.set(T0 + timedelta(seconds=second))
        if a.alive:
            try:
                assert a.turn(), "the first daemon holds the sweep from the start"
            except Killed:
                died_at = clock.now()  # no release, no more renewals: its lease just runs out
        ran_b = b.turn()
        if a.alive:
            assert not ran_b, "two daemons swept at once"
        elif ran_b and taken_over_at is None:
            taken_over_at = clock.now()
    assert not a.alive and taken_over_at is not None
    assert timedelta(0) < taken_over_at - died_at <= timedelta(seconds=LEASE)
    # every step of the three hours fired once, on each channel once
    steps = a.engine.store.steps()
    assert len({(s["key"], s["step"]) for s in steps}) == len(steps)
    for priority in SEVERITY:
        fired = {s["step"] for s in steps if s["key"] == f"zabbix:p{priority}"}
        assert fired == set(expected_steps(priority, 3 * 60)), f"P{priority}"
    notices = step_notices(sent)
    assert notices and max(notices.values()) == 1, [k for k, n in notices.items() if n > 1]
    # what the killed sweep left undone (due before it died) was fired by the takeover
    left = [s for s in steps if s["due_at"] <= died_at.isoformat() and s["fired_at"] >= taken_over_at.isoformat()]
    assert left


def test_a_daemon_that_cannot_renew_stops_its_leased_job_before_the_lease_can_expire(
    nodes: list[Node], clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = nodes
    assert a.keeper.acquire("sweep")
    cut_at = clock.now()

    def unreachable(*args: Any, **kwargs: Any) -> bool:
        raise StoreError("the state cannot be reached")

    monkeypatch.setattr(a.engine.store, "lease_acquire", unreachable)  # the network split
    stopped_at = taken_at = None
    for second in range(1, 120):
        clock.set(cut_at + timedelta(seconds=second))
        if second % RENEW == 0:
            a.keeper.renew_all()  # fails: the old safe time stays and runs out
        if stopped_at is None and not a.keeper.holds("sweep"):
            stopped_at = clock.now()
        if taken_at is None and b.keeper.acquire("sweep"):
            taken_at = clock.now()
    assert stopped_at is not None and taken_at is not None
    assert stopped_at < taken_at and taken_at - cut_at >= timedelta(seconds=LEASE)


def test_lease_lost_is_what_a_leased_job_sees_on_its_thread(nodes: list[Node], clock: FakeClock) -> None:
    a, _ = nodes
    seen: list[bool] = []

    def long_job() -> None:  # no renewal comes while it runs (the keeper cannot reach the state)
        seen.append(a.engine.halted())
        clock.advance(seconds=LEASE - RENEW - 1)
        seen.append(a.engine.halted())
        clock.advance(seconds=1)  # the safe time is over: the lease could expire within RENEW
        seen.append(a.engine.halted())

    job = Job("long", 1, long_job)
    runner = JobRunner([job], a.keeper, stopping=a.engine.stopping, metrics=a.metrics)
    assert runner.tick(job) and seen == [False, False, True]
    assert not lease_lost() and not a.engine.halted()  # outside a job: never lost


def test_a_failing_job_is_counted_and_runs_again(nodes: list[Node]) -> None:
    a, _ = nodes
    runs: list[int] = []

    def fails() -> None:
        runs.append(1)
        raise RuntimeError("a bug in a job")

    job = Job("flaky", 1, fails, leased=False)
    runner = JobRunner([job], a.keeper, stopping=a.engine.stopping, metrics=a.metrics)
    assert runner.tick(job) and runner.tick(job)
    assert len(runs) == 2
    assert a.metrics.jobs.labels("flaky", "failed")._value.get() == 2


def test_a_claimed_operation_holds_back_its_ticket_on_the_other_daemon(nodes: list[Node], clock: FakeClock) -> None:
    a, b = nodes
    open_one_of_each(a.engine)
    a.engine.process_pending()
    first = a.engine.store.pending_ops(100)[0]
    assert first.ticket_key is not None
    assert a.engine.store.op_claim(first.id, a.engine.holder, clock.now(), 120)  # A is on it
    b.engine.drain_outbox()
    left = [op for op in b.engine.store.pending_ops(100) if op.ticket_key == first.ticket_key]
    assert left and left[0].id == first.id  # nothing of that ticket ran ahead of its create
    tickets = {t["key"] for t in b.engine.backend.tickets()}  # type: ignore[attr-defined]
    assert first.ticket_key not in tickets and len(tickets) == 3
    clock.advance(seconds=120)  # A died with the claim: B takes the operation over
    b.engine.drain_outbox()
    assert b.engine.store.outbox_counts() == {"done": len(b.engine.store.outbox_rows())}
    keys = [t["key"] for t in b.engine.backend.tickets()]  # type: ignore[attr-defined]
    assert sorted(keys) == sorted(set(keys)) and len(keys) == 4


def test_a_daemon_killed_after_the_helpdesk_created_but_before_done_leaves_no_double(
    nodes: list[Node], clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = nodes
    open_one_of_each(a.engine)
    a.engine.process_pending()
    real_done = a.engine.store.op_done

    def dies_before_done(op_id: int, now: datetime) -> None:
        raise Killed  # the helpdesk committed the create; the outbox never heard of it

    monkeypatch.setattr(a.engine.store, "op_done", dies_before_done)
    with pytest.raises(Killed):
        a.engine.drain_outbox()
    monkeypatch.setattr(a.engine.store, "op_done", real_done)
    (made,) = b.engine.backend.tickets()  # type: ignore[attr-defined]
    b.engine.drain_outbox()  # the first operation is still A's claim: its ticket waits
    assert [t["key"] for t in b.engine.backend.tickets()].count(made["key"]) == 1  # type: ignore[attr-defined]
    clock.advance(seconds=a.engine.claim_seconds)  # the claim runs out; B takes the operation over
    b.engine.drain_outbox()
    keys = [t["key"] for t in b.engine.backend.tickets()]  # type: ignore[attr-defined]
    assert sorted(keys) == sorted({f"zabbix:p{p}" for p in SEVERITY})  # one each, the first not twice
    assert b.engine.store.outbox_counts() == {"done": len(b.engine.store.outbox_rows())}


def test_a_daemon_without_the_sweep_lease_counts_the_holders_sweep_as_ready(
    nodes: list[Node], clock: FakeClock
) -> None:
    a, b = nodes
    assert a.runner.tick(a.sweep)
    standby = Job("sweep", TICK, b.engine.sweep, elsewhere=lambda: b.engine.health.sweep_done(clock.now()))
    runner = JobRunner([standby], b.keeper, stopping=b.engine.stopping, metrics=b.metrics)
    clock.advance(hours=1)
    assert b.engine.health.sweep_lag() > 0  # nobody swept on b: its /readyz would fail
    a.keeper.renew_all()
    assert not runner.tick(standby)  # a holds it
    assert b.engine.health.sweep_lag() == 0


def test_an_operation_that_runs_longer_than_its_claim_keeps_it_while_it_runs(
    nodes: list[Node], clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = nodes
    open_one_of_each(a.engine)
    a.engine.process_pending()
    backend: Any = a.engine.backend
    real_create = backend.create_ticket
    taken_by_b: list[bool] = []

    def slow_create(ticket: Any, **kwargs: Any) -> Any:  # a helpdesk answering after minutes
        for _ in range(int(a.engine.claim_seconds / RENEW) * 3):
            clock.advance(seconds=RENEW)
            a.keeper.renew_all()  # the keeper thread, meanwhile: it renews the claim
            (op,) = [o for o in a.engine.store.pending_ops(100) if o.op == "create"][:1]
            taken_by_b.append(b.engine.store.op_claim(op.id, b.engine.holder, clock.now(), b.engine.claim_seconds))
        return real_create(ticket, **kwargs)

    monkeypatch.setattr(backend, "create_ticket", slow_create)
    a.engine.drain_outbox(ignore_backoff=True)
    monkeypatch.setattr(backend, "create_ticket", real_create)
    assert taken_by_b and not any(taken_by_b)  # the other daemon never got it
    assert not a.engine.in_flight  # and nothing is left marked running
