"""The ``alertmanager`` source mounted on the daemon's one HTTP server: Alertmanager's
documented notification (two grouped alerts firing, then resolved) is journaled before 200 and
becomes two tickets in the local helpdesk, then both are resolved; what cannot be read is
answered 400 and dead-lettered; the caller is checked as on the Zabbix webhook."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pluggy
import pytest
import requests

from connector.domain.clock import FakeClock
from connector.domain.models import TicketStatus
from connector.integrations.alertmanager import AlertmanagerSettings, AlertmanagerSource
from connector.plugins.local import LocalBackend
from connector.process.pipeline import Pipeline
from connector.rules.loading import default_rulebook
from connector.runtime.config import HttpSettings
from connector.runtime.engine import Engine
from connector.runtime.health import Health
from connector.runtime.http_server import DaemonHttp
from connector.runtime.intake import ThreadedJournal
from connector.runtime.metrics import Metrics
from connector.state.spool import Spool
from connector.util.secrets import SecretSource
from tests.conftest import T0
from tests.state_backend import make_store, state_target
from tests.unit.alertmanager_payloads import firing, resolved

SECRET = "am-" + "x" * 29
AUTH = {"Authorization": f"Bearer {SECRET}"}


@pytest.fixture
def state(tmp_path: Path) -> Path:
    path = tmp_path / "state.db"
    make_store(path).close()
    return path


@pytest.fixture
def source(clock: FakeClock) -> AlertmanagerSource:
    settings = AlertmanagerSettings.model_validate({"secret": SecretSource(SECRET), "max_body_bytes": 64 * 1024})
    return AlertmanagerSource(settings, name="prometheus", clock=clock)


@pytest.fixture
def url(state: Path, clock: FakeClock, source: AlertmanagerSource) -> Iterator[str]:
    """The endpoint's URL on the shared server (port 0), journaling into ``state``."""
    metrics = Metrics()
    journal = ThreadedJournal(state_target(state), clock, metrics=metrics)
    server = DaemonHttp(HttpSettings(port=0), Health(clock), metrics, str(state))
    server.start()
    server.mount(source.mount(journal, f"http://127.0.0.1:{server.port}"))
    try:
        yield f"http://127.0.0.1:{server.port}/alertmanager"
    finally:
        server.stop()
        source.unmount()
        journal.close()


@pytest.fixture
def backend(tmp_path: Path, clock: FakeClock) -> LocalBackend:
    return LocalBackend(tmp_path / "tickets.db", clock)


@pytest.fixture
def engine(
    state: Path,
    tmp_path: Path,
    clock: FakeClock,
    backend: LocalBackend,
    source: AlertmanagerSource,
    pm: pluggy.PluginManager,
) -> Iterator[Engine]:
    engine = Engine(
        store=make_store(state),
        backend=backend,
        sources={"prometheus": source},
        pipeline=Pipeline.from_manager(pm, default_rulebook()),
        clock=clock,
        spool=Spool(tmp_path / "spool"),
    )
    yield engine
    engine.store.close()


def post(url: str, body: bytes | dict[str, Any], headers: dict[str, str] | None = None) -> requests.Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return requests.post(url, data=data, headers={"Content-Type": "application/json", **(headers or {})}, timeout=30)


def counts(state: Path) -> tuple[dict[str, int], list[str]]:
    store = make_store(state)
    try:
        return store.journal_counts(), [str(d) for d in store.dead_letters()]
    finally:
        store.close()


def test_the_documented_notification_makes_two_tickets_then_resolves_both(
    url: str, state: Path, clock: FakeClock, engine: Engine, backend: LocalBackend
) -> None:
    clock.set(T0)
    answer = post(url, firing(), AUTH)
    assert answer.status_code == 200, answer.text
    keys = answer.json()["keys"]
    assert len(keys) == 2 and all(k.startswith("prometheus:") for k in keys)
    assert counts(state)[0] == {"pending": 2}  # journaled before the answer
    assert post(url, firing(), AUTH).json()["keys"] == keys  # the repeat_interval resend
    engine.process_pending()
    engine.drain_outbox()
    tickets = backend.tickets()
    assert len(tickets) == 2, tickets
    assert sorted(t["ci"] for t in tickets) == ["web-01:9100", "web-02:9100"]
    assert {t["status"] for t in tickets} == {TicketStatus.OPEN.value}

    clock.set(T0.replace(minute=50))
    assert post(url, resolved(), AUTH).status_code == 200
    engine.process_pending()
    engine.drain_outbox()
    assert {t["status"] for t in backend.tickets()} == {TicketStatus.RESOLVED.value}
    assert len(backend.tickets()) == 2


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"version": "4", oops', "body is not JSON"),
        (b"\xff\xfe", "body is not JSON"),
        (b"[1, 2]", "not an object"),
        (json.dumps({**firing(), "version": "3"}).encode(), "version"),
        (json.dumps({"version": "4", "alerts": "none"}).encode(), "alerts is not a list"),
        (b"[" * 200 + b"]" * 200, "body refused"),
    ],
)
def test_a_body_it_cannot_read_is_400_and_dead_lettered(url: str, state: Path, body: bytes, reason: str) -> None:
    answer = post(url, body, AUTH)
    assert answer.status_code == 400 and reason in answer.json()["error"], answer.text
    journal, dead = counts(state)
    assert journal == {"dead": 1} and len(dead) == 1


def test_a_bad_alert_is_dead_lettered_beside_the_good_one(url: str, state: Path) -> None:
    payload = firing()
    payload["alerts"][0]["startsAt"] = "yesterday"
    answer = post(url, payload, AUTH)
    assert answer.status_code == 200 and len(answer.json()["keys"]) == 1
    assert "startsAt" in answer.json()["rejected"][0]
    assert counts(state)[0] == {"pending": 1, "dead": 1}


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong-secret"}, {"Authorization": SECRET}, {"Authorization": f"Basic {SECRET}"}],
)
def test_without_the_secret_401_and_nothing_changes(url: str, state: Path, headers: dict[str, str]) -> None:
    answer = post(url, firing(), headers)
    assert answer.status_code == 401 and answer.headers["WWW-Authenticate"] == "Bearer"
    assert counts(state) == ({}, [])


def test_too_large_other_methods_and_paths(url: str, state: Path) -> None:
    assert post(url, b"{" + b" " * (128 * 1024) + b"}", AUTH).status_code == 413
    assert requests.get(url, headers=AUTH, timeout=30).status_code == 405
    assert requests.put(url, data=b"{}", headers=AUTH, timeout=30).status_code == 405
    assert post(url + "/more", firing(), AUTH).status_code == 404
    assert counts(state) == ({}, [])


def test_without_the_http_section_it_refuses_to_start(
    source: AlertmanagerSource, state: Path, clock: FakeClock
) -> None:
    from connector.domain.errors import SourceError

    journal = ThreadedJournal(state_target(state), clock)
    try:
        with pytest.raises(SourceError, match="http: section"):
            source.serve(journal)
    finally:
        journal.close()
