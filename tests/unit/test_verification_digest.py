"""The daily digest of closed records still unverified (seed §3.1.3.10.2): at
``verification.digest_hour`` local time, once a day, one e-mail to the duty-group leaders listing
every closed record no leader has verified — not the verified ones, not the open ones."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connector.contracts.notifiers import OutgoingMessage, Recipient
from connector.domain.clock import FakeClock
from connector.domain.ledger import TicketState, record_status
from connector.domain.models import Priority, TicketStatus
from connector.notify.dispatch import Channel
from connector.notify.people import Directory, load_people
from connector.notify.render import Renderer
from connector.notify.settings import Notifications
from connector.rules.ladder import load_escalation, load_notification_rules
from connector.rules.people_files import VerificationModel
from connector.runtime.digest import VerificationDigest
from tests.state_backend import make_store

ROOT = Path(__file__).resolve().parents[2]
# 2026-11-26 07:59 in Shanghai is 23:59 UTC the day before
BEFORE_EIGHT = datetime(2026, 11, 25, 23, 59, tzinfo=UTC)

Sent = list[tuple[str, tuple[str, ...], OutgoingMessage]]


class Recorder:
    needs_recipients = True

    def __init__(self, log: Sent) -> None:
        self.log = log

    def send(self, message: OutgoingMessage, recipients: Sequence[Recipient]) -> None:
        self.log.append(("email", tuple(r.address for r in recipients), message))

    def close(self) -> None:
        pass


@pytest.fixture
def sent() -> Sent:
    return []


@pytest.fixture
def digest(tmp_path: Path, sent: Sent) -> VerificationDigest:
    directory = Directory(load_people(ROOT / "config" / "people.example.yaml"))
    renderer = Renderer(service_desk="服务台 6000-8888", directory=directory, language="zh", timezone="Asia/Shanghai")
    notifications = Notifications(
        directory,
        load_escalation(),
        load_notification_rules(),
        renderer,
        {"email": Channel("email", "email", Recorder(sent))},  # type: ignore[arg-type]
    )
    store = make_store(tmp_path / "state.db")
    closed_at = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
    with store.transaction():
        for n, title, status in (
            (1, "Core switch down <script>", TicketStatus.CLOSED),
            (2, "Disk full", TicketStatus.CLOSED),
            (3, "Still open", TicketStatus.IN_PROGRESS),
        ):
            key = f"zabbix:{n}"
            store.ticket_add(
                TicketState(
                    key,
                    None,
                    TicketStatus.OPEN,
                    None,
                    closed_at - timedelta(hours=2),
                    priority=Priority.HIGH,
                    content={"title": title},
                ),
                "local",
            )
            store.ticket_set_ref(key, str(n), "")
            record_status(store, key, status, closed_at + timedelta(minutes=n))
        store.ticket_set_life("zabbix:2", verified_at=closed_at + timedelta(hours=1))  # verified
    return VerificationDigest(
        store, FakeClock(BEFORE_EIGHT), notifications, VerificationModel(roles=["duty_group_leader"]), "Asia/Shanghai"
    )


def test_the_digest_goes_out_at_its_hour_once_a_day_to_the_leaders(digest: VerificationDigest, sent: Sent) -> None:
    clock = digest.clock
    assert isinstance(clock, FakeClock)
    assert digest.run() == 0 and sent == []  # 07:59 in Shanghai: not yet
    clock.set(BEFORE_EIGHT + timedelta(minutes=1))  # 08:00
    assert digest.run() == 1
    ((channel, to, message),) = sent
    assert (channel, to) == ("email", ("zhou.min@metro.example",))  # the duty-group leader
    assert message.data["records"] == ["zabbix:1"]  # not the verified one, not the open one
    assert "#1  P2  closed 2026-11-25 11:01  Core switch down <script>" in message.text
    assert "<script>" not in message.html  # titles are data
    clock.set(BEFORE_EIGHT + timedelta(hours=5))
    assert digest.run() == 0 and len(sent) == 1  # once a day
    clock.set(BEFORE_EIGHT + timedelta(days=1, minutes=1))
    assert digest.run() == 1 and len(sent) == 2  # the next day again
