"""Notices through the whole connector, from a config file: an SMTP server and an SMS/voice
gateway on loopback. A P1 goes out by phone and e-mail at the seed's minutes with the standard
content; while the phone gateway is down only the phone notices wait — e-mail, the sweep and
intake go on — and once it is back each waiting notice is delivered, once."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest

from connector.contracts.plugin_manager import build_plugin_manager
from connector.domain.clock import FakeClock
from connector.domain.models import Alert
from connector.runtime.app import App, build_app, load
from tests.integration.notify_servers import MailSink, free_port, mail_sink, receiver
from tests.state_backend import state_yaml

pytestmark = [pytest.mark.integration, pytest.mark.both_states]

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 26, 2, 40, tzinfo=UTC)


@pytest.fixture
def sink() -> Iterator[MailSink]:
    with mail_sink() as server:
        yield server


@pytest.fixture
def gateway_port() -> int:
    return free_port()  # nothing listens there until the test starts the gateway


@pytest.fixture
def app(tmp_path: Path, sink: MailSink, gateway_port: int) -> Iterator[tuple[App, FakeClock]]:
    (tmp_path / "people.yaml").write_text((ROOT / "config" / "people.example.yaml").read_text(encoding="utf-8"))
    (tmp_path / "connector.yaml").write_text(
        f"""
state: {state_yaml(tmp_path / "state.db")}
backend: {{type: local, path: tickets.db}}
outbox: {{backoff_initial_seconds: 30}}
notify:
  people: people.yaml
  service_desk: "服务台 Service desk: 021-6000-8888, servicedesk@metro.example"
  channels:
    - {{type: smtp, host: 127.0.0.1, port: {sink.port}, security: none, sender: "ITSM <itsm@metro.example>"}}
    - {{type: webhook, name: phone, address: phone, url: "http://127.0.0.1:{gateway_port}/sms", timeout_seconds: 2}}
""",
        encoding="utf-8",
    )
    config, pm = load(tmp_path / "connector.yaml", build_plugin_manager())
    clock = FakeClock(T0)
    built = build_app(config, pm, clock=clock)
    yield built, clock
    built.close()


def core_switch(eid: str, at: datetime, ci: str = "core-sw01") -> Alert:
    return Alert(
        source="zabbix",
        external_id=eid,
        title=f"Interface Gi1/0/1 down on {ci} <script>x</script>",
        ci=ci,
        service="网络",
        host_groups=("Metro/Network core",),
        severity=5,
        occurred_at=at,
    )


def mails(sink: MailSink) -> list[EmailMessage]:
    return [email.message_from_bytes(m.data, policy=email.policy.default) for m in sink.take()]  # type: ignore[misc]


def test_p1_notices_and_a_gateway_that_is_down(app: tuple[App, FakeClock], sink: MailSink, gateway_port: int) -> None:
    built, clock = app
    engine = built.engine
    engine.ingest("zabbix", [core_switch("1", T0)])
    engine.run_once()
    opening = mails(sink)
    assert {m["Subject"].split("·")[0].strip() for m in opening} == {
        "[ITSM #1] 事件状态：待处理",
        "[ITSM #1] 服务中断通知",
    }

    clock.set(T0 + timedelta(minutes=5))  # the project manager's notice (§8) and the response warning
    engine.sweep()
    engine.drain_outbox()
    received = mails(sink)
    by_to = {m["To"]: m for m in received}
    pm_mail = next(m for to, m in by_to.items() if "chen.gang@metro.example" in to)
    text = pm_mail.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    html = pm_mail.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
    assert pm_mail["Subject"].startswith("[ITSM #1] 事件通知：创建5分钟后仍未解决")
    for standard in ("Interface Gi1/0/1 down on core-sw01", "网络", "预计恢复", "021-6000-8888"):
        assert standard in text, standard  # short description, service, restore time, the desk
    assert "<script>" not in html and "&lt;script&gt;" in html  # alert text is escaped, not markup
    # the phone gateway is down: its notices wait with a reason, nothing else does
    phone = [r for r in engine.store.outbox_rows("pending") if r["target"] == "notify:phone"]
    assert len(phone) >= 2 and phone[0]["attempts"] >= 1, phone
    assert "refused" in phone[0]["last_error"].lower(), phone[0]["last_error"]  # the rest wait behind it

    engine.ingest("zabbix", [core_switch("2", clock.now(), ci="core-sw02")])  # intake goes on
    engine.run_once()
    clock.set(T0 + timedelta(minutes=10))
    assert engine.sweep() > 0  # the sweep goes on: escalation level 1 and the response breach
    engine.drain_outbox()
    assert {t["key"] for t in engine.backend.tickets()} == {"zabbix:1", "zabbix:2"}  # type: ignore[attr-defined]
    assert any("事件升级第1级" in m["Subject"] for m in mails(sink))

    waiting = [r for r in engine.store.outbox_rows("pending") if r["target"] == "notify:phone"]
    with receiver(port=gateway_port) as gateway:  # the gateway is back, where the config says
        engine.drain_outbox(ignore_backoff=True)
        requests = gateway.take()
    assert len(requests) == len(waiting)  # each waiting notice once
    body = requests[0].json()
    assert (
        body["ticket"] == {"key": "zabbix:1", "id": "1", "url": body["ticket"]["url"]}
        and body["notice"]["priority"] == 1
    )
    assert {r["address"] for r in body["recipients"]} >= {"+86 138 0000 0001"}  # the incident manager's phone
    assert all(r["target"] != "notify:phone" for r in engine.store.outbox_rows("pending"))
    assert engine.store.dead_letters() == []
