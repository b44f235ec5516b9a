"""The Zabbix webhook mounted on the daemon's one HTTP server (``http:`` section) refuses and
accepts exactly as on its own deprecated server (tests/contract/test_webhook_endpoint.py): the
same ``authenticate`` and ``precheck``, the same answers, journaled before 200."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from connector.domain.clock import FakeClock
from connector.runtime.config import HttpSettings
from connector.runtime.health import Health
from connector.runtime.http_server import DaemonHttp
from connector.runtime.intake import ThreadedJournal
from connector.runtime.metrics import Metrics
from tests.conftest import T0
from tests.contract.test_webhook_endpoint import AUTH, SECRET, counts, make_source
from tests.state_backend import make_store, state_target
from tests.unit.webhook_payloads import problem_payload


@pytest.fixture
def state(tmp_path: Path) -> Path:
    path = tmp_path / "state.db"
    make_store(path).close()
    return path


@pytest.fixture
def mounted(state: Path) -> Iterator[str]:
    """The endpoint's URL on the shared server (port 0), journaling into ``state``."""
    clock = FakeClock(T0)
    metrics = Metrics()
    journal = ThreadedJournal(state_target(state), clock, metrics=metrics)
    server = DaemonHttp(HttpSettings(port=0), Health(clock), metrics, str(state))
    server.start()
    source = make_source(port=12345)  # its own port is not opened: the shared server serves it
    server.mount(source.mount(journal, f"http://127.0.0.1:{server.port}"))
    try:
        yield f"http://127.0.0.1:{server.port}/zabbix"
    finally:
        server.stop()
        source.unmount()
        journal.close()


def post(url: str, body: bytes | dict[str, Any], headers: dict[str, str] | None = None) -> requests.Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return requests.post(url, data=data, headers={"Content-Type": "application/json", **(headers or {})}, timeout=30)


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong-secret"}, {"Authorization": SECRET}, {"Authorization": f"Basic {SECRET}"}],
)
def test_without_the_secret_401_and_nothing_changes(mounted: str, state: Path, headers: dict[str, str]) -> None:
    answer = post(mounted, problem_payload(), headers)
    assert answer.status_code == 401 and answer.headers["WWW-Authenticate"] == "Bearer"
    assert counts(state) == ({}, 0)


def test_a_body_over_the_cap_gets_413_and_is_not_stored(mounted: str, state: Path) -> None:
    answer = post(mounted, b"{" + b" " * (2 * 1024 * 1024) + b"}", AUTH)
    assert answer.status_code == 413
    assert counts(state) == ({}, 0)


def test_a_problem_is_journaled_before_200_and_a_retry_is_the_same_answer(mounted: str, state: Path) -> None:
    first = post(mounted, problem_payload(), AUTH)
    assert first.status_code == 200, first.text
    assert first.json()["key"] == "zabbix:32"
    assert first.json()["url"].startswith(mounted.removesuffix("/zabbix") + "/ticket/")
    assert counts(state) == ({"pending": 1}, 0)
    again = post(mounted, problem_payload(), AUTH)
    assert again.status_code == 200 and again.json() == first.json()
    assert counts(state) == ({"pending": 1}, 0)


def test_bad_bodies_paths_and_methods(mounted: str, state: Path) -> None:
    answer = post(mounted, b'{"event_id": "32", oops', AUTH)
    assert answer.status_code == 400 and "not JSON" in answer.json()["error"]
    assert counts(state) == ({"dead": 1}, 1)
    base = mounted.removesuffix("/zabbix")
    assert requests.get(f"{base}/healthz", timeout=30).json() == {"status": "ok"}
    assert requests.post(f"{base}/other", data=b"{}", headers=AUTH, timeout=30).status_code == 404
    assert requests.put(mounted, data=b"{}", headers=AUTH, timeout=30).status_code == 405
    link = requests.get(f"{base}/ticket/zabbix%3A32?sig=wrong", timeout=30)
    assert link.status_code == 404 and "no such ticket link" in link.text
