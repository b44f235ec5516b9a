"""Mail → Alert: sender policy, auto-replies, rate limit, replies, attachments; IMAP settings and TLS."""

from __future__ import annotations

import hashlib
import imaplib
import re
import ssl
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic import ValidationError

from connector.contracts.adapters import Rejected
from connector.domain.clock import FakeClock
from connector.domain.errors import SourceError
from connector.domain.models import Alert, TicketSource
from connector.integrations.mail import imap as imap_module
from connector.integrations.mail.imap import ImapClient, mailbox_name, open_connection, tls_context
from connector.integrations.mail.mapping import Ignored, MailMapper
from connector.integrations.mail.message import parse_mail
from connector.integrations.mail.policy import RateLimiter, SenderAllowList, automatic_reason
from connector.integrations.mail.replies import reply_ticket
from connector.integrations.mail.settings import ImapSettings, is_loopback
from connector.state.spool import Spool
from connector.util.secrets import SecretSource
from tests import mail_samples as samples

WHERE = {"folder": "INBOX", "uid": 1}


def settings(**overrides: Any) -> ImapSettings:
    base = {
        "host": "imap.metro.example",
        "user": "servicedesk",
        "password": SecretSource("pw-from-env"),
        "allowed_senders": ["metro.example"],
    }
    return ImapSettings.model_validate({**base, **overrides})


@pytest.fixture
def spool(tmp_path: Path) -> Spool:
    return Spool(tmp_path / "spool")


@pytest.fixture
def mapper(spool: Spool) -> MailMapper:
    return MailMapper(settings(max_attachment_bytes=1024 * 1024), source="email", spool=spool)


def mapped(mapper: MailMapper, raw: bytes, clock: FakeClock) -> Alert | Rejected | Ignored:
    return mapper.map(parse_mail(raw), now=clock.now(), where=WHERE)


def test_a_new_mail_is_a_user_report(mapper: MailMapper, clock: FakeClock) -> None:
    alert = mapped(mapper, samples.gbk_subject("n1"), clock)
    assert isinstance(alert, Alert)
    assert (alert.source, alert.external_id, alert.event_key) == ("email", "n1@metro.example", "n1@metro.example")
    assert alert.origin is TicketSource.USER_REPORT
    assert alert.reporter == "li.na@metro.example"
    assert alert.title == "打印机卡纸 n1"
    assert alert.description.startswith("From: li.na@metro.example\nDate: 2026-11-26 02:40:00 UTC\n\n三楼打印机卡纸")
    assert alert.reply_to is None and alert.attachments == ()
    assert alert.occurred_at.isoformat() == "2026-11-26T02:40:00+00:00"
    assert alert.raw["mail"]["folder"] == "INBOX" and alert.raw["mail"]["message-id"] == "<n1@metro.example>"


def test_a_mail_without_message_id_is_keyed_by_its_digest(mapper: MailMapper, clock: FakeClock) -> None:
    raw = b"From: a@metro.example\r\nSubject: x\r\n\r\nbody"
    alert = mapped(mapper, raw, clock)
    assert isinstance(alert, Alert) and alert.external_id == f"sha256:{hashlib.sha256(raw).hexdigest()}"


def test_a_date_in_the_future_is_replaced_by_now(mapper: MailMapper, clock: FakeClock) -> None:
    raw = b"From: a@metro.example\r\nDate: Mon, 1 Jan 2035 00:00:00 +0000\r\nSubject: x\r\n\r\nbody"
    alert = mapped(mapper, raw, clock)
    assert isinstance(alert, Alert) and alert.occurred_at == clock.now()


def test_small_attachment_is_spooled_before_the_alert_names_it(
    mapper: MailMapper, spool: Spool, clock: FakeClock
) -> None:
    alert = mapped(mapper, samples.with_attachment("a1"), clock)
    assert isinstance(alert, Alert)
    (attachment,) = alert.attachments
    assert attachment.filename == "故障截图.pdf" and attachment.size == len(samples.ATTACHMENT)
    assert spool.get(attachment.sha256) == samples.ATTACHMENT


def test_large_attachment_is_not_uploaded_and_the_description_says_so(
    mapper: MailMapper, spool: Spool, clock: FakeClock
) -> None:
    alert = mapped(mapper, samples.big_attachment("b1", size=2 * 1024 * 1024), clock)
    assert isinstance(alert, Alert)
    assert alert.attachments == ()
    assert "Attachment syslog-dump.log (2.0 MB) was not uploaded: it is larger than the 1.0 MB limit" in (
        alert.description
    )
    assert not any(spool.directory.rglob("*")) or all(p.is_dir() for p in spool.directory.rglob("*"))


def test_html_only_mail_is_marked_converted(mapper: MailMapper, clock: FakeClock) -> None:
    alert = mapped(mapper, samples.html_only("h1"), clock)
    assert isinstance(alert, Alert)
    assert "(converted from an HTML-only mail)" in alert.description and "<b>" not in alert.description


@pytest.mark.parametrize(
    ("subject", "in_reply_to", "references", "expected"),
    [
        ("Re: printer", ["itsm.42.x9@connector.metro.example"], [], "42"),
        ("Re: printer", [], ["other@x", "itsm.0042.k@c.example"], "42"),
        ("回复: [ITSM #17] 打印机", [], [], "17"),
        ("Re: [ctest - Support #123] (New) Printer", [], [], "123"),
        ("[Metro IT - Incident 事件 #9] Gate", [], [], "9"),
        ("RE: [GLPI #0000321] New ticket", [], [], "321"),
        ("Re: x", [], ["redmine.issue-55.20261126024000.1@redmine.example"], "55"),
        ("Re: [ITSM #17]", ["itsm.42.x@c.example"], [], "42"),  # the Message-ID wins over the subject
        ("Invoice #123 for [Project]", [], [], None),
        ("Re: meeting", ["random@mua.example"], [], None),
    ],
)
def test_reply_ticket(subject: str, in_reply_to: list[str], references: list[str], expected: str | None) -> None:
    assert reply_ticket(subject, in_reply_to, references) == expected


def test_a_reply_carries_the_ticket_id(mapper: MailMapper, clock: FakeClock) -> None:
    alert = mapped(mapper, samples.reply("r1", "42"), clock)
    assert isinstance(alert, Alert) and alert.reply_to == "42"
    assert "现在可以登录了" in alert.description


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (samples.auto_reply("o1"), "Auto-Submitted: auto-replied"),
        (b"From: a@metro.example\r\nPrecedence: bulk\r\n\r\nx", "Precedence: bulk"),
        (b"From: a@metro.example\r\nX-Autoreply: yes\r\n\r\nx", "x-autoreply"),
        (b"From: MAILER-DAEMON@metro.example\r\nSubject: failure\r\n\r\nx", "is a mail system"),
        (b"From: a@metro.example\r\nReturn-Path: <>\r\n\r\nx", "null Return-Path"),
        (b"From: a@metro.example\r\nContent-Type: multipart/report; boundary=b\r\n\r\n--b\r\n\r\nx\r\n--b--", "report"),
        (b"From: redmine@metro.example\r\nX-Redmine-Host: rm\r\n\r\nx", "helpdesk notification"),
        (b"From: a@metro.example\r\nSubject: =?utf-8?b?6Ieq5Yqo5Zue5aSNOiDkvJHlgYc=?=\r\n\r\nx", "automatic reply"),
        (b"From: a@metro.example\r\nList-Id: <ops.lists.metro.example>\r\n\r\nx", "mailing list"),
    ],
)
def test_machine_mail_is_ignored_with_the_reason(mapper: MailMapper, clock: FakeClock, raw: bytes, reason: str) -> None:
    result = mapped(mapper, raw, clock)
    assert isinstance(result, Ignored) and reason in result.reason


def test_ordinary_mail_is_not_machine_mail() -> None:
    assert automatic_reason(parse_mail(samples.utf8("p1"))) is None
    assert automatic_reason(parse_mail(b"From: a@metro.example\r\nAuto-Submitted: no\r\n\r\nx")) is None


def test_our_own_notices_are_ignored(spool: Spool, clock: FakeClock) -> None:
    mapper = MailMapper(settings(own_addresses=["ITSM@metro.example"]), source="email", spool=spool)
    assert isinstance(mapped(mapper, b"From: itsm@metro.example\r\n\r\nx", clock), Ignored)
    own_id = b"From: a@metro.example\r\nMessage-ID: <itsm.7.abc@connector.metro.example>\r\n\r\nx"
    assert isinstance(mapped(mapper, own_id, clock), Ignored)


def test_allow_list_domains_subdomains_and_addresses() -> None:
    allowed = SenderAllowList(["metro.example", "@partner.example", "Vendor@Contractor.example"])
    assert allowed.allows("a@metro.example") and allowed.allows("b@ops.metro.example")
    assert allowed.allows("c@partner.example") and allowed.allows("vendor@contractor.example")
    assert not allowed.allows("x@contractor.example") and not allowed.allows("x@evilmetro.example")
    assert SenderAllowList(["*"]).allows("anyone@anywhere.example")


def test_a_sender_outside_the_allow_list_is_ignored(mapper: MailMapper, clock: FakeClock) -> None:
    result = mapped(mapper, samples.from_outside("s1"), clock)
    assert isinstance(result, Ignored) and "not in allowed_senders" in result.reason


def test_rate_limit_per_sender_uses_the_injected_clock(spool: Spool, clock: FakeClock) -> None:
    mapper = MailMapper(settings(rate_limit_count=2, rate_limit_window_minutes=10), source="email", spool=spool)

    def mail(n: int, sender: str = "a@metro.example") -> bytes:
        return f"From: {sender}\r\nMessage-ID: <r{n}@metro.example>\r\nSubject: {n}\r\n\r\nx".encode()

    assert isinstance(mapped(mapper, mail(1), clock), Alert)
    assert isinstance(mapped(mapper, mail(2), clock), Alert)
    third = mapped(mapper, mail(3), clock)
    assert isinstance(third, Rejected) and "more than 2 mails in 10 minutes" in third.reason
    assert third.external_id == "r3@metro.example"
    assert isinstance(mapped(mapper, mail(4, "b@metro.example"), clock), Alert)  # per sender
    clock.advance(minutes=10, seconds=1)
    assert isinstance(mapped(mapper, mail(5), clock), Alert)


def test_rate_limiter_window_slides(clock: FakeClock) -> None:
    limiter = RateLimiter(1, timedelta(minutes=1))
    assert limiter.allow("a", clock.now())
    clock.advance(seconds=59)
    assert not limiter.allow("a", clock.now())
    clock.advance(seconds=2)
    assert limiter.allow("a", clock.now())


# --- settings and TLS --------------------------------------------------------------------------


def test_tls_is_the_default_and_verifies_certificates() -> None:
    s = settings()
    assert s.security == "tls" and s.effective_port == 993
    context = tls_context(s)
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert settings(security="starttls").effective_port == 143


def test_a_missing_ca_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="no such file"):
        settings(ca_file=tmp_path / "none.pem")


@pytest.mark.parametrize("host", ["imap.metro.example", "10.0.0.5", "::2"])
def test_security_none_is_refused_off_loopback(host: str) -> None:
    with pytest.raises(ValidationError, match="only allowed for a loopback host"):
        settings(host=host, security="none")


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.8.9.10"])
def test_security_none_is_allowed_on_loopback(host: str) -> None:
    assert is_loopback(host)
    assert settings(host=host, security="none").effective_port == 143


def test_settings_refuse_a_plain_password_and_a_quarantine_that_is_read() -> None:
    with pytest.raises(ValidationError, match="never written in the file"):
        settings(password="plain")
    with pytest.raises(ValidationError, match="quarantine_folder"):
        settings(folders=["INBOX", "Quarantine"])
    with pytest.raises(ValidationError, match="allowed_senders"):
        ImapSettings.model_validate({"host": "h", "user": "u", "password": SecretSource("p")})


class FakeImap:
    """Records how ``open_connection`` builds the imaplib object."""

    made: ClassVar[list[tuple[str, dict[str, Any]]]] = []

    def __init__(self, host: str, port: int, **kwargs: Any) -> None:
        FakeImap.made.append((f"{type(self).__name__} {host}:{port}", kwargs))

    def starttls(self, ssl_context: ssl.SSLContext) -> tuple[str, list[bytes]]:
        FakeImap.made.append(("starttls", {"ssl_context": ssl_context}))
        return "OK", [b""]

    def shutdown(self) -> None:
        pass


class FakeImapSSL(FakeImap):
    pass


def test_open_connection_uses_tls_or_starttls_with_the_verifying_context(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(imaplib, "IMAP4", FakeImap)
    monkeypatch.setattr(imaplib, "IMAP4_SSL", FakeImapSSL)
    FakeImap.made.clear()
    open_connection(settings())
    ((what, kwargs),) = FakeImap.made
    assert what == "FakeImapSSL imap.metro.example:993"
    assert kwargs["ssl_context"].verify_mode is ssl.CERT_REQUIRED and kwargs["timeout"] == 30
    FakeImap.made.clear()
    open_connection(settings(security="starttls"))
    assert [w for w, _ in FakeImap.made] == ["FakeImap imap.metro.example:143", "starttls"]
    assert FakeImap.made[1][1]["ssl_context"].check_hostname
    FakeImap.made.clear()
    open_connection(settings(host="127.0.0.1", security="none"))
    assert [w for w, _ in FakeImap.made] == ["FakeImap 127.0.0.1:143"]


def test_an_untrusted_certificate_is_a_source_error_naming_ca_file() -> None:
    def untrusted(_: ImapSettings) -> imaplib.IMAP4:
        error = ssl.SSLCertVerificationError(1, "certificate verify failed")
        error.verify_message = "self-signed certificate"
        raise error

    client = ImapClient(settings(), source="email", connect=untrusted)
    with pytest.raises(SourceError, match=re.escape("not trusted (self-signed certificate); set ca_file")):
        client.open()


def _modified_utf7(run: str) -> str:
    """RFC 3501's variant, from the stdlib's plain UTF-7 as an independent oracle."""
    return "&" + run.encode("utf-7").decode("ascii")[1:].replace("/", ",")


def test_mailbox_names_are_modified_utf7_and_quoted() -> None:
    assert mailbox_name("INBOX") == '"INBOX"'
    assert mailbox_name("Quarantine 隔离") == f'"Quarantine {_modified_utf7("隔离")}"'
    assert mailbox_name('a&b"c') == '"a&-b\\"c"'
    assert imap_module.mailbox_name("Ü/日本") == f'"{_modified_utf7("Ü")}/{_modified_utf7("日本")}"'
