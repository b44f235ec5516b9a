"""The IMAP client's TLS over a real socket: an untrusted certificate is refused by default,
``ca_file`` makes a private CA trusted, and STARTTLS upgrades before the password is sent."""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connector.domain.errors import SourceError
from connector.integrations.mail.imap import ImapClient
from connector.integrations.mail.settings import ImapSettings
from connector.util.secrets import SecretSource


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for localhost (cert, key)."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


class FakeImapServer:
    """Just enough IMAP for a handshake and a login: greeting, CAPABILITY, STARTTLS, LOGIN, LOGOUT."""

    def __init__(self, certificate: tuple[Path, Path], *, implicit_tls: bool) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(*certificate)
        self.implicit_tls = implicit_tls
        self.logins: list[tuple[str, bool]] = []  # (the command's first word, over TLS?)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                raw, _ = self.listener.accept()
            except OSError:
                return
            self.conns = [raw]
            try:
                self._session(raw)
            except (OSError, ssl.SSLError):
                pass
            finally:
                for conn in self.conns:
                    conn.close()

    def _session(self, raw: socket.socket) -> None:
        conn: Any = raw
        if self.implicit_tls:
            conn = self.context.wrap_socket(raw, server_side=True)
            self.conns.append(conn)
        tls = self.implicit_tls
        conn.sendall(b"* OK [CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN] fake ready\r\n")
        buffer = b""
        while True:
            chunk = conn.recv(4096)
            if not chunk:
                return
            buffer += chunk
            while b"\r\n" in buffer:
                line, buffer = buffer.split(b"\r\n", 1)
                tag, _, rest = line.decode().partition(" ")
                command = rest.split(" ", 1)[0].upper()
                if command == "STARTTLS":
                    conn.sendall(f"{tag} OK begin TLS\r\n".encode())
                    conn = self.context.wrap_socket(conn, server_side=True)
                    self.conns.append(conn)
                    tls = True
                elif command == "CAPABILITY":
                    conn.sendall(f"* CAPABILITY IMAP4rev1 STARTTLS\r\n{tag} OK done\r\n".encode())
                elif command == "LOGIN":
                    self.logins.append((command, tls))
                    conn.sendall(f"{tag} OK logged in\r\n".encode())
                elif command == "LOGOUT":
                    conn.sendall(f"* BYE\r\n{tag} OK bye\r\n".encode())
                    return
                else:
                    conn.sendall(f"{tag} BAD unknown\r\n".encode())

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def imaps(certificate: tuple[Path, Path]) -> Iterator[FakeImapServer]:
    server = FakeImapServer(certificate, implicit_tls=True)
    yield server
    server.close()


@pytest.fixture
def plain(certificate: tuple[Path, Path]) -> Iterator[FakeImapServer]:
    server = FakeImapServer(certificate, implicit_tls=False)
    yield server
    server.close()


def settings(port: int, **overrides: Any) -> ImapSettings:
    return ImapSettings.model_validate(
        {
            "host": "localhost",
            "port": port,
            "user": "desk",
            "password": SecretSource("pw-0123"),
            "allowed_senders": ["*"],
            "timeout_seconds": 10,
            **overrides,
        }
    )


def test_imaps_with_an_untrusted_certificate_is_refused_by_default(imaps: FakeImapServer) -> None:
    client = ImapClient(settings(imaps.port), source="email")
    with pytest.raises(SourceError, match="is not trusted") as caught:
        client.open()
    assert "pw-0123" not in str(caught.value)
    assert imaps.logins == []  # the password never left


def test_imaps_trusts_the_ca_file(imaps: FakeImapServer, certificate: tuple[Path, Path]) -> None:
    client = ImapClient(settings(imaps.port, ca_file=str(certificate[0])), source="email")
    client.open()
    client.close()
    assert imaps.logins == [("LOGIN", True)]


def test_starttls_upgrades_before_the_login(plain: FakeImapServer, certificate: tuple[Path, Path]) -> None:
    client = ImapClient(settings(plain.port, security="starttls", ca_file=str(certificate[0])), source="email")
    client.open()
    client.close()
    assert plain.logins == [("LOGIN", True)]


def test_starttls_with_an_untrusted_certificate_never_sends_the_password(plain: FakeImapServer) -> None:
    client = ImapClient(settings(plain.port, security="starttls"), source="email")
    with pytest.raises(SourceError, match="not trusted"):
        client.open()
    assert plain.logins == []
