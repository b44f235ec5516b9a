"""The ``json_webhook`` source mounted on the daemon's one HTTP server: an Uptime Kuma monitor
going down and up again is one ticket, opened then resolved; a Grafana group is journaled
before 200; what cannot be read is answered 400 and dead-lettered; the caller is checked."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pluggy
import pytest
import requests

from connector.contracts.http import HttpRequest
from connector.domain.clock import FakeClock
from connector.domain.models import TicketStatus
from connector.integrations.json_webhook import JsonWebhookSettings, JsonWebhookSource
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
from tests.unit.test_json_webhook_mapping import GRAFANA, GRAFANA_MAPPING, KUMA, KUMA_MAPPING

SECRET = "jw-" + "x" * 29
AUTH = {"Authorization": f"Bearer {SECRET}"}


@pytest.fixture
def state(tmp_path: Path) -> Path:
    path = tmp_path / "state.db"
    make_store(path).close()
    return path


@pytest.fixture
def source(clock: FakeClock) -> JsonWebhookSource:
    settings = JsonWebhookSettings.model_validate({"secret": SecretSource(SECRET), "path": "/kuma", **KUMA_MAPPING})
    return JsonWebhookSource(settings, name="kuma", clock=clock)


@pytest.fixture
def url(state: Path, clock: FakeClock, source: JsonWebhookSource) -> Iterator[str]:
    """The endpoint's URL on the shared server (port 0), journaling into ``state``."""
    metrics = Metrics()
    journal = ThreadedJournal(state_target(state), clock, metrics=metrics)
    server = DaemonHttp(HttpSettings(port=0), Health(clock), metrics, str(state))
    server.start()
    server.mount(source.mount(journal, f"http://127.0.0.1:{server.port}"))
    try:
        yield f"http://127.0.0.1:{server.port}/kuma"
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
    source: JsonWebhookSource,
    pm: pluggy.PluginManager,
) -> Iterator[Engine]:
    engine = Engine(
        store=make_store(state),
        backend=backend,
        sources={"kuma": source},
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


def test_a_kuma_monitor_down_then_up_is_one_ticket_opened_then_resolved(
    url: str, state: Path, clock: FakeClock, engine: Engine, backend: LocalBackend
) -> None:
    clock.set(T0)
    answer = post(url, KUMA, AUTH)
    assert answer.status_code == 200 and answer.json()["keys"] == ["kuma:7"], answer.text
    assert counts(state)[0] == {"pending": 1}  # journaled before the answer
    engine.process_pending()
    engine.drain_outbox()
    (ticket,) = backend.tickets()
    assert ticket["ci"] == "Ticketing API" and ticket["status"] == TicketStatus.OPEN.value
    clock.set(T0.replace(minute=50))
    up = {**KUMA, "heartbeat": {**KUMA["heartbeat"], "status": 1, "time": "2026-11-26 10:45:00.000"}}
    assert post(url, up, AUTH).status_code == 200
    engine.process_pending()
    engine.drain_outbox()
    (ticket,) = backend.tickets()
    assert ticket["status"] == TicketStatus.RESOLVED.value


def test_a_grafana_group_on_its_own_path(clock: FakeClock, state: Path) -> None:
    settings = JsonWebhookSettings.model_validate({"secret": SecretSource(SECRET), **GRAFANA_MAPPING})
    grafana = JsonWebhookSource(settings, name="grafana", clock=clock)
    journal = ThreadedJournal(state_target(state), clock)
    try:
        endpoint = grafana.mount(journal, "http://127.0.0.1:1")
        body = json.dumps(GRAFANA).encode()
        request = HttpRequest(
            "POST",
            "/json",
            headers={"authorization": f"Bearer {SECRET}", "content-length": str(len(body))},
            content_length=len(body),
            body=body,
        )
        answer = endpoint.handle(request)
        assert answer.status == 200 and isinstance(answer.body, dict) and len(answer.body["keys"]) == 2
        assert counts(state)[0] == {"pending": 2}
    finally:
        grafana.unmount()
        journal.close()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"monitor": oops', "body is not JSON"),
        (b"\xff\xfe", "body is not JSON"),
        (b"[" * 200 + b"]" * 200, "body refused"),
        (b"[1, 2]", "not a JSON object"),
    ],
)
def test_a_body_it_cannot_read_is_400_and_dead_lettered(url: str, state: Path, body: bytes, reason: str) -> None:
    answer = post(url, body, AUTH)
    assert answer.status_code == 400 and reason in answer.json()["error"], answer.text
    journal, dead = counts(state)
    assert journal == {"dead": 1} and len(dead) == 1


def test_an_item_without_id_is_dead_lettered_and_answered_200(url: str, state: Path) -> None:
    answer = post(url, {**KUMA, "monitor": {"name": "x"}}, AUTH)
    assert answer.status_code == 200 and answer.json()["keys"] == []
    assert "no external_id" in answer.json()["rejected"][0]
    assert counts(state)[0] == {"dead": 1}


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong-secret"}, {"Authorization": SECRET}])
def test_without_the_secret_401_and_nothing_changes(url: str, state: Path, headers: dict[str, str]) -> None:
    answer = post(url, KUMA, headers)
    assert answer.status_code == 401
    assert counts(state) == ({}, [])
    assert requests.get(url, headers=AUTH, timeout=30).status_code == 405
