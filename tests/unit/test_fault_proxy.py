"""The fault proxy of the fault tests (tests/faults/proxy.py) against a local HTTP server: a
fault that does not happen as planned would make every fault test prove nothing."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
import requests

from tests.faults.proxy import Fault, FaultProxy


class _Counter(BaseHTTPRequestHandler):
    hits: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).hits.append(body.decode())
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def proxy() -> Iterator[FaultProxy]:
    _Counter.hits = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Counter)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    proxy = FaultProxy(("127.0.0.1", server.server_address[1]), hold_seconds=2.0)
    yield proxy
    proxy.close()
    server.shutdown()
    server.server_close()


def post(proxy: FaultProxy, text: str, timeout: float = 1.0) -> requests.Response:
    return requests.post(proxy.url + "/x", data=text.encode(), timeout=timeout)


def test_passes_through_and_records(proxy: FaultProxy) -> None:
    assert post(proxy, "a").status_code == 201
    assert _Counter.hits == ["a"]
    assert [(s.line, s.forwarded) for s in proxy.seen()] == [("POST /x HTTP/1.1", True)]


@pytest.mark.parametrize(("fault", "status"), [(Fault.STATUS_503, 503), (Fault.STATUS_429, 429)])
def test_answers_without_forwarding(proxy: FaultProxy, fault: Fault, status: int) -> None:
    proxy.inject(fault, retry_after=7)
    answer = post(proxy, "a")
    assert answer.status_code == status
    assert _Counter.hits == []
    if fault is Fault.STATUS_429:
        assert answer.headers["Retry-After"] == "7"
    assert post(proxy, "b").status_code == 201  # one request only


@pytest.mark.parametrize(
    ("fault", "committed", "error"),
    [
        (Fault.RESET, False, requests.ConnectionError),
        (Fault.HANG, False, requests.Timeout),
        (Fault.FORWARD_RESET, True, requests.ConnectionError),
        (Fault.FORWARD_HANG, True, requests.Timeout),
    ],
)
def test_fails_the_answer_after_forwarding_or_not(
    proxy: FaultProxy, fault: Fault, committed: bool, error: type[Exception]
) -> None:
    proxy.inject(fault)
    with pytest.raises(error):
        post(proxy, "a", timeout=0.3)
    assert _Counter.hits == (["a"] if committed else [])


def test_forward_500_commits_and_answers_500(proxy: FaultProxy) -> None:
    proxy.inject(Fault.FORWARD_500, match="POST /x")
    assert post(proxy, "a").status_code == 500
    assert _Counter.hits == ["a"]


def test_down_refuses_and_up_listens_on_the_same_port(proxy: FaultProxy) -> None:
    url = proxy.url
    proxy.down()
    with pytest.raises(requests.ConnectionError):
        post(proxy, "a")
    proxy.up()
    assert proxy.url == url
    assert post(proxy, "b").status_code == 201
    assert _Counter.hits == ["b"]
