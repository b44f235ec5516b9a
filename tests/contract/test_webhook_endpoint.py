"""The webhook endpoint over a real loopback socket: what Zabbix's script relies on.

401 without the secret (nothing stored), 413 before a huge body is read, 400 + dead letter for
a body that is not JSON, 200 only after the event is journaled (repeats answered the same),
updates waiting for their ticket (503), our own acknowledgement ignored, the signed ticket link,
and the daemon deciding a pushed event at once instead of at its next poll.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pluggy
import pytest
import requests

from connector.contracts.adapters import PushSource
from connector.domain.clock import FakeClock
from connector.domain.models import Alert, TicketStatus
from connector.integrations.zabbix.push import ZabbixWebhookSource, ticket_signature
from connector.integrations.zabbix.webhook_settings import ZabbixWebhookSettings
from connector.plugins.local import LocalBackend
from connector.process.pipeline import Pipeline
from connector.rules.book import TicketState
from connector.rules.loading import default_rulebook
from connector.runtime.daemon import Daemon
from connector.runtime.engine import Engine
from connector.runtime.intake import ThreadedJournal
from connector.util.secrets import SecretSource
from tests.conftest import T0
from tests.state_backend import make_store, state_target
from tests.unit.service_process import bound_port
from tests.unit.webhook_payloads import problem_payload, recovery_payload, update_payload

SECRET = "s3cret-for-the-webhook-0123456789"
AUTH = {"Authorization": f"Bearer {SECRET}"}


def make_source(**overrides: Any) -> ZabbixWebhookSource:
    settings = ZabbixWebhookSettings.model_validate(
        {"secret": SecretSource(SECRET), "port": 0, "source_name": "zabbix", **overrides}
    )
    return ZabbixWebhookSource(settings, name="zabbix-push", clock=FakeClock(T0))


@pytest.fixture
def state(tmp_path: Path) -> Path:
    path = tmp_path / "state.db"
    make_store(path).close()
    return path


@pytest.fixture
def served(state: Path, clock: FakeClock) -> Iterator[str]:
    """The endpoint's URL, served on a free loopback port, journaling into ``state``."""
    journal = ThreadedJournal(state_target(state), clock)
    source = make_source()
    source.serve(journal)
    try:
        yield f"http://127.0.0.1:{source.port}/zabbix"
    finally:
        source.shutdown()
        journal.close()


def ticket_created(state: Path, clock: FakeClock) -> None:
    """What the engine records once the helpdesk created the ticket of event 32 (#7)."""
    store = make_store(state)
    opened = TicketState(
        key="zabbix:32",
        ticket_id=None,
        status=TicketStatus.OPEN,
        fingerprint=None,
        created_at=T0,
        source="zabbix",
        external_id="32",
    )
    store.ticket_add(opened, backend="redmine")
    store.ticket_set_ref("zabbix:32", "7", "http://redmine.example/issues/7")
    store.close()


def counts(state: Path) -> tuple[dict[str, int], int]:
    store = make_store(state)
    try:
        return store.journal_counts(), len(store.dead_letters())
    finally:
        store.close()


def post(url: str, body: bytes | dict[str, Any], headers: dict[str, str] | None = None) -> requests.Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return requests.post(url, data=data, headers={"Content-Type": "application/json", **(headers or {})}, timeout=30)


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong-secret"}, {"Authorization": SECRET}, {"Authorization": f"Basic {SECRET}"}],
)
def test_without_the_secret_401_and_nothing_changes(served: str, state: Path, headers: dict[str, str]) -> None:
    url = served
    before = counts(state)
    answer = post(url, problem_payload(), headers)
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == "Bearer"
    assert counts(state) == before == ({}, 0)


def test_a_10_mb_body_gets_413_and_is_not_stored(served: str, state: Path) -> None:
    url = served
    answer = post(url, b"{" + b" " * (10 * 1024 * 1024) + b"}", AUTH)
    assert answer.status_code == 413
    assert counts(state) == ({}, 0)


def test_invalid_json_gets_400_and_a_dead_letter_with_the_reason(served: str, state: Path) -> None:
    url = served
    answer = post(url, b'{"event_id": "32", oops', AUTH)
    assert answer.status_code == 400
    assert "not JSON" in answer.json()["error"]
    store = make_store(state)
    (dead,) = store.dead_letters()
    store.close()
    assert dead["kind"] == "intake" and dead["source"] == "zabbix"
    assert "not JSON" in dead["reason"] and "oops" in dead["payload"]


def test_a_problem_is_journaled_before_200_and_a_retry_is_the_same_answer(served: str, state: Path) -> None:
    url = served
    first = post(url, problem_payload(), AUTH)
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["key"] == "zabbix:32"
    assert body["tags"] == {"__itsm_key": "zabbix:32", "__itsm_url": body["url"]}
    assert body["url"].endswith(f"/ticket/zabbix%3A32?sig={ticket_signature(SECRET, 'zabbix:32')}")
    assert counts(state) == ({"pending": 1}, 0)  # on disk when the answer came
    again = post(url, problem_payload(), AUTH)
    assert again.status_code == 200 and again.json() == body
    assert counts(state) == ({"pending": 1}, 0)
    store = make_store(state)
    (entry,) = store.journal_pending()
    store.close()
    alert = Alert.model_validate_json(entry.payload)
    assert (alert.source, alert.external_id, entry.event_key) == ("zabbix", "32", "32")


def test_a_payload_that_is_not_an_event_gets_422_and_a_dead_letter(served: str, state: Path) -> None:
    url = served
    answer = post(url, problem_payload(event_nseverity="9"), AUTH)
    assert answer.status_code == 422 and "severity" in answer.json()["error"]
    assert counts(state)[1] == 1


def test_updates_wait_for_their_ticket_and_our_own_ack_is_ignored(served: str, state: Path, clock: FakeClock) -> None:
    url = served
    assert post(url, problem_payload(), AUTH).status_code == 200
    early = post(url, update_payload(), AUTH)
    assert early.status_code == 503 and early.headers["Retry-After"] == "30"

    ticket_created(state, clock)

    own = post(url, update_payload(event_update_message="[itsm-connector] ticket #7: http://x/issues/7"), AUTH)
    assert own.status_code == 200 and own.json()["status"] == "ignored"
    assert counts(state) == ({"pending": 1}, 0)

    late = post(url, update_payload(), AUTH)
    assert late.status_code == 200 and late.json()["status"] == "accepted"
    store = make_store(state)
    notes = [Alert.model_validate_json(e.payload) for e in store.journal_pending() if "/update/" in e.event_key]
    store.close()
    (note,) = notes
    assert note.reply_to == "7" and "switch replaced" in note.description


def test_the_ticket_link_redirects_once_the_ticket_exists(served: str, state: Path, clock: FakeClock) -> None:
    url = served
    link = post(url, problem_payload(), AUTH).json()["url"]
    waiting = requests.get(link, allow_redirects=False, timeout=30)
    assert waiting.status_code == 404 and "not in the helpdesk yet" in waiting.text
    forged = requests.get(link.replace("sig=", "sig=0"), allow_redirects=False, timeout=30)
    assert forged.status_code == 404 and "no such ticket link" in forged.text

    ticket_created(state, clock)
    found = requests.get(link, allow_redirects=False, timeout=30)
    assert found.status_code == 302 and found.headers["Location"] == "http://redmine.example/issues/7"


def test_other_paths_methods_and_missing_length(served: str) -> None:
    url = served
    base = url.removesuffix("/zabbix")
    assert requests.get(f"{base}/healthz", timeout=30).json() == {"status": "ok"}
    assert requests.post(f"{base}/other", data=b"{}", headers=AUTH, timeout=30).status_code == 404
    assert requests.put(url, data=b"{}", headers=AUTH, timeout=30).status_code == 405
    chunked = requests.post(url, data=iter([b"{}"]), headers=AUTH, timeout=30)  # no Content-Length
    assert chunked.status_code == 411


def test_the_secret_never_reaches_the_log_or_the_state(
    served: str, state: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = served
    caplog.set_level("DEBUG")
    post(url, problem_payload(itsm_secret=SECRET), AUTH)
    post(url, b"not json " + SECRET.encode(), {"Authorization": "Bearer nope"})
    post(url, b"not json either " + SECRET.encode(), AUTH)  # a script that got it wrong
    assert SECRET not in caplog.text
    store = make_store(state)
    stored = json.dumps([store.dead_letters(), [e.payload for e in store.journal_pending()]])
    store.close()
    assert SECRET not in stored and "not json either ***" in stored


def test_pushed_events_become_tickets_without_waiting_for_the_poll(
    tmp_path: Path, clock: FakeClock, pm: pluggy.PluginManager
) -> None:
    source = make_source()
    assert isinstance(source, PushSource)
    built: list[Daemon] = []
    ready = threading.Event()

    def run() -> None:
        # SQLite connections belong to the thread that opened them: build the engine in its thread
        engine = Engine(
            store=make_store(tmp_path / "state.db"),
            backend=LocalBackend(tmp_path / "tickets.db", clock),
            sources={"zabbix-push": source},
            pipeline=Pipeline.from_manager(pm, default_rulebook()),
            clock=clock,
        )
        daemon = Daemon(engine, poll_seconds=3600, drain_seconds=3600)  # only a push can be this fast
        built.append(daemon)
        ready.set()
        daemon.run(install_signals=False)

    runner = threading.Thread(target=run)
    runner.start()
    tickets = LocalBackend(tmp_path / "tickets.db", clock)
    try:
        assert ready.wait(30)
        deadline = time.monotonic() + 30
        port = bound_port(source)
        url = f"http://127.0.0.1:{port}/zabbix"
        assert post(url, problem_payload(), AUTH).status_code == 200
        while not tickets.tickets() and time.monotonic() < deadline:
            time.sleep(0.05)
        (ticket,) = tickets.tickets()
        assert ticket["key"] == "zabbix:32" and ticket["title"] == problem_payload()["event_name"]
        assert post(url, recovery_payload(), AUTH).status_code == 200
        while tickets.tickets()[0]["status"] != "resolved" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert tickets.tickets()[0]["status"] == "resolved"
    finally:
        if built:
            built[0].stop()
        runner.join(timeout=30)
        tickets.close()
    assert not runner.is_alive()
    with pytest.raises(requests.ConnectionError):
        post(url, problem_payload(), AUTH)  # the endpoint stopped with the daemon


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 1000,  # an unterminated array nested past the recursion limit
        json.dumps({**problem_payload(), "x": json.loads("[" * 900 + '"\\udade"' + "]" * 900)}).encode(),
    ],
    ids=["1000-deep", "900-deep-with-a-lone-surrogate"],
)
def test_a_deeply_nested_body_gets_400_and_a_dead_letter_with_the_reason(served: str, state: Path, body: bytes) -> None:
    answer = post(served, body, AUTH)
    assert answer.status_code == 400, answer.text
    assert "nested deeper than 64 levels" in answer.json()["error"]
    store = make_store(state)
    (dead,) = store.dead_letters()
    store.close()
    assert dead["kind"] == "intake" and "nested deeper than 64 levels" in dead["reason"]
    assert counts(state) == ({"dead": 1}, 1)  # nothing journaled but the dead letter
    assert post(served, problem_payload(), AUTH).status_code == 200  # and the endpoint still answers
