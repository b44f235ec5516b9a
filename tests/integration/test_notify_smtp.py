"""E-mail notices through a real SMTP server on loopback (aiosmtpd): headers, the decoded
Chinese subject with the ticket tag, the standard content, escaping in the HTML part, and how
refusals, wrong logins, a refused port and a silent server map to notifier errors."""

from __future__ import annotations

import email
import logging
import re
import time
from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path

import pytest
from pydantic import SecretStr

from connector.contracts.adapters import PluginContext
from connector.contracts.notifiers import Recipient
from connector.contracts.plugin_manager import build_plugin_manager
from connector.domain.clock import FakeClock
from connector.domain.errors import NotifierRejected, NotifierUnavailable
from connector.notify.render import Renderer
from connector.notify.settings import build_notifications, load_notify, notifier_types
from connector.notify.smtp import SmtpNotifier, SmtpSettings
from connector.state.spool import Spool
from tests.integration.notify_servers import MailSink, mail_sink, refusing_port, silent_port
from tests.notify_helpers import HOSTILE, PEOPLE_EXAMPLE, REGISTERED, directory, notice

pytestmark = pytest.mark.integration

DESK = "服务台 021-6000 8888"
TO = [Recipient("chen.gang", "陈刚", "chen.gang@metro.example"), Recipient("wu.lei", "吴磊", "wu.lei@metro.example")]


@pytest.fixture(scope="module")
def sink() -> Iterator[MailSink]:
    with mail_sink() as server:
        yield server


def smtp(port: int, **changes: object) -> SmtpNotifier:
    data: dict[str, object] = {
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "sender": "ITSM 服务台 <itsm@metro.example>",
        "reply_to": "servicedesk@metro.example",
        "username": "itsm",
        "password": SecretStr("pw-secret"),
        "timeout_seconds": 5,
    }
    data.update(changes)
    return SmtpNotifier(SmtpSettings.model_validate(data), name="email", clock=FakeClock(REGISTERED))


def parse(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=default_policy)
    assert isinstance(message, EmailMessage)
    return message


def test_the_email_a_desk_receives(sink: MailSink) -> None:
    message = Renderer(service_desk=DESK, directory=directory()).render(notice(title=HOSTILE))
    smtp(sink.port).send(message, TO)
    [received] = sink.take()
    assert received.rcpt_tos == ["chen.gang@metro.example", "wu.lei@metro.example"]
    assert received.login == b"itsm"
    assert received.mail_from == "itsm@metro.example"

    raw_subject = next(line for line in received.data.split(b"\r\n") if line.startswith(b"Subject:"))
    assert b"=?utf-8?" in raw_subject.lower()  # RFC 2047 on the wire
    mail = parse(received.data)
    assert mail["Subject"] == f"[ITSM #42] 事件升级第1级：通知项目经理/开发项目负责人 · P1 {HOSTILE}"
    assert re.fullmatch(r"<itsm\.42\.[0-9a-f]{16}@metro\.example>", mail["Message-ID"])
    assert mail["References"] == "<itsm.42@metro.example>"
    assert mail["Auto-Submitted"] == "auto-generated"
    assert mail["Reply-To"] == "servicedesk@metro.example"
    assert mail["X-ITSM-Ticket"] == "zabbix:31337"
    assert mail["Date"] == "Thu, 26 Nov 2026 02:40:00 +0000"  # the clock's time, not the wall clock
    assert [a.display_name for a in mail["To"].addresses] == ["陈刚", "吴磊"]
    assert mail.get_content_type() == "multipart/alternative"

    text = mail.get_body(("plain",))
    html = mail.get_body(("html",))
    assert text is not None and html is not None
    plain, markup = text.get_content(), html.get_content()
    for body in (plain, markup):
        assert "票务系统" in body and "2026-11-26 18:40" in body and DESK in body
    assert f"事件简述：{HOSTILE}" in plain
    assert "<script>" not in markup and "&lt;script&gt;alert(1)&lt;/script&gt;" in markup
    assert "{{ 7*7 }}" in markup


def test_two_notices_get_two_message_ids(sink: MailSink) -> None:
    message = Renderer(service_desk=DESK).render(notice())
    notifier = smtp(sink.port)
    notifier.send(message, TO[:1])
    notifier.send(message, TO[:1])
    first, second = (parse(m.data)["Message-ID"] for m in sink.take())
    assert first != second


def test_the_configured_channel_end_to_end(sink: MailSink, tmp_path: Path) -> None:
    (tmp_path / "people.yaml").write_text(PEOPLE_EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "notifications.yaml").write_text(
        "channels: {1: [email], 2: [email], 3: [email]}\n"
        "timed: {roles: [project_manager], minutes: {1: [5], 2: [10], 3: [15]}}\n"
        "sla: {breach: [incident_manager]}\nreassignment: [incident_manager]\n",
        encoding="utf-8",
    )
    (tmp_path / "notify.yaml").write_text(
        f"people: people.yaml\nservice_desk: {DESK}\nlanguage: en\nrules_dir: rules\nchannels:\n"
        f"  - {{type: smtp, host: 127.0.0.1, port: {sink.port}, security: none,\n"
        "     sender: 'ITSM <itsm@metro.example>', username: itsm, password: '${SMTP_PASSWORD}'}\n",
        encoding="utf-8",
    )
    pm = build_plugin_manager()
    types = notifier_types(pm)
    secrets: list[str] = []
    clock = FakeClock(REGISTERED)
    kit = build_notifications(
        load_notify(tmp_path / "notify.yaml", types, env={"SMTP_PASSWORD": "pw-secret"}),
        types,
        lambda name: PluginContext(clock, name, tmp_path, secrets.append, Spool(tmp_path / "spool")),
    )
    [planned] = kit.plan(notice(roles=("incident_manager",)))
    assert [r.address for r in planned.recipients] == ["liao.qing@metro.example"]
    delivery = kit.send(notice(roles=("incident_manager",)), "email")
    assert delivery.sent and secrets == ["pw-secret"]  # the password went to the log redactor
    [received] = sink.take()
    mail = parse(received.data)
    assert received.rcpt_tos == ["liao.qing@metro.example"]
    assert mail["Subject"] == "[ITSM #42] Escalation level 1: incident manager notified · P1 核心交换机 SW-CORE-01 宕机"


def test_a_wrong_password_is_rejected(sink: MailSink) -> None:
    with pytest.raises(NotifierRejected, match="login refused"):
        smtp(sink.port, password=SecretStr("wrong")).send(Renderer(service_desk=DESK).render(notice()), TO)
    assert sink.take() == []


def test_recipients_refused(sink: MailSink, caplog: pytest.LogCaptureFixture) -> None:
    message = Renderer(service_desk=DESK).render(notice())
    notifier = smtp(sink.port)
    with pytest.raises(NotifierRejected, match=r"every recipient refused.*550"):
        notifier.send(message, [Recipient("x", "X", "refuse5@metro.example")])
    with pytest.raises(NotifierUnavailable, match=r"refused for now.*450"):
        notifier.send(message, [Recipient("x", "X", "refuse4@metro.example")])
    assert sink.take() == []
    with caplog.at_level(logging.WARNING, logger="connector.notify.smtp"):
        notifier.send(message, [TO[0], Recipient("x", "X", "refuse5@metro.example")])  # sent to the rest
    [received] = sink.take()
    assert received.rcpt_tos == ["chen.gang@metro.example"]
    assert "refused for refuse5@metro.example" in caplog.text


def test_a_refused_connection_fails_fast() -> None:
    with refusing_port() as port:
        started = time.monotonic()
        with pytest.raises(NotifierUnavailable, match="ConnectionRefusedError"):
            smtp(port, timeout_seconds=5).send(Renderer(service_desk=DESK).render(notice()), TO)
        assert time.monotonic() - started < 2  # refused, not waited out


def test_a_silent_server_is_given_up_after_the_timeout() -> None:
    with silent_port() as port:
        started = time.monotonic()
        with pytest.raises(NotifierUnavailable, match=r"timed out|TimeoutError"):
            smtp(port, timeout_seconds=0.5).send(Renderer(service_desk=DESK).render(notice()), TO)
        assert time.monotonic() - started < 3
