"""The GLPI contract double (``tests/contract/glpi_fake.py``, built on ``responses``) served
over a real loopback socket, so the fault proxy can sit in front of it as it does in front of
the real Redmine.

A ``ThreadingHTTPServer`` takes each request and replays it with ``requests`` to the fake's
address, which ``responses`` answers; the answer's status, headers and body go back on the
socket. The test's ``RequestsMock`` must let loopback through (``add_passthru``) so the
connector's own calls reach the proxy. Only what the fake models is modelled: this is the
contract, not GLPI.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests

from tests.contract.glpi_fake import URL

__all__ = ["GlpiOverHttp"]

_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding"}


class _Bridge(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _relay(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP and k.lower() != "host"}
        path = self.path.removeprefix("/apirest.php")
        answer = requests.request(self.command, URL + path, data=body, headers=headers, timeout=10)
        data = answer.content
        self.send_response(answer.status_code)
        for name, value in answer.headers.items():
            if name.lower() not in _HOP:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)
        self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = _relay

    def log_message(self, format: str, *args: Any) -> None:
        pass


class GlpiOverHttp:
    """The fake on ``127.0.0.1:<port>``; ``close()`` stops it."""

    def __init__(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Bridge)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="glpi-over-http")
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
