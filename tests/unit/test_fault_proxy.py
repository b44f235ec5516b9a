"""The fault proxy of the fault tests (tests/faults/proxy.py) against a local HTTP server: a
fault that does not happen as planned would make every fault test prove nothing."""

from __future__ import annotations

import contextlib
import socket
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


def _read_all(sock: socket.socket, want: int) -> bytes:
    got = b""
    try:
        while len(got) < want and (chunk := sock.recv(65536)):
            got += chunk
    except ConnectionResetError:
        pass
    return got


def test_tcp_mode_pipes_and_cuts_the_next_connection_mid_stream() -> None:
    server = socket.create_server(("127.0.0.1", 0))

    def talk() -> None:
        for _ in range(2):
            conn, _ = server.accept()
            with conn, contextlib.suppress(OSError):  # the cut resets this side too
                conn.sendall(b"x" * 5000)
                conn.recv(1)

    threading.Thread(target=talk, daemon=True).start()
    proxy = FaultProxy(("127.0.0.1", server.getsockname()[1]), http=False)
    try:
        proxy.cut_next(1000)
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as cut:
            assert len(_read_all(cut, 5000)) == 1000
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as fine:
            assert _read_all(fine, 5000) == b"x" * 5000
        assert proxy.pending() == 0
    finally:
        proxy.close()
        server.close()
