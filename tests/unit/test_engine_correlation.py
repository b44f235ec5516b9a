"""What the engine writes into the helpdesk for each kind of decision: the duplicate link and
note, the cascade where the helpdesk does not resolve duplicates itself, the counted note of the
storm guard, a raised priority, a recurrence link, a reply and its attachments."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pluggy
import pytest

from connector.contracts.adapters import Resolution
from connector.domain.clock import FakeClock
from connector.domain.ledger import record_status
from connector.domain.models import Alert, Attachment, Priority, Ticket, TicketSource, TicketStatus
from connector.plugins.local import LocalBackend
from connector.process.escalation import SweepRules
from connector.process.pipeline import Pipeline
from connector.rules.loading import default_rulebook
from connector.runtime.engine import Engine
from connector.state.spool import Spool
from tests.state_backend import make_store


class NoCascade(LocalBackend):
    """A helpdesk like Redmine: resolving a master leaves its duplicates alone."""

    resolves_duplicates = False

    def resolve_ticket(self, ticket_id: str, resolution: Resolution) -> None:
        self.update_ticket(ticket_id, {"status": TicketStatus.RESOLVED.value}, resolution.note)


@pytest.fixture(params=[LocalBackend, NoCascade], ids=["cascading", "not-cascading"])
def backend(request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock) -> LocalBackend:
    kind: type[LocalBackend] = request.param
    return kind(tmp_path / "tickets.db", clock)


@pytest.fixture
def engine(tmp_path: Path, clock: FakeClock, backend: LocalBackend, pm: pluggy.PluginManager) -> Engine:
    return Engine(
        store=make_store(tmp_path / "state.db"),
        backend=backend,
        sources={},
        pipeline=Pipeline.from_manager(pm, default_rulebook()),
        clock=clock,
        spool=Spool(tmp_path / "spool"),
    )


def down(clock: FakeClock, eid: str, **fields: Any) -> Alert:
    values: dict[str, Any] = {
        "source": "zabbix",
        "external_id": eid,
        "title": "Station gateway unreachable (ICMP)",
        "ci": "station-gw-l2-07",
        "host_groups": ["Metro/Stations"],
        "severity": 4,
        "occurred_at": clock.now(),
    }
    values.update(fields)
    return Alert.model_validate(values)


def cycle(engine: Engine, clock: FakeClock, *alerts: Alert) -> None:
    for alert in alerts:
        clock.set(alert.recovered_at or alert.occurred_at)
        engine.ingest(alert.source, [alert])
        engine.process_pending()
        engine.drain_outbox()


def by_key(backend: LocalBackend) -> dict[str, dict[str, Any]]:
    return {t["key"]: t for t in backend.tickets()}


def test_duplicates_are_linked_noted_and_resolved_with_their_master(
    engine: Engine, clock: FakeClock, backend: LocalBackend
) -> None:
    master = down(clock, "1")
    cycle(engine, clock, master)
    clock.advance(minutes=2)
    cycle(engine, clock, down(clock, "2"))
    clock.advance(minutes=2)
    cycle(engine, clock, down(clock, "3"))
    tickets = by_key(backend)
    master_id = tickets["zabbix:1"]["id"]
    for key in ("zabbix:2", "zabbix:3"):
        assert tickets[key]["relations"] == [("duplicates", master_id)]
        assert tickets[key]["duplicate_of"] == "zabbix:1"
        # why it is a duplicate is written in the create, below the ticket's own description
        note = tickets[key]["description"].rsplit("\n---\n", 1)[1]
        assert note.startswith("duplicate #") and "(rule dedup.window)" in note
    clock.advance(minutes=20)
    cycle(engine, clock, master.model_copy(update={"recovered_at": clock.now()}))
    tickets = by_key(backend)
    assert {k: t["status"] for k, t in tickets.items()} == dict.fromkeys(tickets, TicketStatus.RESOLVED.value)
    if isinstance(backend, NoCascade):  # the connector resolved them itself
        assert any("Resolved with its master zabbix:1" in n for n in tickets["zabbix:2"]["notes"])
    else:  # the helpdesk did
        assert any("Resolved with its master #" in n for n in tickets["zabbix:2"]["notes"])
    assert engine.store.dead_letters() == []
    assert engine.store.outbox_counts().get("pending", 0) == 0


def test_storm_guard_notes_and_a_raised_priority_land_on_the_master(
    engine: Engine, clock: FakeClock, backend: LocalBackend
) -> None:
    cycle(engine, clock, down(clock, "1", severity=3))
    for n in range(2, 5):
        clock.advance(minutes=1)
        cycle(engine, clock, down(clock, str(n), severity=3))
    clock.advance(minutes=1)
    cycle(engine, clock, down(clock, "5", severity=5))  # the 4th repeat: appended, and more urgent
    tickets = by_key(backend)
    assert "zabbix:5" not in tickets
    master = tickets["zabbix:1"]
    assert master["priority"] == Priority.HIGHEST
    assert "raised by repeat zabbix:5" in master["priority_reason"]
    assert any(n.startswith("repeat #4 of zabbix:1") and "storm guard" in n for n in master["notes"])
    assert any(n.startswith("优先级提升 priority raised P3 → P1") for n in master["notes"])


def test_a_recurrence_is_related_to_the_resolved_original(
    engine: Engine, clock: FakeClock, backend: LocalBackend
) -> None:
    first = down(clock, "1")
    cycle(engine, clock, first)
    clock.advance(minutes=30)
    cycle(engine, clock, first.model_copy(update={"recovered_at": clock.now()}))
    with engine.store.transaction():  # what the sync-back records when the desk closes it
        record_status(engine.store, "zabbix:1", TicketStatus.CLOSED, clock.now())
    clock.advance(hours=5)
    cycle(engine, clock, down(clock, "9"))
    tickets = by_key(backend)
    assert tickets["zabbix:9"]["relations"] == [("relates", tickets["zabbix:1"]["id"])]
    assert tickets["zabbix:9"]["recurrence_of"] == "zabbix:1"
    assert "recurrence of zabbix:1" in tickets["zabbix:9"]["description"].rsplit("\n---\n", 1)[1]


def test_a_reply_is_a_note_with_its_attachments(
    engine: Engine, clock: FakeClock, backend: LocalBackend, tmp_path: Path
) -> None:
    cycle(engine, clock, down(clock, "1"))
    assert engine.spool is not None
    content = "拓扑图".encode() * 100
    digest = engine.spool.put(content)
    attachment = Attachment(filename="topology.png", content_type="image/png", size=len(content), sha256=digest)
    ticket_id = str(by_key(backend)["zabbix:1"]["id"])
    reply = Alert(
        source="email",
        external_id="<r1@metro.example>",
        title="Re: [ITSM #1] Station gateway unreachable",
        description="机房断电，UPS 已切换",
        reporter="duty@metro.example",
        occurred_at=clock.now(),
        reply_to=ticket_id,
        attachments=(attachment,),
    )
    # a desk ticket the connector did not make
    desk_made = backend.create_ticket(Ticket(key="manual-1", title="phone call", description="typed by the desk"))
    other = reply.model_copy(
        update={"external_id": "<r2@metro.example>", "reply_to": desk_made.ticket_id, "attachments": ()}
    )
    cycle(engine, clock, reply, other)
    tickets = by_key(backend)
    assert len(tickets) == 2
    noted = tickets["zabbix:1"]
    assert noted["notes"][-1].startswith("reply from duty@metro.example to #1:\nRe: [ITSM #1] Station gateway")
    assert noted["attachments"] == [("topology.png", "image/png", len(content))]
    assert any(
        n.startswith(f"reply from duty@metro.example to #{desk_made.ticket_id}") for n in tickets["manual-1"]["notes"]
    )
    assert engine.store.dead_letters() == []


def test_an_attachment_gone_from_the_spool_is_dead_lettered_and_blocks_nothing(
    engine: Engine, clock: FakeClock, backend: LocalBackend
) -> None:
    ghost = Attachment(filename="lost.pdf", size=3, sha256="0" * 64)
    cycle(engine, clock, down(clock, "1", attachments=(ghost,)), down(clock, "2", ci="other-gw"))
    (dead,) = engine.store.dead_letters()
    assert dead["reason"].startswith("attach: attachment 'lost.pdf': spool file") and "missing" in dead["reason"]
    assert set(by_key(backend)) == {"zabbix:1", "zabbix:2"}


def test_a_delivered_attachment_leaves_the_spool_unless_another_upload_needs_it(
    engine: Engine, clock: FakeClock, backend: LocalBackend
) -> None:
    assert engine.spool is not None
    shared = engine.spool.put(b"the same screenshot twice")
    attachment = Attachment(filename="shot.png", size=25, sha256=shared)
    cycle(engine, clock, down(clock, "1", attachments=(attachment,)))
    assert not engine.spool.path(shared).exists()  # uploaded, nothing else owes it
    shared = engine.spool.put(b"the same screenshot twice")
    engine.ingest("zabbix", [down(clock, "2", ci="gw-2", attachments=(attachment,))])
    engine.ingest("zabbix", [down(clock, "3", ci="gw-3", attachments=(attachment,))])
    engine.process_pending()
    (first, _second) = [op for op in engine.store.pending_ops(100) if op.op == "attach"]
    engine.drain_outbox()
    assert [len(t["attachments"]) for t in backend.tickets()] == [1, 1, 1]
    assert not engine.spool.path(shared).exists()
    assert first.payload["sha256"] == shared


@pytest.mark.parametrize("policy", ["anonymous", "reject"])
def test_the_reporter_of_a_mail_is_looked_up_as_a_helpdesk_user(
    engine: Engine, clock: FakeClock, backend: LocalBackend, policy: str
) -> None:
    class Mailbox:
        name = "mail"
        acknowledge_enabled = False
        unknown_senders = policy

    engine.sources["mail"] = Mailbox()  # type: ignore[assignment]
    backend.add_user("zhangwei", "张伟", "Zhang.Wei@metro.example")

    def report(eid: str, sender: str, title: str) -> Alert:
        return Alert(
            source="mail",
            external_id=eid,
            title=title,
            reporter=sender,
            origin=TicketSource.USER_REPORT,
            occurred_at=clock.now(),
        )

    cycle(
        engine,
        clock,
        report("m1", "zhang.wei@metro.example", "财务系统无法登录"),
        report("m2", "stranger@example.org", "打印机卡纸"),
    )
    tickets = by_key(backend)
    assert tickets["mail:m1"]["contact"] == "张伟"
    if policy == "anonymous":
        assert tickets["mail:m2"]["contact"] == "stranger@example.org"  # the address stays in the ticket
    else:
        assert "mail:m2" not in tickets
        (dead,) = engine.store.dead_letters()
        assert "stranger@example.org is not a user of" in dead["reason"] and "unknown_senders: reject" in dead["reason"]


def test_a_refused_sender_is_told_by_auto_reply(engine: Engine, clock: FakeClock, backend: LocalBackend) -> None:
    from connector.notify.dispatch import Channel
    from connector.notify.people import Directory, load_people
    from connector.notify.render import Renderer
    from connector.notify.settings import Notifications
    from connector.rules.ladder import load_escalation, load_notification_rules
    from tests.unit.test_escalation_day import ROOT, Recorder

    sent: list[Any] = []
    directory = Directory(load_people(ROOT / "config" / "people.example.yaml"))
    renderer = Renderer(service_desk="021-6000-8888", directory=directory, language="zh", timezone="Asia/Shanghai")
    escalation, rules = load_escalation(), load_notification_rules()
    channels = {"email": Channel("email", "email", Recorder("email", sent))}  # type: ignore[arg-type]
    engine.notifications = Notifications(directory, escalation, rules, renderer, channels)
    engine.sweep_rules = SweepRules(default_rulebook().sla, escalation, rules)  # so the decision queues its notices

    class Mailbox:
        name = "mail"
        acknowledge_enabled = False
        unknown_senders = "reject"

    engine.sources["mail"] = Mailbox()  # type: ignore[assignment]
    report = Alert(
        source="mail",
        external_id="m1",
        title="<b>打印机</b>坏了",
        reporter="stranger@example.org",
        origin=TicketSource.USER_REPORT,
        occurred_at=clock.now(),
    )
    cycle(engine, clock, report)
    (dead,) = engine.store.dead_letters()
    assert dead["reason"].endswith("(unknown_senders: reject); the sender was told by auto-reply")
    ((channel, message),) = [(c, m) for c, m in sent if m.data.get("kind") == "auto_reply"]
    assert channel == "email" and "021-6000-8888" in message.text and "<b>" not in message.html
    assert [m.data.get("kind") for _, m in sent] == ["auto_reply"]  # no "your incident is open"
