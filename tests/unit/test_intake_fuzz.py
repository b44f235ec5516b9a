"""Fuzz: thousands of random and mutated mails and webhook bodies never crash the intake, and
each one ends as something accounted for — journaled, deliberately ignored with a reason, or
dead-lettered with a reason — and whatever is journaled can be read back by the engine.

No sockets: the webhook bodies go through ``ZabbixWebhookSource.accept`` (everything after
the HTTP checks) into a real ``ThreadedJournal``; the mails through ``ImapSource.convert``
(everything after the IMAP fetch).
"""

from __future__ import annotations

import json
import random
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from connector.contracts.adapters import Journaled, Rejected
from connector.domain.clock import FakeClock
from connector.domain.models import Alert, TicketRef
from connector.integrations.mail.mapping import Ignored
from connector.integrations.mail.settings import ImapSettings
from connector.integrations.mail.source import ImapSource
from connector.integrations.zabbix.push import ZabbixWebhookSource
from connector.integrations.zabbix.webhook_settings import ZabbixWebhookSettings
from connector.runtime.intake import ThreadedJournal, reject_event_key
from connector.state.spool import Spool
from connector.state.store import Store
from connector.util.secrets import SecretSource
from tests import mail_samples as samples
from tests.conftest import T0
from tests.unit.webhook_payloads import problem_payload, recovery_payload, update_payload

EXAMPLES = 2000
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
)


class Recording:
    """An ``IntakeJournal`` that remembers what it was handed; every ticket "exists" (#7)."""

    def __init__(self, inner: ThreadedJournal) -> None:
        self.inner = inner
        self.handed: list[Alert | Rejected] = []

    def ingest(self, items: Sequence[Alert | Rejected]) -> Journaled:
        self.handed.extend(items)
        return self.inner.ingest(items)

    def ticket_ref(self, key: str) -> TicketRef | None:
        return TicketRef(ticket_id="7", url="http://redmine.example/issues/7")


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Recording]]:
    path = tmp_path_factory.mktemp("fuzz") / "state.db"
    Store(path).close()
    journal = ThreadedJournal(path, FakeClock(T0))
    yield path, Recording(journal)
    journal.close()


def journal_row(path: Path, source: str, event_key: str) -> tuple[str, str | None] | None:
    with sqlite3.connect(path) as db:
        row = db.execute(
            "SELECT status, outcome FROM journal WHERE source = ? AND event_key = ?", (source, event_key)
        ).fetchone()
    return None if row is None else (row[0], row[1])


# --- webhook bodies ----------------------------------------------------------------------------

_TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", "0", "1", "2", "-1", "{EVENT.ID}", "{$X}", "2026.13.40", "25:61:61", "[{", "null", "9" * 30]),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.none(),
    st.booleans(),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2),
    st.floats(allow_nan=True),
)
_FIELDS = list(problem_payload())


@st.composite
def webhook_bodies(draw: st.DrawFn) -> bytes:
    base = draw(st.sampled_from([problem_payload, recovery_payload, update_payload]))()
    for _ in range(draw(st.integers(0, 6))):
        name = draw(st.sampled_from([*_FIELDS, "extra", "itsm_secret"]))
        if draw(st.booleans()):
            base.pop(name, None)
        else:
            base[name] = draw(_TEXT)
    if draw(st.booleans()):
        base["event_id"] = str(draw(st.integers(1, 50)))  # repeats of the same event happen
    text = json.dumps(base, ensure_ascii=draw(st.booleans()), default=str)
    data = text.encode("utf-8")
    how = draw(st.sampled_from(["as is", "as is", "truncate", "flip", "garbage", "array", "random"]))
    if how == "truncate" and data:
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif how == "flip" and data:
        index = draw(st.integers(0, len(data) - 1))
        data = data[:index] + bytes([data[index] ^ draw(st.integers(1, 255))]) + data[index + 1 :]
    elif how == "garbage":
        data = data + draw(st.binary(min_size=1, max_size=20))
    elif how == "array":
        data = json.dumps([base]).encode()
    elif how == "random":
        data = draw(st.binary(max_size=200))
    return data


@FUZZ
@given(body=webhook_bodies())
def test_webhook_bodies_are_journaled_ignored_or_dead_lettered(body: bytes, state: tuple[Path, Recording]) -> None:
    path, journal = state
    settings_ = ZabbixWebhookSettings(
        secret=SecretSource("f" * 32), source_name="zabbix", public_url="http://connector.metro.example:8089"
    )
    source = ZabbixWebhookSource(settings_, name="zabbix-push", clock=FakeClock(T0))
    source._journal = journal
    journal.handed.clear()
    reply = source.accept(body)
    assert isinstance(reply.body, dict)
    status = reply.body["status"]
    event(f"HTTP {reply.status} {status}")
    if reply.status == 200 and status == "ignored":
        assert reply.body["reason"] and journal.handed == []
        return
    if reply.status == 200:
        (alert,) = journal.handed
        assert isinstance(alert, Alert) and status == "accepted"
        row = journal_row(path, alert.source, alert.event_key)
        assert row is not None and row[0] in ("pending", "done")
        return
    assert reply.status in (400, 422), reply
    (rejected,) = journal.handed
    assert isinstance(rejected, Rejected) and rejected.reason and reply.body["error"] == rejected.reason
    _, event_key = reject_event_key(rejected)
    row = journal_row(path, rejected.source, event_key)
    assert row is not None and row[0] == "dead" and row[1]


def test_every_journaled_webhook_alert_reads_back(state: tuple[Path, Recording]) -> None:
    """Runs after the fuzz (same module state): the engine can read what the endpoint journaled."""
    path, _ = state
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT payload FROM journal WHERE status = 'pending'").fetchall()
    assert rows, "the fuzz journaled nothing: it did not exercise the accepting path"
    for (payload,) in rows:
        Alert.model_validate_json(payload)


# --- mails -------------------------------------------------------------------------------------

_SEEDS = [
    samples.utf8,
    samples.gbk_subject,
    samples.gb2312_qp,
    samples.mislabelled,
    samples.utf8_labelled_gbk,
    samples.big5,
    samples.html_only,
    samples.with_attachment,
    lambda tag: samples.reply(tag, "42"),
    samples.auto_reply,
    samples.broken_mime,
    samples.from_outside,
]
_CHARSETS = ["utf-8", "gb2312", "gbk", "big5", "iso-8859-1", "us-ascii", "x-unknown", "utf-7", "", '"', "utf-16"]
_HEADER_JUNK = [
    b"Subject: =?gb2312?B?!!!!?=",
    b"Subject: =?utf-8?Q?=E6=95?=",
    b"From: =?utf-8?b?WmhhbmcsIFNhbg==?= <z@metro.example>",
    b"From: <>",
    b"From: a@metro.example, b@metro.example",
    b"Content-Type: multipart/mixed",
    b"Content-Type: text/plain; charset=\xff\xfe",
    b"Content-Transfer-Encoding: base64",
    b"Content-Transfer-Encoding: x-uuencode",
    b"Message-ID: <" + b"x" * 300 + b"@metro.example>",
    b"In-Reply-To: <itsm.99999999999999999999.x@c>",
    b"Date: Thu, 99 Nov 99999 99:99:99 +9999",
    b"Subject: \xe5\x8f\xaa\xd6\xd0",
    b"X-Autoreply: yes",
    b"Content-Disposition: attachment; filename*=gbk''%D6%D0.txt",
]


@st.composite
def mails(draw: st.DrawFn) -> bytes:
    seed = draw(st.sampled_from(_SEEDS))(f"fz{draw(st.integers(0, 10**6))}")
    rng = random.Random(draw(st.integers(0, 2**32)))
    data = bytearray(seed)
    for _ in range(draw(st.integers(0, 4))):
        how = draw(st.sampled_from(["flip", "cut", "insert", "header", "charset", "boundary", "crlf"]))
        if how == "flip" and data:
            data[rng.randrange(len(data))] = rng.randrange(256)
        elif how == "cut" and data:
            start = rng.randrange(len(data))
            del data[start : start + rng.randrange(1, 200)]
        elif how == "insert":
            at = rng.randrange(len(data) + 1)
            data[at:at] = draw(st.binary(min_size=1, max_size=30))
        elif how == "header":
            data[0:0] = draw(st.sampled_from(_HEADER_JUNK)) + b"\r\n"
        elif how == "charset":
            label = f"charset={draw(st.sampled_from(_CHARSETS))};x=".encode()
            data = bytearray(bytes(data).replace(b"charset=", label, 1))
        elif how == "boundary":
            data = bytearray(bytes(data).replace(b"--=_b_", b"--=_c_", 1))
        elif how == "crlf":
            data = bytearray(bytes(data).replace(b"\r\n", b"\n"))
    if draw(st.integers(0, 20)) == 0:
        return draw(st.binary(max_size=300))
    return bytes(data)


@pytest.fixture(scope="module")
def mail_source(tmp_path_factory: pytest.TempPathFactory) -> ImapSource:
    folder = tmp_path_factory.mktemp("mailfuzz")
    settings_ = ImapSettings.model_validate(
        {
            "host": "imap.metro.example",
            "user": "desk",
            "password": SecretSource("pw-0123"),
            "allowed_senders": ["metro.example"],
            "rate_limit_count": 1_000_000,
            "max_attachment_bytes": 4096,
        }
    )
    return ImapSource(settings_, name="email", clock=FakeClock(T0), spool=Spool(folder / "spool"))


@pytest.fixture(scope="module")
def mail_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    store = Store(tmp_path_factory.mktemp("mailstore") / "state.db")
    yield store
    store.close()


@FUZZ
@given(raw=mails(), size_factor=st.sampled_from([1, 1, 1, 10**6]))
def test_mails_become_alerts_ignored_or_quarantined_with_a_reason(
    raw: bytes, size_factor: int, mail_source: ImapSource, mail_store: Store
) -> None:
    item, quarantine = mail_source.convert(raw, folder="INBOX", uid=1, size=len(raw) * size_factor)
    event(f"{type(item).__name__}{' (quarantine)' if quarantine else ''}")
    if isinstance(item, Ignored):
        assert item.reason and not quarantine
        return
    now = T0
    if isinstance(item, Rejected):
        assert item.reason and item.source == "email"
        payload, event_key = reject_event_key(item)
        with mail_store.transaction():
            mail_store.journal_dead(item.source, event_key, item.external_id, payload, item.reason, now)
        return
    assert isinstance(item, Alert) and not quarantine
    assert item.title and item.reporter and "@" in item.reporter
    for attachment in item.attachments:
        assert mail_source.mapper.spool.get(attachment.sha256)  # on disk before it is journaled
    payload = item.model_dump_json()
    with mail_store.transaction():
        mail_store.journal_add(item.source, item.event_key, item.external_id, payload, now)
    assert Alert.model_validate_json(payload) == item


def _all_kinds(items: list[Any]) -> set[str]:
    return {type(i).__name__ for i in items}


def test_the_mail_fuzz_reaches_every_outcome(mail_source: ImapSource) -> None:
    """The seeds alone cover alert, ignored and quarantine, so the fuzz starts from all three."""
    outcomes = [mail_source.convert(build("seed"), folder="INBOX", uid=1, size=100) for build in _SEEDS]
    assert _all_kinds([item for item, _ in outcomes]) == {"Alert", "Ignored", "Rejected"}
    assert any(quarantine for _, quarantine in outcomes)
