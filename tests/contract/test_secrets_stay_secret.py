"""Known secrets never reach a log line, the state file (dead letters included) or the
helpdesk: a run of the webhook endpoint (over a real loopback socket) and the engine against
the GLPI contract double, with the things that tend to leak a secret — a body that carries the
secret in a field, a broken body that quotes it, a wrong bearer token, a refused and a failing
helpdesk call — and every log record at DEBUG is kept and scanned, with the raw bytes of the
state file and every ticket and follow-up the helpdesk stored."""

from __future__ import annotations

import http.client
import json
import logging
from pathlib import Path

import pytest
import requests
import responses
from pydantic import SecretStr

from connector.domain.clock import FakeClock
from connector.integrations.glpi import GlpiBackend, GlpiSettings
from connector.integrations.zabbix.push import ZabbixWebhookSource
from connector.integrations.zabbix.webhook_settings import ZabbixWebhookSettings
from connector.runtime.intake import ThreadedJournal
from connector.state.store import Store
from connector.util.secrets import SecretSource
from tests.conformance.harness import make_engine
from tests.contract.glpi_fake import URL, USER_TOKEN, GlpiFake
from tests.unit.webhook_payloads import problem_payload

WEBHOOK_SECRET = "whk-Zq8vN3xR7tLp2mKc9sBf4hJd"


def post(port: int, body: bytes, authorization: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(
            "POST", "/zabbix", body, {"Authorization": authorization, "Content-Type": "application/json"}
        )
        return connection.getresponse().status
    finally:
        connection.close()


def test_no_secret_in_logs_state_or_helpdesk(
    tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    state = tmp_path / "state.db"
    Store(state).close()
    settings = ZabbixWebhookSettings.model_validate(
        {"secret": SecretSource(WEBHOOK_SECRET), "port": 0, "source_name": "zabbix"}
    )
    source = ZabbixWebhookSource(settings, name="zabbix-push", clock=clock)
    journal = ThreadedJournal(state, clock)
    source.serve(journal)
    bearer = f"Bearer {WEBHOOK_SECRET}"
    try:
        carried = problem_payload(event_id="71", itsm_secret=WEBHOOK_SECRET, Secret_Token=WEBHOOK_SECRET)
        assert post(source.port, json.dumps(carried).encode(), bearer) == 200
        broken = f'{{"event_id": "72", "note": "{WEBHOOK_SECRET}", '.encode()
        assert post(source.port, broken, bearer) == 400
        assert post(source.port, json.dumps(problem_payload(event_id="73")).encode(), bearer[:-1] + "x") == 401
        assert post(source.port, json.dumps(problem_payload(event_id="74")).encode(), bearer) == 200
    finally:
        source.shutdown()
        journal.close()

    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake = GlpiFake(rsps, clock)
        backend = GlpiBackend(
            GlpiSettings(url=URL, user_token=SecretStr(USER_TOKEN)), clock=clock, session=requests.Session()
        )
        engine = make_engine(backend, clock, state, store=Store(state))  # the raw file is scanned below
        fake.fail("POST", "Ticket/", 500, ["ERROR_SQL", "Unexpected SQL Error"])
        fake.fail("POST", "Ticket/", 401, ["ERROR_SESSION_TOKEN_INVALID", "session_token seems invalid"])
        engine.process_pending()
        for _ in range(4):
            engine.drain_outbox()
            clock.advance(seconds=900)
        assert len(fake.tickets) == 2
        engine.store.close()
        backend.close()

    dead = Store(state).dead_letters()
    assert any("not JSON" in str(row) for row in dead), dead
    assert any("event_id" in row["payload"] and "***" in row["payload"] for row in dead), "the body is kept, masked"
    records = "\n".join(f"{r.getMessage()} {r.exc_text or ''} {r.args!r}" for r in caplog.records) + caplog.text
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("state.db*"))
    helpdesk = json.dumps([fake.tickets, fake.followups], default=str)
    for secret in (WEBHOOK_SECRET, USER_TOKEN):
        assert secret not in records, f"{secret[:4]}… in the logs"
        assert secret.encode() not in stored, f"{secret[:4]}… in the state file"
        assert secret not in helpdesk, f"{secret[:4]}… in the helpdesk"
    assert any("unauthorized" in r.getMessage() for r in caplog.records)  # the refusal was logged
