"""The Zabbix API and the IMAP server going away and coming back, through the fault proxy
(issue 17, Deliver 3): no alert or mail lost, none taken twice.

Zabbix: the poll source reads the real Zabbix 6.0 through an HTTP fault proxy; each fault
(503, 429, reset, forwarded then reset, forwarded then hang, no answer, the API gone) fails one
poll — the cursor stays, nothing is journaled — and the next poll takes every event once.
IMAP: the source reads the real Dovecot through a TCP proxy; the server gone, the connection
reset while idle and cut mid-fetch each fail a poll, and the mails are journaled once each.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pluggy
import pytest
from pydantic import SecretStr

from connector.contracts.adapters import PluginContext
from connector.domain.clock import FakeClock, SystemClock
from connector.integrations.mail.imap import mailbox_name
from connector.integrations.mail.settings import ImapSettings
from connector.integrations.zabbix import ZabbixSettings, ZabbixSource
from connector.plugins.imap import build_imap_source
from connector.plugins.local import LocalBackend
from connector.process.pipeline import Pipeline
from connector.rules.loading import default_rulebook
from connector.runtime.engine import Engine
from connector.state.spool import Spool
from connector.state.store import Store
from connector.util.secrets import SecretSource
from tests import mail_samples as samples
from tests.faults.proxy import Fault, FaultProxy
from tests.integration.test_imap_intake import PASSWORD_KEY, USER_KEY, Mailbox
from tests.integration.zabbix_helpers import ZabbixLab
from tests.state_backend import make_store

pytestmark = pytest.mark.integration


def journaled(store: Store, source: str) -> list[str]:
    """The external ids journaled for ``source``, one entry per journal row."""
    rows = store._exec("SELECT external_id FROM journal WHERE source = ? AND status != 'dead'", (source,)).fetchall()
    return [row["external_id"] for row in rows]


def engine_for(tmp_path: Path, clock: FakeClock, pm: pluggy.PluginManager, name: str, source: object) -> Engine:
    return Engine(
        store=make_store(tmp_path / "state.db"),
        backend=LocalBackend(tmp_path / "tickets.db", clock),
        sources={name: source},  # type: ignore[dict-item]
        pipeline=Pipeline.from_manager(pm, default_rulebook()),
        clock=clock,
    )


@pytest.fixture
def lab(zabbix_env: dict[str, str]) -> Iterator[ZabbixLab]:
    handle = ZabbixLab(zabbix_env)
    try:
        yield handle
    finally:
        handle.cleanup()


ZABBIX_FAULTS = [
    Fault.STATUS_503,
    Fault.STATUS_429,
    Fault.RESET,
    Fault.FORWARD_RESET,
    Fault.FORWARD_HANG,
    Fault.HANG,
    Fault.FORWARD_500,
]


def test_the_zabbix_api_failing_and_gone_loses_and_doubles_no_event(
    zabbix_env: dict[str, str], lab: ZabbixLab, tmp_path: Path, clock: FakeClock, pm: pluggy.PluginManager
) -> None:
    where = urlsplit(zabbix_env["ZABBIX_API_URL"])
    assert where.hostname is not None and where.port is not None
    proxy = FaultProxy((where.hostname, where.port), hold_seconds=3)
    settings = ZabbixSettings.model_validate(
        {
            "url": f"{proxy.url}{where.path}",
            "api_token": SecretStr(zabbix_env["ZABBIX_API_TOKEN"]),
            "timeout_seconds": 2,
            "batch_limit": 10_000,
        }
    )
    source = ZabbixSource(settings, name="zabbix", clock=SystemClock())
    engine = engine_for(tmp_path, clock, pm, "zabbix", source)
    try:
        first = lab.fire(lab.create_trapper_trigger(), 95)
        with engine.store.transaction():  # start just before our event: other tests share the server
            engine.store.set_cursor("zabbix", str(int(first["eventid"]) - 1), clock.now())
        ours = {first["eventid"]}
        for fault in ZABBIX_FAULTS:
            cursor = engine.store.get_cursor("zabbix")
            proxy.inject(fault, times=1)
            engine.poll_sources()  # the failure is logged, nothing raised
            assert proxy.pending() == 0, fault
            if fault is not ZABBIX_FAULTS[0]:
                continue
            assert engine.store.get_cursor("zabbix") == cursor and not set(journaled(engine.store, "zabbix")) & ours
        proxy.down()
        ours.add(lab.fire(lab.create_trapper_trigger(), 95)["eventid"])
        engine.poll_sources()
        proxy.up()
        proxy.inject(Fault.FORWARD_RESET, times=1)
        engine.poll_sources()
        engine.poll_sources()
        engine.poll_sources()
        taken = [eid for eid in journaled(engine.store, "zabbix") if eid in ours]
        assert sorted(taken) == sorted(ours), "an event lost or taken twice"
        engine.drain_outbox()
        keys = [t["key"] for t in engine.backend.tickets()]  # type: ignore[attr-defined]
        assert all(keys.count(f"zabbix:{eid}") == 1 for eid in ours), keys
    finally:
        source.close()
        proxy.close()
        engine.store.close()


@pytest.fixture
def box(imap_env: dict[str, str]) -> Iterator[Mailbox]:
    tag = uuid.uuid4().hex[:8]
    made = Mailbox(imap_env, f"itsm-fault-{tag}", f"itsm-fault-{tag}-quarantine")
    conn = made.imap()
    conn.create(mailbox_name(made.folder))
    conn.logout()
    try:
        yield made
    finally:
        conn = made.imap()
        for name in (made.folder, made.quarantine):
            conn.delete(mailbox_name(name))
        conn.logout()


def test_the_imap_server_gone_reset_and_cut_loses_and_doubles_no_mail(
    box: Mailbox, tmp_path: Path, clock: FakeClock, pm: pluggy.PluginManager
) -> None:
    proxy = FaultProxy((box.env["IMAP_HOST"], int(box.env["IMAP_PORT"])), http=False)
    settings = ImapSettings.model_validate(
        {
            "host": "127.0.0.1",
            "port": proxy.port,
            "security": "none",  # Dovecot here has no TLS; allowed because it is loopback
            "user": box.env[USER_KEY],
            "password": SecretSource(box.env[PASSWORD_KEY]),
            "folders": [box.folder],
            "quarantine_folder": box.quarantine,
            "allowed_senders": ["metro.example"],
            "timeout_seconds": 5,
        }
    )
    spool = Spool(tmp_path / "spool")
    ctx = PluginContext(clock=clock, name="email", data_dir=tmp_path, register_secret=lambda _: None, spool=spool)
    source = build_imap_source(settings, ctx)
    engine = engine_for(tmp_path, clock, pm, "email", source)
    tags = [f"fault-{uuid.uuid4().hex[:8]}" for _ in range(4)]
    try:
        box.deliver(samples.utf8(tags[0]))
        box.deliver(samples.with_attachment(tags[1]))
        proxy.down()
        engine.poll_sources()
        assert journaled(engine.store, "email") == []
        proxy.up()
        engine.poll_sources()
        assert len(journaled(engine.store, "email")) == 2
        box.deliver(samples.gbk_subject(tags[2]))
        box.deliver(samples.html_only(tags[3]))
        proxy.reset_all()  # a connection the source may keep is gone
        proxy.cut_next(600)  # and the next one is cut while the server talks
        for _ in range(4):
            engine.poll_sources()
        ids = journaled(engine.store, "email")
        assert len(ids) == len(set(ids)) == 4, ids
        assert all(any(tag in eid for eid in ids) for tag in tags), ids
        assert proxy.pending() == 0
        flags = box.flags()
        assert all("\\Seen" in flags.get(f"{tag}@metro.example", "") for tag in tags), flags
    finally:
        source.close()
        proxy.close()
        engine.store.close()
