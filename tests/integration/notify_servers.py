"""Loopback servers for the notifier tests: an SMTP server (aiosmtpd) and an HTTP receiver
(stdlib ``http.server``), each in its own thread on a free 127.0.0.1 port, plus ports that
refuse connections or never answer."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


def free_port() -> int:
    """A port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def refusing_port() -> Iterator[int]:
    """A port that is bound but not listening: a connection to it is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


@contextmanager
def silent_port() -> Iterator[int]:
    """A port that accepts connections (the kernel's backlog) and never says a word."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield int(sock.getsockname()[1])


# --- SMTP ----------------------------------------------------------------------------------------


@dataclass
class Received:
    """One message the SMTP server accepted."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    login: bytes | None


@dataclass
class MailSink:
    """An SMTP server on loopback that keeps what it receives. Recipients whose local part is
    ``refuse5`` get 550, ``refuse4`` get 450; login is ``itsm`` / ``pw-secret``."""

    port: int
    messages: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        local = address.split("@", 1)[0]
        if local == "refuse5":
            return "550 5.1.1 no such user"
        if local == "refuse4":
            return "450 4.2.1 mailbox busy, try later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        login = session.auth_data.login if isinstance(session.auth_data, LoginPassword) else None
        data = envelope.original_content or b""
        with self.lock:
            self.messages.append(Received(str(envelope.mail_from), list(envelope.rcpt_tos), data, login))
        return "250 OK"

    def take(self) -> list[Received]:
        """What arrived since the last call."""
        with self.lock:
            out, self.messages[:] = list(self.messages), []
        return out


def _authenticate(server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"itsm", b"pw-secret")
    return AuthResult(success=ok, handled=False, auth_data=data if ok else None)


@contextmanager
def mail_sink() -> Iterator[MailSink]:
    """Start the SMTP server; stop it at the end. aiosmtpd's own INFO lines (each connection made
    and lost) are kept out of the test output: they are the test server's, not the connector's."""
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    sink = MailSink(port=free_port())
    controller = Controller(
        sink,
        hostname="127.0.0.1",
        port=sink.port,
        authenticator=_authenticate,
        auth_require_tls=False,  # loopback only; TLS is not what these tests are about
        auth_required=False,
    )
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()


# --- HTTP ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """One request the HTTP receiver got."""

    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


@dataclass(frozen=True)
class Answer:
    status: int = 200
    body: Any = field(default_factory=lambda: {"errcode": 0, "errmsg": "ok"})
    headers: dict[str, str] = field(default_factory=dict)


class Receiver:
    """An HTTP server on loopback that records requests and answers from a queue
    (default: 200 ``{"errcode": 0}``)."""

    def __init__(self, port: int = 0) -> None:
        self.requests: list[Request] = []
        self.answers: list[Answer] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                with receiver.lock:
                    receiver.requests.append(Request(parts.path, query, dict(self.headers.items()), body))
                    answer = receiver.answers.pop(0) if receiver.answers else Answer()
                raw = answer.body if isinstance(answer.body, bytes) else json.dumps(answer.body).encode()
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def answer(self, *answers: Answer) -> None:
        """Answer the next requests with these."""
        with self.lock:
            self.answers[:] = list(answers)

    def take(self) -> list[Request]:
        """The requests since the last call."""
        with self.lock:
            out, self.requests[:] = list(self.requests), []
        return out


@contextmanager
def receiver(port: int = 0) -> Iterator[Receiver]:
    """Start the HTTP receiver (on ``port``, default: any free one); stop it at the end."""
    server = Receiver(port)
    server.thread.start()
    try:
        yield server
    finally:
        server.server.shutdown()
        server.server.server_close()
        server.thread.join(timeout=5)
