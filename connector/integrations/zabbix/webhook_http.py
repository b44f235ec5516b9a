"""The HTTP side of the Zabbix webhook endpoint: the checks before a body is read, no meaning.

Two ways to be served. With an ``http:`` section the daemon's one server (waitress) mounts
``WebhookEndpoint`` (the ``connector.contracts.http`` contract). Without one — the deprecated
per-source ``listen``/``port`` — ``WebhookServer`` runs one thread per request, at most
``max_connections`` at once (the rest get 503 without being read); ``WebhookHandler`` does what
HTTP needs before a body may be read — the path, the secret, ``Content-Length`` present and within ``max_body_bytes``, a
per-request socket timeout — then hands the body to the endpoint (``Endpoint.accept``,
``connector.integrations.zabbix.push``) and writes its ``Reply``. A refused body is drained a
little (bounded in bytes and time) so the client reads the answer instead of a reset.

Both ask the same small functions: ``authenticate`` (who may post: the bearer secret today;
issue 17's HMAC and replay window extend it there) and ``precheck`` (path, authentication,
``Content-Length``), so the two servers refuse exactly the same requests.
"""

from __future__ import annotations

__all__ = [
    "TICKET_PATH",
    "WEBHOOK_PATH",
    "Endpoint",
    "Reply",
    "WebhookEndpoint",
    "WebhookHandler",
    "WebhookServer",
    "authenticate",
    "page",
    "precheck",
]

import contextlib
import html
import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from connector.contracts.http import HttpReply, HttpRequest
from connector.integrations.zabbix.webhook_settings import ZabbixWebhookSettings
from connector.util.unicode_text import ascii_digits
from connector.util.webhook_auth import HeaderView, Refusal, WebhookGate

log = logging.getLogger("connector.integrations.zabbix.push")  # the endpoint's one logger, as before the split

WEBHOOK_PATH = "/zabbix"
TICKET_PATH = "/ticket/"
#: most of a refused body read and thrown away (bytes, seconds), so the client reads our answer
DRAIN_MAX = 32 * 1024 * 1024
DRAIN_SECONDS = 2.0


class Endpoint(Protocol):
    """What the handler asks of the webhook source (``ZabbixWebhookSource``)."""

    settings: ZabbixWebhookSettings

    gate: WebhookGate

    def authorized(self, header: str | None) -> bool: ...

    def accept(self, body: bytes) -> Reply: ...

    def ticket_page(self, key: str, sig: str) -> Reply: ...


#: what to answer (the shared server's contract type, under the name this module always used)
Reply = HttpReply


def refusal_reply(refusal: Refusal, remote: str) -> Reply:
    """The answer to a refused request, logged once (never the secret or what it was compared with)."""
    log.warning("webhook: refused a request from %s: %s (%d)", remote, refusal.error, refusal.status)
    return Reply(refusal.status, {"status": "error", "error": refusal.error}, refusal.headers)


def authenticate(source: Endpoint, header: Callable[[str], str | None], remote: str) -> Reply | None:
    """Whether the caller may post: ``None`` if so, else the refusal. Every credential check of
    the endpoint before the body is read belongs here (one place for both servers): the bearer
    secret or a signed request's timestamp, then the rate limit (``util.webhook_auth``)."""
    refused = source.gate.screen(HeaderView(header))
    return refusal_reply(refused, remote) if refused is not None else None


def verify_body(source: Endpoint, header: Callable[[str], str | None], body: bytes, remote: str) -> Reply | None:
    """The check once the body is read: a signed body's HMAC (``None`` when it holds, or when the
    request is not signed and the settings allow that)."""
    refused = source.gate.verify(HeaderView(header), body)
    return refusal_reply(refused, remote) if refused is not None else None


def content_length(text: str | None) -> int | None:
    """A ``Content-Length`` value as a number, ``None`` when absent or not plain ASCII digits."""
    text = (text or "").strip()
    return int(text) if ascii_digits(text) else None


def precheck(source: Endpoint, path: str, header: Callable[[str], str | None], remote: str) -> Reply | None:
    """The checks before a ``POST`` body is read: the path, the caller, a ``Content-Length``
    within ``max_body_bytes``. ``None`` when the body may be read."""
    if path != WEBHOOK_PATH:
        return Reply(404, {"status": "error", "error": "not found"})
    refused = authenticate(source, header, remote)
    if refused is not None:
        return refused
    if "chunked" in (header("Transfer-Encoding") or "").lower():
        return Reply(411, {"status": "error", "error": "send a Content-Length"})
    length = content_length(header("Content-Length"))
    if length is None:
        return Reply(411, {"status": "error", "error": "a valid Content-Length is required"})
    if length > source.settings.max_body_bytes:
        log.warning("webhook: refused a %d-byte request from %s (413)", length, remote)
        return Reply(413, {"status": "error", "error": f"body larger than {source.settings.max_body_bytes}"})
    return None


class WebhookEndpoint:
    """The webhook as an ``HttpEndpoint`` of the daemon's shared server (``http:`` section).

    The shared server has read the body already (within ``max_body_bytes``); what is refused
    and how is the same as on the per-source ``WebhookServer``.
    """

    def __init__(self, source: Endpoint, name: str) -> None:
        self.source = source
        self.name = name
        self.max_body_bytes = source.settings.max_body_bytes

    def routes(self) -> Sequence[str]:
        """``POST /zabbix`` and the ticket links ``GET /ticket/<key>``."""
        return (WEBHOOK_PATH, TICKET_PATH)

    def handle(self, request: HttpRequest) -> Reply:
        """Answer one request, as ``WebhookHandler`` would."""
        if request.method == "POST":
            refused = precheck(self.source, request.path, request.header, request.remote)
            if refused is not None:
                return refused
            if len(request.body) < (request.content_length or 0):
                return Reply(400, {"status": "error", "error": "body shorter than Content-Length"})
            bad = verify_body(self.source, request.header, request.body, request.remote)
            return bad if bad is not None else self.source.accept(request.body)
        if request.method in ("GET", "HEAD") and request.path.startswith(TICKET_PATH):
            key = unquote(request.path[len(TICKET_PATH) :])
            sig = (parse_qs(request.query).get("sig") or [""])[0]
            return self.source.ticket_page(key, sig)
        if request.method in ("GET", "HEAD"):
            return Reply(404, {"status": "error", "error": "not found"})
        return Reply(405, {"status": "error", "error": "method not allowed"}, {"Allow": "GET, POST"})


def page(title: str, text: str) -> str:
    """A minimal HTML page; everything in it is escaped (keys and URLs are data)."""
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
        f"<body><h1>{html.escape(title)}</h1><p>{html.escape(text)}</p></body></html>"
    )


class WebhookServer(ThreadingHTTPServer):
    """One thread per request, at most ``max_connections`` at once (the rest get 503)."""

    daemon_threads = True
    block_on_close = True  # server_close() waits for the requests in flight

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], source: Endpoint):
        self.source = source
        self._slots = threading.BoundedSemaphore(source.settings.max_connections)
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            with contextlib.suppress(OSError):
                request.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.warning("webhook: request from %s failed", client_address[0] if client_address else "?", exc_info=True)


class WebhookHandler(BaseHTTPRequestHandler):
    """HTTP plumbing only; what a body means is the endpoint's ``accept``."""

    server: WebhookServer
    protocol_version = "HTTP/1.1"  # so curl's "Expect: 100-continue" is answered at once
    server_version = "itsm-connector"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        # a per-request socket timeout: a client that stalls cannot hold a slot for long
        self.connection.settimeout(self.server.source.settings.request_timeout_seconds)

    @property
    def source(self) -> Endpoint:
        return self.server.source

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("webhook %s: " + format, self.address_string(), *args)

    # --- checks before the body is read --------------------------------------------------------

    def _precheck(self) -> Reply | None:
        return precheck(self.source, urlsplit(self.path).path, self.headers.get, self.address_string())

    def _length(self) -> int | None:
        return content_length(self.headers.get("Content-Length"))

    def handle_expect_100(self) -> bool:
        refused = self._precheck()
        if refused is not None:
            self._send(refused)
            return False
        return super().handle_expect_100()

    # --- methods -------------------------------------------------------------------------------

    def do_POST(self) -> None:
        refused = self._precheck()
        if refused is not None:
            self._send(refused)
            self._drain()
            return
        length = self._length() or 0
        try:
            body = self.rfile.read(length)
        except (TimeoutError, OSError):
            self._send(Reply(408, {"status": "error", "error": "body not received in time"}))
            return
        if len(body) < length:
            self._send(Reply(400, {"status": "error", "error": "body shorter than Content-Length"}))
            return
        if (bad := verify_body(self.source, self.headers.get, body, self.address_string())) is not None:
            self._send(bad)
            return
        self._send(self.source.accept(body))

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path in ("/healthz", "/health"):
            self._send(Reply(200, {"status": "ok"}))
        elif parts.path.startswith(TICKET_PATH):
            key = unquote(parts.path[len(TICKET_PATH) :])
            sig = (parse_qs(parts.query).get("sig") or [""])[0]
            self._send(self.source.ticket_page(key, sig))
        else:
            self._send(Reply(404, {"status": "error", "error": "not found"}))

    def _refuse_method(self) -> None:
        self._send(Reply(405, {"status": "error", "error": "method not allowed"}, {"Allow": "GET, POST"}))

    do_PUT = do_DELETE = do_PATCH = _refuse_method

    # --- writing -------------------------------------------------------------------------------

    def _send(self, reply: Reply) -> None:
        if isinstance(reply.body, str):
            data, ctype = reply.body.encode("utf-8"), "text/html; charset=utf-8"
        else:
            data, ctype = json.dumps(reply.body, ensure_ascii=False).encode("utf-8"), "application/json"
        self.close_connection = True
        try:
            self.send_response(reply.status, HTTPStatus(reply.status).phrase)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("Connection", "close")
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
        except OSError as exc:  # the client went away; nothing was left half-stored
            log.debug("webhook: could not answer %s: %s", self.address_string(), exc)

    def _drain(self) -> None:
        """Read (a bounded amount of) a refused body, so closing does not reset the connection
        before the client has read our answer."""
        left = min(self._length() or 0, DRAIN_MAX)
        deadline = time.monotonic() + DRAIN_SECONDS  # a monotonic deadline, not the wall clock
        try:
            while left > 0 and time.monotonic() < deadline:
                chunk = self.rfile.read(min(left, 65536))
                if not chunk:
                    break
                left -= len(chunk)
        except OSError:
            pass
