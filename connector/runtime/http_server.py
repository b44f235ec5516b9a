"""The daemon's one HTTP server (the ``http:`` section): health, readiness, metrics, endpoints.

A real WSGI server — waitress: pure Python, no compiler, a bounded pool of worker threads, a
connection limit and timeouts of its own — runs on one background thread. The WSGI app is
small and routes by path:

- ``GET /healthz``: ``200 {"status": "ok"}`` while the process answers (liveness);
- ``GET /readyz``: ``200`` when every check of ``connector.runtime.health`` passes, else
  ``503`` with ``failing`` naming each failed check (``state``, ``backend:<name>``,
  ``source:<name>``, ``sweep``) and ``checks`` saying why;
- ``GET /metrics``: the Prometheus text format of the engine's ``Metrics``;
- anything else: the mounted ``HttpEndpoint`` whose route matches (``connector.contracts.http``),
  or ``404``. A ``Content-Length`` above the endpoint's ``max_body_bytes`` is ``413`` before
  the endpoint is called; an exception in an endpoint is logged and answered ``500``.

``stop`` is graceful: it stops accepting, lets the requests in flight finish (their answers
written), then closes every connection.
"""

from __future__ import annotations

__all__ = ["DaemonHttp"]

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

from prometheus_client import CONTENT_TYPE_LATEST
from waitress.server import create_server

from connector.contracts.http import HttpEndpoint, HttpReply, HttpRequest
from connector.runtime.config import HttpSettings
from connector.runtime.health import Health
from connector.runtime.metrics import Metrics
from connector.state.target import StateTarget
from connector.util.unicode_text import ascii_digits

log = logging.getLogger("connector.runtime.http")

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
#: the largest body the server reads at all; each endpoint has its own, smaller, limit
MAX_REQUEST_BODY = 64 * 1024 * 1024
#: how long a stop waits for the answers of the requests it let finish to be written (seconds)
DRAIN_SECONDS = 2.0


def _status_line(status: int) -> str:
    line = _STATUS_LINES.get(status)
    if line is None:
        try:
            line = f"{status} {HTTPStatus(status).phrase}"
        except ValueError:
            line = f"{status} Unknown"
    return line


#: every status line there is, made once instead of per answer
_STATUS_LINES = {int(status): f"{int(status)} {status.phrase}" for status in HTTPStatus}


class DaemonHttp:
    """The WSGI app and the waitress server that runs it.

    :param settings: the ``http:`` section.
    :param health: the readiness checks' memory.
    :param metrics: what ``/metrics`` exposes.
    :param state_path: the state store ``/readyz`` checks for writes (a file, or a ``StateTarget``).
    """

    def __init__(
        self, settings: HttpSettings, health: Health, metrics: Metrics, state_path: str | StateTarget
    ) -> None:
        self.settings = settings
        self.health = health
        self.metrics = metrics
        self.state_path = state_path
        self._endpoints: list[HttpEndpoint] = []
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._draining = threading.Event()

    # --- mounting ----------------------------------------------------------------------------

    def mount(self, endpoint: HttpEndpoint) -> None:
        """Serve ``endpoint``'s routes; a route another endpoint (or the server) has is refused."""
        taken = {"/healthz", "/health", "/readyz", "/metrics"}
        for other in self._endpoints:
            taken.update(other.routes())
        clash = [r for r in endpoint.routes() if r in taken]
        if clash:
            raise ValueError(f"endpoint {endpoint.name}: route {clash[0]} is already served")
        self._endpoints.append(endpoint)

    def unmount_all(self) -> None:
        """Stop routing to every endpoint (after ``stop``)."""
        self._endpoints.clear()

    def _endpoint_for(self, path: str) -> HttpEndpoint | None:
        for endpoint in self._endpoints:
            for route in endpoint.routes():
                if path == route or (route.endswith("/") and path.startswith(route)):
                    return endpoint
        return None

    # --- the server --------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port bound (differs from the setting when that is 0)."""
        if self._server is None:
            raise RuntimeError("the HTTP server is not running")
        return int(self._server.effective_port)

    @property
    def base_url(self) -> str:
        """Where people and senders reach the server: ``public_url`` or http://listen:port."""
        if self.settings.public_url:
            return self.settings.public_url.rstrip("/")
        host = self.settings.listen
        if host in ("0.0.0.0", "::", ""):
            import socket

            host = socket.getfqdn()
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    def start(self) -> None:
        """Bind and serve on a background thread; raises ``OSError`` when it cannot bind."""
        s = self.settings
        self._server = create_server(
            self,
            host=s.listen,
            port=s.port,
            threads=s.threads,
            connection_limit=s.connection_limit,
            channel_timeout=int(max(1, s.request_timeout_seconds)),
            max_request_body_size=MAX_REQUEST_BODY,
            ident="itsm-connector",
            clear_untrusted_proxy_headers=True,
        )
        self._draining = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(self._server,), name="http", daemon=True)
        self._thread.start()
        log.info("HTTP server on %s:%d (/healthz, /readyz, /metrics)", s.listen, self.port)

    def _serve(self, server: Any) -> None:
        """The loop thread: serve until a stop has drained the answers, then close every socket
        here — closing them from another thread while this one polls them would race."""
        deadline: float | None = None
        try:
            while True:
                if self._draining.is_set():
                    deadline = deadline or time.monotonic() + DRAIN_SECONDS
                    pending = any(getattr(ch, "total_outbufs_len", 0) for ch in list(server._map.values()))
                    if not pending or time.monotonic() > deadline:
                        break
                server.asyncore.loop(timeout=0.1, map=server._map, use_poll=server.adj.asyncore_use_poll, count=1)
        except Exception:
            log.exception("HTTP server loop failed")
        finally:
            for channel in list(server._map.values()):
                with contextlib.suppress(Exception):
                    channel.close()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop accepting, let the requests in flight finish and be written, then close."""
        server, self._server = self._server, None
        if server is None:
            return
        server.accepting = False  # waitress stops reading the listening socket
        server.task_dispatcher.shutdown(cancel_pending=True, timeout=timeout)  # running tasks finish
        self._draining.set()  # the loop writes their answers, then closes everything
        if self._thread is not None:
            self._thread.join(timeout=timeout)
        log.info("HTTP server stopped")

    # --- WSGI --------------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        raw = str(environ.get("REQUEST_URI") or environ.get("PATH_INFO") or "/")
        parts = urlsplit(raw)
        path = parts.path or "/"
        try:
            reply, body_bytes, ctype = self._route(method, path, parts.query, environ)
        except Exception:
            log.exception("HTTP %s %s failed", method, path)
            reply, body_bytes, ctype = _encode(HttpReply(500, {"status": "error", "error": "internal error"}))
        headers = [("Content-Type", ctype), ("Content-Length", str(len(body_bytes))), ("Cache-Control", "no-store")]
        headers.extend(reply.headers.items())
        start_response(_status_line(reply.status), headers)
        return [b"" if method == "HEAD" else body_bytes]

    def _route(self, method: str, path: str, query: str, environ: dict[str, Any]) -> tuple[HttpReply, bytes, str]:
        if path in ("/healthz", "/health", "/readyz", "/metrics"):
            if method not in ("GET", "HEAD"):
                return _encode(HttpReply(405, {"status": "error", "error": "method not allowed"}, {"Allow": "GET"}))
            if path == "/metrics":
                return HttpReply(200, ""), self.metrics.exposition(), CONTENT_TYPE_LATEST
            if path == "/readyz":
                return _encode(self.readiness())
            return _encode(HttpReply(200, {"status": "ok"}))
        endpoint = self._endpoint_for(path)
        if endpoint is None:
            return _encode(HttpReply(404, {"status": "error", "error": "not found"}))
        length_text = str(environ.get("CONTENT_LENGTH") or "").strip()
        length = int(length_text) if ascii_digits(length_text) else None
        if length is not None and length > endpoint.max_body_bytes:
            log.warning("%s: refused a %d-byte request (413)", endpoint.name, length)
            return _encode(HttpReply(413, {"status": "error", "error": f"body larger than {endpoint.max_body_bytes}"}))
        body = environ["wsgi.input"].read(length) if length else b""
        headers = {
            key[5:].replace("_", "-").lower(): str(value) for key, value in environ.items() if key.startswith("HTTP_")
        }
        for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            if environ.get(key):
                headers[key.replace("_", "-").lower()] = str(environ[key])
        request = HttpRequest(
            method=method,
            path=path,
            query=query,
            headers=headers,
            content_length=length,
            body=body,
            remote=str(environ.get("REMOTE_ADDR", "")),
        )
        return _encode(endpoint.handle(request))

    def readiness(self) -> HttpReply:
        """``/readyz``: 200 when every check passes, else 503 naming the failing ones."""
        checks = self.health.checks(self.state_path)
        failing = [c.name for c in checks if not c.ok]
        body: dict[str, Any] = {
            "status": "ready" if not failing else "not ready",
            "failing": failing,
            "checks": {c.name: c.as_dict() for c in checks},
        }
        return HttpReply(200 if not failing else 503, body)


def _encode(reply: HttpReply) -> tuple[HttpReply, bytes, str]:
    if isinstance(reply.body, str):
        return reply, reply.body.encode("utf-8"), "text/html; charset=utf-8"
    return reply, json.dumps(reply.body, ensure_ascii=False).encode("utf-8"), "application/json"
