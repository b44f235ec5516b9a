"""``DaemonHttp`` on a real socket (waitress, port 0): routing, the body cap before an endpoint
is called, a failing endpoint answered 500 without stopping the server, and a graceful stop —
the request in flight is answered, then nothing more is accepted."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connector.contracts.http import HttpReply, HttpRequest
from connector.domain.clock import FakeClock
from connector.runtime.config import HttpSettings
from connector.runtime.health import Health
from connector.runtime.http_server import DaemonHttp
from connector.runtime.metrics import Metrics
from tests.unit.service_process import http, http_json


class Gate:
    """An endpoint that answers once released: a request held in flight, without sleeping."""

    name = "gate"
    max_body_bytes = 16

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.seen: list[HttpRequest] = []

    def routes(self) -> Sequence[str]:
        return ("/gate", "/items/")

    def handle(self, request: HttpRequest) -> HttpReply:
        self.seen.append(request)
        if request.path == "/gate":
            self.entered.set()
            self.release.wait(timeout=30)
        if request.path == "/items/boom":
            raise RuntimeError("a plugin bug")
        return HttpReply(200, {"path": request.path, "query": request.query, "body": request.body.decode()})


@pytest.fixture
def server(tmp_path: Path) -> DaemonHttp:
    clock = FakeClock(datetime(2026, 12, 1, tzinfo=UTC))
    health = Health(clock)
    health.mark_started()
    health.sweep_done()
    return DaemonHttp(HttpSettings(port=0), health, Metrics(), str(tmp_path / "state.db"))


def test_routes_cap_and_errors(server: DaemonHttp, tmp_path: Path) -> None:
    (tmp_path / "state.db").touch()
    gate = Gate()
    server.mount(gate)
    with pytest.raises(ValueError, match="already served"):
        server.mount(gate)
    server.start()
    try:
        port = server.port
        assert http_json(port, "/items/a%20b?x=1", body=b"hello", headers={"X-Token": "t"}) == (
            200,
            {"path": "/items/a%20b", "query": "x=1", "body": "hello"},
        )
        assert gate.seen[-1].header("x-token") == "t" and gate.seen[-1].content_length == 5
        status, refused = http_json(port, "/items/x", body=b"x" * 17)
        assert status == 413 and "16" in refused["error"] and len(gate.seen) == 1  # not called
        assert http(port, "/items/boom")[0] == 500
        assert http(port, "/healthz")[0] == 200  # the server goes on
        assert http(port, "/metrics", body=b"x")[0] == 405
        assert http(port, "/elsewhere")[0] == 404
        assert http_json(port, "/readyz")[0] == 200
    finally:
        server.stop()


def test_stop_answers_the_request_in_flight_then_refuses(server: DaemonHttp) -> None:
    gate = Gate()
    server.mount(gate)
    server.start()
    port = server.port
    answers: list[tuple[int, bytes]] = []
    client = threading.Thread(target=lambda: answers.append(http(port, "/gate", body=b"in flight")))
    client.start()
    assert gate.entered.wait(timeout=30)
    stopper = threading.Thread(target=server.stop)
    stopper.start()
    gate.release.set()
    stopper.join(timeout=30)
    client.join(timeout=30)
    assert not stopper.is_alive() and answers and answers[0][0] == 200
    with pytest.raises(OSError):
        http(port, "/healthz")
