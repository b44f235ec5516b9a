"""A whole day on a fake clock: one ticket of each priority, nobody touching them. Every
escalation step, timed notice and SLA warning/breach fires at exactly the seed's minute, once,
on the channels of its priority; a 3-hour outage of the daemon fires the missed steps once at
the restart, marked late, and never again."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pluggy
import pytest

from connector.contracts.notifiers import OutgoingMessage, Recipient
from connector.domain.clock import FakeClock
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
from tests.state_backend import make_store

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 26, 2, 40, tzinfo=UTC)  # the clock fixture's start

# The seed's tables, written out again by hand (PROCESS §5, §6, §8): minutes after creation.
ESCALATION = {1: (10, 15, 30), 2: (5, 10, 30), 3: (10, 15, 60), 4: (10, 15, 60)}
NOTICES = {  # project manager, maintenance manager, product manager, deputy director
    1: (5, 15, 20, 30),
    2: (10, 15, 30, 60),
    3: (15, 30, 60, 90),
    4: (15, 30, 60, 90),
}
RESPONSE = {1: (5, 10), 2: (10, 15), 3: (None, 15), 4: (None, 15)}  # (warning, breach)
RESTORE_HOURS = {1: 8, 2: 24, 3: 48, 4: 72}
CHANNELS = {1: {"phone", "email"}, 2: {"email"}, 3: {"email"}, 4: {"email"}}
SEVERITY = {1: 5, 2: 4, 3: 3, 4: 2}  # priority.yaml's severity defaults


def expected_steps(priority: int, day_minutes: int) -> dict[str, int]:
    roles = ("project_manager", "maintenance_manager", "product_manager", "deputy_director")
    steps = {f"escalation:{i}": m for i, m in enumerate(ESCALATION[priority], start=1)}
    steps.update({f"notice:{role}": m for role, m in zip(roles, NOTICES[priority], strict=True)})
    warning, breach = RESPONSE[priority]
    if warning is not None:
        steps["sla_warning:response"] = warning
    steps["sla_breach:response"] = breach
    if RESTORE_HOURS[priority] * 60 <= day_minutes:
        steps["sla_breach:restore"] = RESTORE_HOURS[priority] * 60
    return steps


class Recorder:
    """A notifier that keeps what it was asked to send."""

    needs_recipients = True

    def __init__(self, channel: str, log: list[tuple[str, OutgoingMessage]]) -> None:
        self.channel = channel
        self.log = log

    def send(self, message: OutgoingMessage, recipients: Sequence[Recipient]) -> None:
        self.log.append((self.channel, message))

    def close(self) -> None:
        pass


@pytest.fixture
def sent() -> list[tuple[str, OutgoingMessage]]:
    return []


@pytest.fixture
def engine(tmp_path: Path, clock: FakeClock, pm: pluggy.PluginManager, sent: list[Any]) -> Engine:
    clock.set(T0)
    directory = Directory(load_people(ROOT / "config" / "people.example.yaml"))
    escalation, rules = load_escalation(), load_notification_rules()
    renderer = Renderer(service_desk="服务台 6000-8888", directory=directory, language="zh", timezone="Asia/Shanghai")
    channels = {
        name: Channel(name, address, Recorder(name, sent))  # type: ignore[arg-type]
        for name, address in (("email", "email"), ("phone", "phone"))
    }
    rulebook = default_rulebook()
    return Engine(
        store=make_store(tmp_path / "state.db"),
        backend=LocalBackend(tmp_path / "tickets.db", clock),
        sources={},
        pipeline=Pipeline.from_manager(pm, rulebook),
        clock=clock,
        sweep_rules=SweepRules(rulebook.sla, escalation, rules),
        notifications=Notifications(directory, escalation, rules, renderer, channels),
    )


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
    engine.process_pending()
    engine.drain_outbox()


def minutes(at: str) -> float:
    return (datetime.fromisoformat(at) - T0).total_seconds() / 60


def walk(engine: Engine, clock: FakeClock, until: int, skip: range = range(0)) -> None:
    """Run the sweep every minute up to ``until``, except during ``skip`` (the daemon is down)."""
    for minute in range(1, until + 1):
        clock.set(T0 + timedelta(minutes=minute))
        if minute in skip:
            continue
        engine.sweep()
        engine.drain_outbox()


def test_a_day_of_one_ticket_per_priority(engine: Engine, clock: FakeClock, sent: list[Any]) -> None:
    open_one_of_each(engine)
    day = 24 * 60
    walk(engine, clock, day)
    steps = engine.store.steps()
    for priority in SEVERITY:
        key = f"zabbix:p{priority}"
        fired = {s["step"]: s for s in steps if s["key"] == key}
        want = expected_steps(priority, day)
        assert {name: minutes(s["due_at"]) for name, s in fired.items()} == want, f"P{priority}"
        assert all(minutes(s["fired_at"]) == minutes(s["due_at"]) for s in fired.values()), "fired at its minute"
        assert not any(s["late"] for s in fired.values())
    # every step is a notice on each channel of its priority, once (besides the opening notices)
    steps_kinds = {"escalation", "notice", "sla_warning", "sla_breach"}
    per_channel = Counter(channel for channel, m in sent if m.data["kind"] in steps_kinds)
    opening = Counter((channel, m.data["kind"]) for channel, m in sent if m.data["kind"] not in steps_kinds)
    assert opening == {("email", "status"): 4, ("email", "outage"): 2, ("phone", "outage"): 1}  # P1/P2 outage
    assert per_channel["phone"] == len(expected_steps(1, day))
    assert per_channel["email"] == sum(len(expected_steps(p, day)) for p in SEVERITY)
    # and each step wrote its note; the escalation level and the overdue flag are in the ticket
    tickets = {t["key"]: t for t in engine.backend.tickets()}  # type: ignore[attr-defined]
    p1 = tickets["zabbix:p1"]
    assert p1["escalation_level"] == 3 and p1["response_overdue"] is True and p1["resolution_overdue"] is True
    assert any(
        n.startswith("升级 escalation level 2 (maintenance_engineer): unresolved after 15 min") for n in p1["notes"]
    )
    assert tickets["zabbix:p3"]["resolution_overdue"] is False  # its 48 h are not over
    assert engine.store.dead_letters() == []


def test_field_21_follows_the_next_deadline(engine: Engine, clock: FakeClock) -> None:
    open_one_of_each(engine)
    ticket = {t["key"]: t for t in engine.backend.tickets()}["zabbix:p1"]  # type: ignore[attr-defined]
    assert minutes(ticket["sla_due"]) == 10  # the response deadline
    state = engine.store.get("zabbix:p1")
    assert state is not None
    engine.store.ticket_set_life("zabbix:p1", assigned_at=T0 + timedelta(minutes=4))  # the desk assigns it
    walk(engine, clock, 5)
    ticket = {t["key"]: t for t in engine.backend.tickets()}["zabbix:p1"]  # type: ignore[attr-defined]
    assert minutes(ticket["sla_due"]) == 4 + 15  # now the acceptance deadline
    assert "sla_breach:response" not in engine.store.fired_steps("zabbix:p1")


def test_a_three_hour_outage_fires_the_missed_steps_once_marked_late(
    engine: Engine, clock: FakeClock, sent: list[Any]
) -> None:
    open_one_of_each(engine)
    walk(engine, clock, 12 * 60, skip=range(20, 200))  # down from minute 20 to 199
    p1 = {s["step"]: s for s in engine.store.steps("zabbix:p1")}
    for name, due in expected_steps(1, 12 * 60).items():
        fired, late = minutes(p1[name]["fired_at"]), bool(p1[name]["late"])
        if 20 <= due < 200:
            assert (fired, late) == (200, True), name  # at the restart, once, late
        else:
            assert (fired, late) == (due, False), name
    assert len(engine.store.steps()) == sum(len(expected_steps(p, 12 * 60)) for p in SEVERITY)  # nothing twice
    late_steps = [s for s in engine.store.steps() if s["late"]]
    channels_of_late = sum(len(CHANNELS[int(s["key"].removeprefix("zabbix:p"))]) for s in late_steps)
    assert len([m for _, m in sent if m.short.startswith("【补发】")]) == channels_of_late  # each says it is late


def test_a_ticket_resolved_before_a_step_never_gets_it(engine: Engine, clock: FakeClock) -> None:
    open_one_of_each(engine)
    walk(engine, clock, 12)
    p1 = Alert(
        source="zabbix",
        external_id="p1",
        title="Service heartbeat lost (P1 test)",
        ci="host-p1",
        host_groups=("Metro/Operations",),
        severity=5,
        occurred_at=T0,
        recovered_at=T0 + timedelta(minutes=12, seconds=30),
    )
    clock.set(p1.recovered_at)  # type: ignore[arg-type]
    engine.ingest("zabbix", [p1])
    engine.process_pending()
    walk(engine, clock, 120)
    fired = engine.store.fired_steps("zabbix:p1")
    assert "escalation:1" in fired and "escalation:2" not in fired and "notice:deputy_director" not in fired


def test_a_storm_escalates_once_through_its_master(engine: Engine, clock: FakeClock, sent: list[Any]) -> None:
    for n in range(4):  # a master and three duplicates of it, a minute apart
        clock.set(T0 + timedelta(minutes=n))
        engine.ingest(
            "zabbix",
            [
                Alert(
                    source="zabbix",
                    external_id=f"s{n}",
                    title="Interface Gi1/0/1 down",
                    ci="core-sw01",
                    host_groups=("Metro/Network core",),
                    severity=5,
                    occurred_at=clock.now(),
                )
            ],
        )
        engine.process_pending()
        engine.drain_outbox()
    walk(engine, clock, 40)
    fired_on = {s["key"] for s in engine.store.steps()}
    assert fired_on == {"zabbix:s0"}  # the duplicates follow their master: no notices of their own
    escalations = [m for _, m in sent if m.data["kind"] == "escalation"]
    assert len(escalations) == 3 * 2  # L1–L3, by phone and e-mail, once


def test_a_resolved_ticket_gets_no_sla_step_however_long_the_clock_runs(
    engine: Engine, clock: FakeClock, sent: list[Any]
) -> None:
    """Measured on real Redmine: a P1 that a Zabbix recovery resolved at 19:22, never assigned, still
    got its SLA warning at 19:26 and breach at 19:31 and its "response overdue" flag set — the response
    clock stopped only at an assignment. A resolution stops every clock: nothing fires after it, for
    three days of sweeps, and the report agrees that nothing was late."""
    open_one_of_each(engine)
    walk(engine, clock, 3)
    recovered = T0 + timedelta(minutes=3, seconds=30)  # before the P1 response warning (5 min)
    clock.set(recovered)
    engine.ingest(
        "zabbix",
        [
            Alert(
                source="zabbix",
                external_id="p1",
                title="Service heartbeat lost (P1 test)",
                ci="host-p1",
                host_groups=("Metro/Operations",),
                severity=5,
                occurred_at=T0,
                recovered_at=recovered,
            )
        ],
    )
    engine.process_pending()
    engine.drain_outbox()
    before = len(sent)
    walk(engine, clock, 3 * 24 * 60)
    assert engine.store.fired_steps("zabbix:p1") == set()
    assert [m.data["kind"] for _, m in sent[before:] if m.data.get("ticket", {}).get("key") == "zabbix:p1"] == []
    p1 = {t["key"]: t for t in engine.backend.tickets()}["zabbix:p1"]  # type: ignore[attr-defined]
    assert p1["response_overdue"] is not True and p1["resolution_overdue"] is not True
    assert p1["sla_due"] is None  # field 21: nothing runs any more
    # the other tickets, unresolved, still got theirs: the sweep ran
    assert "sla_breach:response" in engine.store.fired_steps("zabbix:p2")
