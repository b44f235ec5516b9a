"""E-mail intake against the real Dovecot: mails delivered by its LDA become tickets, notes
(reply_to), spooled uploads, or are ignored or quarantined with the reason — and a restart or
a crash before the journal commit neither loses nor doubles a mail.

Each test reads its own folder of the ``helpdesk`` mailbox (created and deleted here), so runs
do not see each other's mail.
"""

from __future__ import annotations

import imaplib
import re
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pluggy
import pytest

from connector.contracts.adapters import PluginContext
from connector.domain.clock import FakeClock
from connector.domain.models import Alert, TicketSource
from connector.integrations.mail.imap import mailbox_name
from connector.integrations.mail.settings import ImapSettings
from connector.integrations.mail.source import ImapSource
from connector.plugins.imap import build_imap_source
from connector.plugins.local import LocalBackend
from connector.process.pipeline import Pipeline
from connector.rules.loading import default_rulebook
from connector.runtime.engine import Engine
from connector.state.spool import Spool
from connector.state.store import Store
from connector.util.secrets import SecretSource
from tests import mail_samples as samples
from tests.integration.conftest import service_command
from tests.state_backend import make_store

pytestmark = [pytest.mark.integration, pytest.mark.both_states]

USER_KEY, PASSWORD_KEY = "IMAP_USER2", "IMAP_PASSWORD2"  # the helpdesk mailbox


@dataclass
class Mailbox:
    """One test's folders in the helpdesk mailbox, and a way to deliver into them."""

    env: dict[str, str]
    folder: str
    quarantine: str

    def imap(self) -> imaplib.IMAP4:
        conn = imaplib.IMAP4(self.env["IMAP_HOST"], int(self.env["IMAP_PORT"]), timeout=30)
        conn.login(self.env[USER_KEY], self.env[PASSWORD_KEY])
        return conn

    def deliver(self, raw: bytes) -> None:
        proc = subprocess.run(
            service_command("imap", "deliver", self.env[USER_KEY], self.folder),
            input=raw,
            capture_output=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr.decode(errors="replace")

    def flags(self, folder: str | None = None) -> dict[str, str]:
        """Message-ID → flags of every mail in ``folder`` (default: the test folder)."""
        conn = self.imap()
        try:
            conn.select(mailbox_name(folder or self.folder), readonly=True)
            _, data = conn.uid("FETCH", "1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
            found: dict[str, str] = {}
            for item in data:
                if isinstance(item, tuple):
                    flags = re.search(rb"FLAGS \(([^)]*)\)", item[0])
                    mid = re.search(rb"<([^>]+)>", item[1])
                    if mid:
                        found[mid.group(1).decode()] = (flags.group(1) if flags else b"").decode()
            return found
        finally:
            conn.logout()


@pytest.fixture
def mailbox(imap_env: dict[str, str]) -> Iterator[Mailbox]:
    tag = uuid.uuid4().hex[:8]
    box = Mailbox(imap_env, f"itsm-it-{tag}", f"itsm-it-{tag}-quarantine")
    conn = box.imap()
    conn.create(mailbox_name(box.folder))
    conn.logout()
    try:
        yield box
    finally:
        conn = box.imap()
        for name in (box.folder, box.quarantine):
            conn.delete(mailbox_name(name))
        conn.logout()


def imap_settings(box: Mailbox, **overrides: object) -> ImapSettings:
    return ImapSettings.model_validate(
        {
            "host": box.env["IMAP_HOST"],
            "port": int(box.env["IMAP_PORT"]),
            "security": "none",  # Dovecot here has no TLS; allowed because it is loopback
            "user": box.env[USER_KEY],
            "password": SecretSource(box.env[PASSWORD_KEY]),
            "folders": [box.folder],
            "quarantine_folder": box.quarantine,
            "allowed_senders": ["metro.example"],
            "max_attachment_bytes": 10 * 1024 * 1024,
            **overrides,
        }
    )


@dataclass
class Desk:
    engine: Engine
    store: Store
    backend: LocalBackend
    source: ImapSource
    spool: Spool

    def journaled(self) -> dict[str, Alert]:
        """Every journaled alert by external id (pending or processed)."""
        rows = self.store._exec("SELECT payload FROM journal WHERE status != 'dead'").fetchall()
        alerts = [Alert.model_validate_json(r["payload"]) for r in rows]
        return {a.external_id: a for a in alerts}


@pytest.fixture
def desk(mailbox: Mailbox, tmp_path: Path, clock: FakeClock, pm: pluggy.PluginManager) -> Iterator[Desk]:
    spool = Spool(tmp_path / "spool")
    ctx = PluginContext(clock=clock, name="email", data_dir=tmp_path, register_secret=lambda _: None, spool=spool)
    source = build_imap_source(imap_settings(mailbox), ctx)
    store = make_store(tmp_path / "state.db")
    backend = LocalBackend(tmp_path / "tickets.db", clock)
    engine = Engine(
        store=store,
        backend=backend,
        sources={"email": source},
        pipeline=Pipeline.from_manager(pm, default_rulebook()),
        clock=clock,
    )
    yield Desk(engine, store, backend, source, spool)
    store.close()
    backend.close()


def test_every_kind_of_mail_has_its_outcome(mailbox: Mailbox, desk: Desk) -> None:
    kinds = {
        "utf8": samples.utf8,
        "gbk": samples.gbk_subject,
        "gb2312qp": samples.gb2312_qp,
        "mislabelled": samples.mislabelled,
        "html": samples.html_only,
        "attachment": samples.with_attachment,
        "auto": samples.auto_reply,
        "big": samples.big_attachment,
        "broken": samples.broken_mime,
        "outside": samples.from_outside,
    }
    tags = {kind: f"{kind}-{uuid.uuid4().hex[:6]}" for kind in kinds}
    for kind, build in kinds.items():
        mailbox.deliver(build(tags[kind]))
    reply_tag = f"reply-{uuid.uuid4().hex[:6]}"
    mailbox.deliver(samples.reply(reply_tag, "42"))

    assert desk.engine.poll("email") == 8  # everything but the auto-reply, the outsider and the broken one
    journal = desk.journaled()

    def alert(kind: str) -> Alert:
        return journal[f"{tags[kind]}@metro.example"]

    assert alert("utf8").title == f"邮件服务器无法登录 {tags['utf8']}"
    assert "我们部门从早上九点开始无法登录邮箱" in alert("utf8").description
    assert alert("gbk").title == f"打印机卡纸 {tags['gbk']}"
    assert "三楼打印机卡纸" in alert("gbk").description
    assert alert("gb2312qp").title == f"朱镕基路闸机故障 {tags['gb2312qp']}"
    assert "朱镕基路站闸机无法读卡" in alert("gb2312qp").description
    assert alert("mislabelled").title == f"售票机黑屏 {tags['mislabelled']}"
    assert "售票机屏幕黑屏" in alert("mislabelled").description
    assert "Ticket & gate 3 broken" in alert("html").description and "<p>" not in alert("html").description
    for kind in ("utf8", "gbk", "html"):
        assert alert(kind).origin is TicketSource.USER_REPORT and alert(kind).reporter is not None

    (pdf,) = alert("attachment").attachments
    assert pdf.filename == "故障截图.pdf" and desk.spool.get(pdf.sha256) == samples.ATTACHMENT
    assert alert("big").attachments == ()
    assert "Attachment syslog-dump.log (20.0 MB) was not uploaded" in alert("big").description

    note = journal[f"{reply_tag}@metro.example"]
    assert note.reply_to == "42"

    assert f"{tags['auto']}@metro.example" not in journal
    assert f"{tags['outside']}@metro.example" not in journal
    (dead,) = desk.store.dead_letters()
    assert dead["source"] == "email" and "broken MIME structure" in dead["reason"]

    # the next poll marks what the last one handed over (only now is it safely journaled)
    assert {m: "\\Seen" in f for m, f in mailbox.flags().items()} == {
        f"{t}@metro.example": False for t in [*tags.values(), reply_tag]
    }
    assert desk.engine.poll("email") == 0
    flags = mailbox.flags()
    assert f"{tags['broken']}@metro.example" not in flags  # moved away …
    assert list(mailbox.flags(mailbox.quarantine)) == [f"{tags['broken']}@metro.example"]  # … to the quarantine
    assert all("\\Seen" in f for f in flags.values()) and len(flags) == 10

    desk.engine.process_pending()
    desk.engine.drain_outbox()
    titles = {t["title"] for t in desk.backend.tickets()}
    assert {alert(k).title for k in ("utf8", "gbk", "gb2312qp", "mislabelled", "html", "attachment", "big")} <= titles


def test_a_restart_reads_nothing_twice_and_a_lost_commit_loses_nothing(
    mailbox: Mailbox, desk: Desk, clock: FakeClock
) -> None:
    tag = f"crash-{uuid.uuid4().hex[:6]}"
    mailbox.deliver(samples.gbk_subject(tag))

    lost = desk.source.poll(desk.store.get_cursor("email"), [])  # the process dies before the journal commit
    assert [a.external_id for a in lost.items if isinstance(a, Alert)] == [f"{tag}@metro.example"]
    assert "\\Seen" not in mailbox.flags()[f"{tag}@metro.example"]  # nothing was marked

    assert desk.engine.poll("email") == 1  # read again after the "restart"
    assert desk.engine.ingest("email", lost.items) == 0  # and had it come in twice: one journal entry

    restarted = ImapSource(desk.source.settings, name="email", clock=clock, spool=desk.spool)
    again = restarted.poll(desk.store.get_cursor("email"), [])
    assert again.items == []
    assert "\\Seen" in mailbox.flags()[f"{tag}@metro.example"]


def test_a_sender_over_the_rate_limit_is_dead_lettered_not_dropped(
    mailbox: Mailbox, tmp_path: Path, clock: FakeClock
) -> None:
    spool = Spool(tmp_path / "spool")
    source = ImapSource(imap_settings(mailbox, rate_limit_count=2), name="email", clock=clock, spool=spool)
    for n in range(3):
        mailbox.deliver(
            f"From: loop@metro.example\r\nMessage-ID: <rl{n}-{mailbox.folder}@metro.example>\r\n"
            f"Subject: again {n}\r\n\r\nsame".encode()
        )
    result = source.poll(None, [])
    kinds = [type(i).__name__ for i in result.items]
    assert kinds == ["Alert", "Alert", "Rejected"]
    assert "more than 2 mails in 10 minutes" in getattr(result.items[2], "reason", "")


def test_a_missing_folder_does_not_stop_the_others(mailbox: Mailbox, tmp_path: Path, clock: FakeClock) -> None:
    tag = f"missing-{uuid.uuid4().hex[:6]}"
    mailbox.deliver(samples.utf8(tag))
    settings = imap_settings(mailbox, folders=[f"{mailbox.folder}-does-not-exist", mailbox.folder])
    source = ImapSource(settings, name="email", clock=clock, spool=Spool(tmp_path / "spool"))
    result = source.poll(None, [])
    assert [a.external_id for a in result.items if isinstance(a, Alert)] == [f"{tag}@metro.example"]
