"""The sync-back adopts a ticket people made in the helpdesk (issue 12), end to end on the local
backend and a fake clock: the fields the desk left empty filled, the matrix priority (the desk's
own disagreeing priority noted), the SLA date, the opening notices; the same ladder as an
alert's on the clock; a second pass and a restart change nothing; old tickets and the site's
exclusions are left alone; the desk's rejection and priority change read from the history."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pluggy
import pytest

from connector.contracts.adapters import TicketSnapshot
from connector.contracts.notifiers import OutgoingMessage, Recipient
from connector.domain.clock import FakeClock
from connector.domain.models import Impact, Priority, Ticket, TicketSource, Urgency
from connector.notify.dispatch import Channel
from connector.notify.people import Directory, load_people
from connector.notify.render import Renderer
from connector.notify.settings import Notifications
from connector.plugins.local import LocalBackend
from connector.process.adoption import DeskTicket, skip_reason
from connector.process.escalation import SweepRules
from connector.process.pipeline import Pipeline
from connector.process.roster import DirectoryRoster
from connector.rules.ladder import load_escalation, load_notification_rules
from connector.rules.loading import default_rulebook
from connector.rules.people_files import AdoptionModel
from connector.runtime.engine import Engine
from connector.runtime.syncback import SyncBack
from tests.state_backend import make_store

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 26, 2, 40, tzinfo=UTC)
INCIDENT_MANAGER = "liao.qing@metro.example"

Sent = list[tuple[str, str, tuple[str, ...], str]]  # (channel, ticket key, addresses, subject)


class Recorder:
    """A notifier that keeps what it was asked to send, and to whom."""

    needs_recipients = True

    def __init__(self, channel: str, log: Sent) -> None:
        self.channel = channel
        self.log = log

    def send(self, message: OutgoingMessage, recipients: Sequence[Recipient]) -> None:
        self.log.append((self.channel, message.ticket_key, tuple(r.address for r in recipients), message.subject))

    def close(self) -> None:
        pass


@pytest.fixture
def sent() -> Sent:
    return []


@pytest.fixture
def directory() -> Directory:
    return Directory(load_people(ROOT / "config" / "people.example.yaml"))


@pytest.fixture
def engine(tmp_path: Path, clock: FakeClock, pm: pluggy.PluginManager, sent: Sent, directory: Directory) -> Engine:
    clock.set(T0)
    escalation, rules = load_escalation(), load_notification_rules()
    renderer = Renderer(service_desk="服务台 6000-8888", directory=directory, language="zh", timezone="Asia/Shanghai")
    channels = {
        name: Channel(name, name, Recorder(name, sent))  # type: ignore[arg-type]
        for name in ("email", "phone")
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


def backend(engine: Engine) -> LocalBackend:
    assert isinstance(engine.backend, LocalBackend)
    return engine.backend


def desk_ticket(engine: Engine, n: int = 1, **fields: Any) -> str:
    """A ticket the desk clerk ``desk`` opens in the helpdesk (not the connector)."""
    ticket = Ticket(
        key=f"desk-made-{n}",
        title="财务系统无法登录 cannot log in to the finance system",
        description="phone call from the finance department",
        ci="erp-app02",
        contact="li.na",
        source=TicketSource.USER_REPORT,
        **fields,
    )
    return backend(engine).create_ticket(ticket, actor="desk").ticket_id


def ticket(engine: Engine, ticket_id: str) -> dict[str, Any]:
    (found,) = [t for t in backend(engine).tickets() if str(t["id"]) == ticket_id]
    return found


def cycle(engine: Engine, sync: SyncBack) -> int:
    applied = sync.run()
    engine.drain_outbox()
    return applied


def test_a_desk_made_ticket_is_adopted_once_with_the_matrix_priority_and_its_sla_date(
    engine: Engine, clock: FakeClock, sent: Sent, directory: Directory
) -> None:
    sync = SyncBack(engine, DirectoryRoster(directory))
    cycle(engine, sync)  # the first pass: adoption starts now (T0)
    clock.set(T0 + timedelta(minutes=1))
    tid = desk_ticket(engine, impact=Impact.SEVERE, urgency=Urgency.URGENT, priority=Priority.LOW)
    clock.set(T0 + timedelta(minutes=2))
    cycle(engine, sync)

    state = engine.store.get(f"helpdesk:{tid}")
    assert state is not None and state.ticket_id == tid
    assert (state.priority, state.created_at) == (Priority.HIGH, T0 + timedelta(minutes=1))
    written = ticket(engine, tid)
    assert written["priority"] == 2  # the matrix: impact 2 × urgency 2, not the desk's P4
    assert datetime.fromisoformat(written["sla_due"]) == T0 + timedelta(minutes=16)  # 02:41 + P2 response 15 min
    assert written["category"] and written["assignment_group"]  # filled where the desk left them empty
    (note,) = [n for n in written["notes"] if n.startswith("接管 adopted")]
    assert "the desk set P4, but impact 2 × urgency 2 gives P2: the priority is the matrix's" in note
    # a P2 interrupts a service: the outage notice at once, by e-mail, the incident manager included
    outage = [(c, addresses) for c, key, addresses, subject in sent if key == f"helpdesk:{tid}" and "中断" in subject]
    assert outage and all(c == "email" and INCIDENT_MANAGER in a for c, a in outage)

    # a second pass, and a restart (a new sync-back on the same state) change nothing
    outbox = len(engine.store.outbox_rows())
    notes = len(ticket(engine, tid)["notes"])
    clock.set(T0 + timedelta(minutes=3))
    assert cycle(engine, sync) == 0
    assert cycle(engine, SyncBack(engine, DirectoryRoster(directory))) == 0
    assert (len(engine.store.outbox_rows()), len(ticket(engine, tid)["notes"])) == (outbox, notes)
    assert [s["key"] for s in engine.store.all_tickets()] == [f"helpdesk:{tid}"]


def test_a_ticket_made_in_the_second_of_the_first_pass_is_adopted(
    engine: Engine, clock: FakeClock, directory: Directory
) -> None:
    """Redmine stamps a creation in whole seconds: a ticket the desk made 0.2 s after the first
    pass reads as made at the start of that second, so the adoption start is a whole second."""
    clock.set(T0 + timedelta(milliseconds=700))
    sync = SyncBack(engine, DirectoryRoster(directory))
    cycle(engine, sync)  # the first pass
    since = sync.adopter.since()
    assert since == T0
    stamped = DeskTicket(ticket_id="9", title="t", created_at=T0, description="", tracker=None, entity=None, fields={})
    assert skip_reason(stamped, engine.pipeline.rules.lifecycle.adoption, since) is None
    older = DeskTicket(
        ticket_id="8",
        title="t",
        created_at=T0 - timedelta(seconds=1),
        description="",
        tracker=None,
        entity=None,
        fields={},
    )
    assert skip_reason(older, engine.pipeline.rules.lifecycle.adoption, since) is not None
    assert SyncBack(engine, DirectoryRoster(directory)).adopter.since() == T0  # kept across a restart


def test_an_adopted_ticket_escalates_on_the_clock_like_an_alert(
    engine: Engine, clock: FakeClock, sent: Sent, directory: Directory
) -> None:
    sync = SyncBack(engine, DirectoryRoster(directory))
    cycle(engine, sync)
    tid = desk_ticket(engine, impact=Impact.SEVERE, urgency=Urgency.URGENT)
    clock.set(T0 + timedelta(minutes=1))
    cycle(engine, sync)
    sent.clear()
    for minute in range(2, 12):
        clock.set(T0 + timedelta(minutes=minute))
        engine.sweep()
        engine.drain_outbox()
    steps = {s["step"]: s["fired_at"][11:16] for s in engine.store.steps(f"helpdesk:{tid}")}
    # P2 (registered 02:40): escalation level 1 at 5 minutes, the SLA response warning at 10
    assert steps["escalation:1"] == "02:45" and steps["sla_warning:response"] == "02:50"
    project_manager = [a for c, key, a, s in sent if key == f"helpdesk:{tid}" and "chen.gang@metro.example" in a]
    assert project_manager  # the project manager (level 1) was told


def test_a_ticket_created_before_the_adoption_start_is_left_alone(engine: Engine, clock: FakeClock) -> None:
    old = desk_ticket(engine, 1)  # at T0, before the connector's first pass
    clock.set(T0 + timedelta(minutes=5))
    sync = SyncBack(engine)
    cycle(engine, sync)
    assert engine.store.get(f"helpdesk:{old}") is None
    assert "接管" not in " ".join(ticket(engine, old)["notes"])


def test_the_site_leaves_trackers_and_categories_alone_and_may_turn_adoption_off() -> None:
    desk = DeskTicket("7", "printer jam", T0, tracker="Request", fields={"category": "桌面终端"})
    assert skip_reason(desk, AdoptionModel(), None) is None
    assert skip_reason(desk, AdoptionModel(skip_trackers=["Request"]), None) == (
        "tracker 'Request' is left alone (adoption.skip_trackers)"
    )
    assert skip_reason(desk, AdoptionModel(skip_categories=["桌面终端"]), None) == (
        "category '桌面终端' is left alone (adoption.skip_categories)"
    )
    assert skip_reason(desk, AdoptionModel(enabled=False), None) == "adoption is off (lifecycle.yaml adoption.enabled)"
    assert skip_reason(desk, AdoptionModel(), T0 + timedelta(seconds=1)) is not None


def test_a_ticket_another_connector_made_is_not_adopted(engine: Engine, clock: FakeClock) -> None:
    sync = SyncBack(engine)
    cycle(engine, sync)
    snapshot = TicketSnapshot("99", "zabbix:elsewhere", None, T0)
    assert sync.adopter.since() == T0
    # a snapshot with a key the ledger does not know: another state file's ticket, left alone
    engine.backend = _OneSnapshot(snapshot)  # type: ignore[assignment]
    clock.set(T0 + timedelta(minutes=1))
    assert sync.run() == 0
    assert engine.store.all_tickets() == []


class _OneSnapshot:
    name = "local"

    def __init__(self, snapshot: TicketSnapshot) -> None:
        self.snapshot = snapshot

    def changed_since(self, since: datetime) -> list[TicketSnapshot]:
        return [self.snapshot]


def test_a_handler_rejecting_in_the_helpdesk_sends_it_back_and_the_second_rejection_escalates(
    engine: Engine, clock: FakeClock, sent: Sent, directory: Directory
) -> None:
    sync = SyncBack(engine, DirectoryRoster(directory))
    cycle(engine, sync)
    tid = desk_ticket(engine, impact=Impact.GENERAL, urgency=Urgency.NORMAL)
    helpdesk = backend(engine)
    clock.set(T0 + timedelta(minutes=1))
    helpdesk.update_ticket(tid, {"assignee": "wangf", "assignment_group": "finance-apps"}, actor="desk")
    clock.set(T0 + timedelta(minutes=2))
    cycle(engine, sync)
    sent.clear()

    # wangf takes himself off with no reason: refused, reported, the assignment written back
    clock.set(T0 + timedelta(minutes=3))
    helpdesk.update_ticket(tid, {"assignee": None}, actor="wangf")
    clock.set(T0 + timedelta(minutes=4))
    cycle(engine, sync)
    state = engine.store.get(f"helpdesk:{tid}")
    assert state is not None and (state.assignee, state.rejections) == ("wangf", 0)
    assert any(n.startswith("拒绝被撤销 rejection refused: wangf") for n in ticket(engine, tid)["notes"])
    assert ticket(engine, tid)["assignee"] == "wangf"  # reverted in the helpdesk
    policy = [(c, a) for c, key, a, subject in sent if key == f"helpdesk:{tid}"]
    assert ("email", (INCIDENT_MANAGER,)) in policy

    # with a reason: back to the service desk's group, no assignee
    clock.set(T0 + timedelta(minutes=5))
    helpdesk.update_ticket(tid, {"assignee": None}, "not ours: the login service is the network's", actor="wangf")
    clock.set(T0 + timedelta(minutes=6))
    cycle(engine, sync)
    state = engine.store.get(f"helpdesk:{tid}")
    assert state is not None and (state.assignee, state.assignment_group, state.rejections) == (
        None,
        "service-desk",
        1,
    )
    assert ticket(engine, tid)["assignment_group"] == "service-desk"
    sent.clear()

    # dispatched again, rejected again: the second failed dispatch escalates to the incident manager
    clock.set(T0 + timedelta(minutes=7))
    helpdesk.update_ticket(tid, {"assignee": "zhangw", "assignment_group": "network"}, actor="desk")
    clock.set(T0 + timedelta(minutes=8))
    helpdesk.update_ticket(tid, {"assignee": None}, "a login problem, not the network", actor="zhangw")
    clock.set(T0 + timedelta(minutes=9))
    cycle(engine, sync)
    state = engine.store.get(f"helpdesk:{tid}")
    assert state is not None and state.rejections == 2
    notes = ticket(engine, tid)["notes"]
    assert any("assignment rejected 2 times (failed dispatches, limit 2): escalated" in n for n in notes)
    to_manager = [a for c, key, a, subject in sent if key == f"helpdesk:{tid}" and a == (INCIDENT_MANAGER,)]
    assert len(to_manager) >= 2  # the cross-group dispatch report and the escalation
